"""Time-driven transitions. Each one re-checks its condition on fresh data, so running them
twice, late, or after downtime applies each exactly once (and dates it at its due time).

Several schedulers may run at once (`make run-cluster` runs two, one per node). Each item is
taken with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL: an item another scheduler is
applying is skipped, not waited for (the version it then finds tells it the item moved on),
so the schedulers share the work instead of queueing on the same rows. SQLite has no row
locks (SQLAlchemy emits none there): its writers queue on the database's one write lock."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import rules
from ..enums import DisputeReason, DisputeState, PaymentStatus
from ..models import Dispute, Order, public_dispute_id
from . import disputes, events, orders

log = logging.getLogger(__name__)


class Kind(StrEnum):
    mediation = "mediation"  # R3: negotiation over
    not_received_refund = "not_received_refund"  # R8: the carrier never answered
    release = "release"  # R6: protection period over, payment to the seller


@dataclass(frozen=True)
class Due:
    """One transition to try: a dispute's primary key and the version it was found due at, or
    an order's id for a release."""

    kind: Kind
    key: int | str
    version: int | None = None

    @property
    def label(self) -> str:
        """The item's public id, fit for a log line (no personal data)."""
        if self.kind is Kind.release:
            return f"order {self.key}"
        return f"dispute {public_dispute_id(int(self.key))}"


@dataclass
class Applied:
    mediations: int = 0
    not_received_refunds: int = 0
    releases: int = 0

    @property
    def total(self) -> int:
        return self.mediations + self.not_received_refunds + self.releases

    def count(self, kind: Kind) -> None:
        if kind is Kind.mediation:
            self.mediations += 1
        elif kind is Kind.not_received_refund:
            self.not_received_refunds += 1
        else:
            self.releases += 1


def due(session: Session, kind: Kind, *, now: datetime, rs: rules.RuleSettings) -> list[Due]:
    """The candidates of one kind, oldest id first; `apply` re-checks each on fresh data."""
    if kind is Kind.release:
        anchor = func.coalesce(Order.receipt_confirmed_at, Order.shipping_deadline)
        orders_due = select(Order.id).where(
            Order.payment_status == PaymentStatus.held,
            Order.tracking_added_at.is_not(None),
            anchor < now - timedelta(days=rs.protection_days),
        )
        return [Due(kind, key) for key in session.scalars(orders_due.order_by(Order.id))]
    stmt = select(Dispute.id, Dispute.version).order_by(Dispute.id)
    if kind is Kind.mediation:
        stmt = stmt.where(
            Dispute.state == DisputeState.negotiation, Dispute.negotiation_ends_at <= now
        )
    else:
        stmt = stmt.where(
            Dispute.state == DisputeState.mediation,
            Dispute.reason == DisputeReason.not_received,
            Dispute.mediation_started_at <= now - timedelta(days=rs.carrier_response_days),
        )
    return [Due(kind, pk, version) for pk, version in session.execute(stmt)]


def apply(session: Session, item: Due, *, now: datetime, rs: rules.RuleSettings) -> bool:
    """Apply one transition if it is still due; True if it was. Flushes, never commits."""
    if item.kind is Kind.release:
        return _release(session, str(item.key), now, rs)
    dispute = session.get(
        Dispute,
        item.key,
        populate_existing=True,
        with_for_update={"of": Dispute, "skip_locked": True},
    )
    if dispute is None:  # gone, or being applied by another scheduler right now
        return False
    if dispute.version != item.version:
        # Changed since it was found due (a buyer's write won the race): the next run looks
        # again, as the loser of a race on a version always does.
        log.info("%s changed meanwhile; next run will see it", item.label)
        return False
    if item.kind is Kind.mediation:
        done = _mediate(session, dispute, now)
    else:
        done = _refund(session, dispute, now, rs)
    session.flush()
    return done


def apply_due(session: Session, *, now: datetime, rs: rules.RuleSettings) -> Applied:
    """Everything due, in one session (the seed's and the tests' way), each item in a
    savepoint: one that fails is logged and skipped, and the others still apply. The kinds
    run in order, each on what the one before left (a dispute just escalated to mediation
    after a long downtime may be due for its refund too)."""
    applied = Applied()
    for kind in Kind:
        for item in due(session, kind, now=now, rs=rs):
            try:
                with session.begin_nested():
                    done = apply(session, item, now=now, rs=rs)
            except StaleDataError:
                log.info("%s changed meanwhile; next run will see it", item.label)
                continue
            except Exception as exc:
                log.warning("%s skipped: %s", item.label, failure(exc))
                continue
            if done:
                applied.count(kind)
    return applied


def failure(exc: BaseException) -> str:
    """The exception's type and where it was raised, never its message: that may quote a
    buyer's data, as a database error quotes the statement's parameters."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


def _mediate(session: Session, dispute: Dispute, now: datetime) -> bool:
    if not rules.due_for_mediation(dispute.state, dispute.negotiation_ends_at, now):
        return False
    disputes.escalate_to_mediation(session, dispute=dispute, now=now)
    return True


def _refund(session: Session, dispute: Dispute, now: datetime, rs: rules.RuleSettings) -> bool:
    if not rules.due_for_not_received_refund(
        reason=dispute.reason,
        state=dispute.state,
        mediation_started_at=dispute.mediation_started_at,
        shipping_status=dispute.order.shipping_status,
        now=now,
        rules=rs,
    ):
        return False
    disputes.refund_not_received(session, dispute=dispute, now=now)
    return True


def _release(session: Session, order_id: str, now: datetime, rs: rules.RuleSettings) -> bool:
    # Lock the order, then look: a dispute opened meanwhile is seen, never overtaken. A row
    # locked by someone else (another scheduler, a buyer opening a dispute) is left to them.
    order = session.get(
        Order, order_id, populate_existing=True, with_for_update={"of": Order, "skip_locked": True}
    )
    if order is None:
        return False
    window = orders.window_for(order, rs)
    active = orders.active_disputes_by_order(session, order_ids=[order.id])
    if not rules.due_for_release(
        payment_status=order.payment_status,
        window=window,
        has_active_dispute=bool(active),
        now=now,
    ):
        return False
    assert window is not None
    order.payment_status = PaymentStatus.released
    order.payment_settled_at = now
    events.on_order(
        session,
        order,
        "payment.released",
        actor=events.SCHEDULER,
        now=now,
        data={"due_at": window.ends_at.isoformat(), "reason": "protection period ended"},
    )
    session.flush()
    return True
