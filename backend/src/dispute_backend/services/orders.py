from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import rules
from ..errors import OrderNotFound
from ..models import AccountStatus, Buyer, Dispute, DisputeState, Order


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


def has_resolved_dispute(session: Session, *, order_id: str) -> bool:
    """A dispute that ended other than by cancellation settles the order for good."""
    stmt = select(func.count(Dispute.id)).where(
        Dispute.order_id == order_id,
        Dispute.state == DisputeState.ended,
        Dispute.resolution != "cancellation",
    )
    return bool(session.scalar(stmt))


@dataclass(frozen=True)
class Eligibility:
    problem: rules.Ineligible | None
    window: rules.Window | None
    active_dispute_id: int | None

    @property
    def eligible(self) -> bool:
        return self.problem is None


def eligibility(
    session: Session, *, buyer: Buyer, order: Order, now: datetime, rs: rules.RuleSettings
) -> Eligibility:
    window = window_for(order, rs)
    active = active_disputes_by_order(session, order_ids=[order.id]).get(order.id)
    problem = rules.eligibility(
        window=window,
        now=now,
        has_active_dispute=active is not None,
        has_resolved_dispute=has_resolved_dispute(session, order_id=order.id),
        payment_status=order.payment_status,
        account_closed=buyer.account_status is AccountStatus.closed,
    )
    return Eligibility(problem=problem, window=window, active_dispute_id=active)
