from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.orm import Session

from .. import rules
from ..enums import AccountStatus, DisputeState, PaymentStatus, Resolution
from ..errors import BuyerTokenInvalid, OrderNotFound
from ..models import Buyer, Dispute, Order, is_order_id


def window_for(order: Order, rs: rules.RuleSettings) -> rules.Window | None:
    return rules.protection_window(
        tracking_added_at=order.tracking_added_at,
        receipt_confirmed_at=order.receipt_confirmed_at,
        shipping_deadline=order.shipping_deadline,
        rules=rs,
    )


def list_orders(session: Session, *, buyer_id: str) -> Sequence[Order]:
    stmt = (
        select(Order)
        .where(Order.buyer_id == buyer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
    )
    return session.scalars(stmt).all()


def get_order(session: Session, *, buyer_id: str, order_id: str, for_update: bool = False) -> Order:
    """for_update locks the row (PostgreSQL) so opening a dispute and releasing the payment
    of the same order cannot interleave; SQLite already runs one writer at a time."""
    if not is_order_id(order_id):
        raise OrderNotFound("No such order in your account.")
    lock = {"of": Order} if for_update else None  # not the joined seller row
    order = session.get(Order, order_id, with_for_update=lock)
    if order is None or order.buyer_id != buyer_id:
        raise OrderNotFound(f"No order {order_id} in your account.")
    return order


def active_disputes_by_order(session: Session, *, order_ids: Sequence[str]) -> dict[str, int]:
    if not order_ids:
        return {}
    stmt = select(Dispute.order_id, Dispute.id).where(
        Dispute.order_id.in_(order_ids), Dispute.state != DisputeState.ended
    )
    return {order_id: pk for order_id, pk in session.execute(stmt)}


@dataclass(frozen=True)
class Eligibility:
    problem: rules.Ineligible | None
    window: rules.Window | None
    active_dispute_id: int | None

    @property
    def eligible(self) -> bool:
        return self.problem is None


# What eligibility needs to know about an order's disputes, as subqueries correlated with the
# order, so the read path asks everything in one statement. The statements are built once: an
# ORM select costs more to build here than SQLite takes to run it.
_ACTIVE_DISPUTE = (
    select(Dispute.id)
    .where(Dispute.order_id == Order.id, Dispute.state != DisputeState.ended)
    .limit(1)
    .scalar_subquery()
)
_RESOLVED_DISPUTE = exists().where(
    Dispute.order_id == Order.id,
    Dispute.state == DisputeState.ended,
    Dispute.resolution != Resolution.cancellation,
)
_DISPUTE_FACTS = select(_ACTIVE_DISPUTE, _RESOLVED_DISPUTE).where(Order.id == bindparam("order_id"))
# The buyer's row, and the order only if it is theirs: no order means not found, no row at
# all means the token names an unknown buyer.
_ELIGIBILITY_FACTS = (
    select(
        Buyer.account_status,
        Order.id,
        Order.tracking_added_at,
        Order.receipt_confirmed_at,
        Order.shipping_deadline,
        Order.payment_status,
        _ACTIVE_DISPUTE,
        _RESOLVED_DISPUTE,
    )
    .select_from(Buyer)
    .outerjoin(Order, and_(Order.id == bindparam("order_id"), Order.buyer_id == Buyer.id))
    .where(Buyer.id == bindparam("buyer_id"))
)


def _verdict(
    *,
    window: rules.Window | None,
    payment_status: PaymentStatus,
    account_status: AccountStatus,
    active: int | None,
    resolved: bool,
    now: datetime,
) -> Eligibility:
    problem = rules.eligibility(
        window=window,
        now=now,
        has_active_dispute=active is not None,
        has_resolved_dispute=bool(resolved),
        payment_status=payment_status,
        account_closed=account_status is AccountStatus.closed,
    )
    return Eligibility(problem=problem, window=window, active_dispute_id=active)


def eligibility(
    session: Session, *, buyer: Buyer, order: Order, now: datetime, rs: rules.RuleSettings
) -> Eligibility:
    """For a buyer and order already loaded (and locked, when opening a dispute)."""
    active, resolved = session.execute(_DISPUTE_FACTS, {"order_id": order.id}).one()
    return _verdict(
        window=window_for(order, rs),
        payment_status=order.payment_status,
        account_status=buyer.account_status,
        active=active,
        resolved=resolved,
        now=now,
    )


def eligibility_of(
    session: Session, *, buyer_id: str, order_id: str, now: datetime, rs: rules.RuleSettings
) -> Eligibility:
    """The read path: the same verdict from one statement, without loading any object."""
    if not is_order_id(order_id):
        raise OrderNotFound("No such order in your account.")
    # Plain columns, no objects: the Core connection runs it without the ORM's bookkeeping.
    params = {"buyer_id": buyer_id, "order_id": order_id}
    row = session.connection().execute(_ELIGIBILITY_FACTS, params).one_or_none()
    if row is None:
        raise BuyerTokenInvalid("The chat token names an unknown buyer.")
    account_status, found, tracking_at, receipt_at, deadline, payment, active, resolved = row
    if found is None:
        raise OrderNotFound(f"No order {order_id} in your account.")
    window = rules.protection_window(
        tracking_added_at=tracking_at,
        receipt_confirmed_at=receipt_at,
        shipping_deadline=deadline,
        rules=rs,
    )
    return _verdict(
        window=window,
        payment_status=payment,
        account_status=account_status,
        active=active,
        resolved=resolved,
        now=now,
    )
