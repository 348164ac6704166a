"""R9: many disputes on few purchases opens a review for an operator; never a closure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import errors, rules
from ..enums import AccountStatus, ReviewStatus
from ..models import AbuseReview, Buyer, Dispute, Order
from . import events

# After a review was cleared, a new one opens only after this many more disputes.
REOPEN_AFTER_DISPUTES = 5


# COUNT(*), not COUNT(id): the buyer_id index alone answers it, without reading each row
# (SQLite's orders have a text primary key, so COUNT(orders.id) visited every order).
_DISPUTES = select(func.count()).select_from(Dispute).where(Dispute.buyer_id == bindparam("b"))
_PURCHASES = select(func.count()).select_from(Order).where(Order.buyer_id == bindparam("b"))


def counts(session: Session, *, buyer_id: str) -> tuple[int, int]:
    disputes = session.scalar(_DISPUTES, {"b": buyer_id})
    purchases = session.scalar(_PURCHASES, {"b": buyer_id})
    return int(disputes or 0), int(purchases or 0)


def open_review(session: Session, *, buyer_id: str) -> AbuseReview | None:
    stmt = select(AbuseReview).where(
        AbuseReview.buyer_id == buyer_id, AbuseReview.status == ReviewStatus.open
    )
    return session.scalars(stmt).first()


def check_after_dispute(
    session: Session, *, buyer_id: str, now: datetime, rs: rules.RuleSettings
) -> AbuseReview | None:
    disputes, purchases = counts(session, buyer_id=buyer_id)
    if not rules.needs_abuse_review(disputes=disputes, purchases=purchases, rules=rs):
        return None
    if open_review(session, buyer_id=buyer_id) is not None:
        return None
    last = session.scalars(
        select(AbuseReview)
        .where(AbuseReview.buyer_id == buyer_id)
        .order_by(AbuseReview.id.desc())
        .limit(1)
    ).first()
    if last is not None and disputes < last.disputes_count + REOPEN_AFTER_DISPUTES:
        return None
    review = AbuseReview(
        buyer_id=buyer_id,
        status=ReviewStatus.open,
        disputes_count=disputes,
        orders_count=purchases,
        opened_at=now,
        note="",
    )
    try:
        with session.begin_nested():
            session.add(review)
            session.flush()
    except IntegrityError:  # another request opened it at the same moment
        return None
    events.on_buyer(
        session,
        buyer_id,
        "abuse_review.opened",
        actor=events.ABUSE_CHECK,
        now=now,
        data={"disputes": disputes, "purchases": purchases},
    )
    return review


def list_reviews(session: Session, *, status: ReviewStatus | None) -> Sequence[AbuseReview]:
    stmt = select(AbuseReview).order_by(AbuseReview.opened_at.desc(), AbuseReview.id.desc())
    if status is not None:
        stmt = stmt.where(AbuseReview.status == status)
    return session.scalars(stmt).all()


def decide(
    session: Session,
    *,
    review_id: int,
    operator_id: str,
    close_account: bool,
    note: str,
    now: datetime,
) -> AbuseReview:
    review = session.get(AbuseReview, review_id)
    if review is None:
        raise errors.ReviewNotFound(f"No abuse review {review_id}.")
    if review.status is not ReviewStatus.open:
        raise errors.TransitionNotAllowed("This review was already decided.")
    review.status = ReviewStatus.account_closed if close_account else ReviewStatus.cleared
    review.decided_at = now
    review.operator_id = operator_id
    review.note = note
    if close_account:
        buyer = session.get(Buyer, review.buyer_id)
        if buyer is not None:
            buyer.account_status = AccountStatus.closed
    events.on_buyer(
        session,
        review.buyer_id,
        "abuse_review." + review.status.value,
        actor=events.Actor.operator(operator_id),
        now=now,
        data={"review_id": review.id, "note": note},
    )
    session.flush()
    return review
