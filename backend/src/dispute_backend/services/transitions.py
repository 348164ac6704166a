"""Time-driven transitions. Each one re-checks its condition on fresh data, so running them
twice, late, or after downtime applies each exactly once (and dates it at its due time)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import rules
from ..models import ActorType, Dispute, DisputeReason, DisputeState, Order, PaymentStatus
from . import disputes, events, orders

log = logging.getLogger(__name__)


@dataclass
class Applied:
    mediations: int = 0
    not_received_refunds: int = 0
    releases: int = 0

    @property
    def total(self) -> int:
        return self.mediations + self.not_received_refunds + self.releases


def apply_due(session: Session, *, now: datetime, rs: rules.RuleSettings) -> Applied:
    applied = Applied()

    due_mediation = session.scalars(
        select(Dispute.id).where(
            Dispute.state == DisputeState.negotiation, Dispute.negotiation_ends_at <= now
        )
    ).all()
    for pk in due_mediation:
        if _one(session, pk, lambda d: _mediate(session, d, now)):
            applied.mediations += 1

    waiting = session.scalars(
        select(Dispute.id).where(
            Dispute.state == DisputeState.mediation,
            Dispute.reason == DisputeReason.not_received,
            Dispute.mediation_started_at <= now - timedelta(days=rs.carrier_response_days),
        )
    ).all()
    for pk in waiting:
        if _one(session, pk, lambda d: _refund(session, d, now, rs)):
            applied.not_received_refunds += 1

    anchor = func.coalesce(Order.receipt_confirmed_at, Order.shipping_deadline)
    candidates = session.scalars(
        select(Order.id).where(
            Order.payment_status == PaymentStatus.held,
            Order.tracking_added_at.is_not(None),
            anchor < now - timedelta(days=rs.protection_days),
        )
    ).all()
    for order_id in candidates:
        try:
            with session.begin_nested():
                if _release(session, order_id, now, rs):
                    applied.releases += 1
        except StaleDataError:
            log.info("order %s changed meanwhile; next run will see it", order_id)
    return applied


def _one(session: Session, pk: int, step: Callable[[Dispute], bool]) -> bool:
    try:
        with session.begin_nested():
            dispute = session.get(Dispute, pk, populate_existing=True)
            if dispute is None:
                return False
            done = step(dispute)
            session.flush()
            return done
    except StaleDataError:
        log.info("dispute %s changed meanwhile; next run will see it", pk)
        return False


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
    # Lock the order, then look: a dispute opened meanwhile is seen, never overtaken.
    order = session.get(Order, order_id, populate_existing=True, with_for_update={"of": Order})
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
    events.record(
        session,
        now=now,
        actor_type=ActorType.system,
        actor_id="scheduler",
        kind="payment.released",
        order_id=order.id,
        buyer_id=order.buyer_id,
        data={"due_at": window.ends_at.isoformat(), "reason": "protection period ended"},
    )
    session.flush()
    return True
