"""Turn models into response shapes, including what the buyer can do next."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from .. import rules
from ..enums import DisputeState, Outcome, Party, ProposalStatus
from ..models import (
    AbuseReview,
    Buyer,
    Dispute,
    Event,
    Evidence,
    HandoffMessage,
    HandoffTicket,
    Message,
    Operator,
    Order,
    Proposal,
    public_dispute_id,
)
from ..services import abuse, handoff
from ..services import disputes as dispute_svc
from ..services import orders as order_svc
from . import schemas as s


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def window_out(window: rules.Window | None, now: datetime) -> s.WindowOut | None:
    if window is None:
        return None
    return s.WindowOut(
        starts_at=window.starts_at, ends_at=window.ends_at, is_open=window.is_open(now)
    )


def order_out(
    order: Order, *, active_dispute: int | None, now: datetime, rs: rules.RuleSettings
) -> s.OrderOut:
    return s.OrderOut(
        id=order.id,
        title=order.title,
        amount=money(order.amount),
        currency=order.currency,
        seller=s.SellerRef(id=order.seller.id, name=order.seller.name),
        placed_at=order.placed_at,
        tracking_number=order.tracking_number,
        tracking_added_at=order.tracking_added_at,
        shipping_deadline=order.shipping_deadline,
        receipt_confirmed_at=order.receipt_confirmed_at,
        shipping_status=order.shipping_status,
        payment_status=order.payment_status,
        refunded_amount=money(order.refunded_amount),
        protection_window=window_out(order_svc.window_for(order, rs), now),
        active_dispute_id=public_dispute_id(active_dispute) if active_dispute else None,
    )


def orders_out(
    session: Session, *, buyer_id: str, now: datetime, rs: rules.RuleSettings
) -> list[s.OrderOut]:
    """The buyer's orders, each with its dispute in progress if any."""
    rows = order_svc.list_orders(session, buyer_id=buyer_id)
    active = order_svc.active_disputes_by_order(session, order_ids=[o.id for o in rows])
    return [order_out(o, active_dispute=active.get(o.id), now=now, rs=rs) for o in rows]


def eligibility_out(order_id: str, verdict: order_svc.Eligibility) -> s.EligibilityOut:
    code = verdict.problem.value if verdict.problem else "eligible"
    sentence = rules.REASON_SENTENCES[verdict.problem or "eligible"]
    return s.EligibilityOut(
        order_id=order_id,
        eligible=verdict.eligible,
        reason_code=code,
        reason=sentence,
        window_starts_at=verdict.window.starts_at if verdict.window else None,
        window_ends_at=verdict.window.ends_at if verdict.window else None,
        active_dispute_id=(
            public_dispute_id(verdict.active_dispute_id) if verdict.active_dispute_id else None
        ),
    )


def proposal_out(p: Proposal | dispute_svc.ProposalRecord) -> s.ProposalOut:
    return s.ProposalOut(
        id=p.id,
        party=p.party,
        refund_amount=money(p.refund_amount),
        with_return=p.with_return,
        request=p.request,
        status=p.status,
        created_at=p.created_at,
        decided_at=p.decided_at,
    )


def _latest(d: dispute_svc.DisputeRecord, party: Party) -> s.ProposalOut | None:
    for p in reversed(d.proposals):
        if p.party is party:
            return proposal_out(p)
    return None


def buyer_next_actions(
    session: Session, d: dispute_svc.DisputeRecord, *, now: datetime, rs: rules.RuleSettings
) -> list[s.NextAction]:
    if d.state is not DisputeState.ended:
        actions: list[s.NextAction] = ["modify_proposal", "cancel", "upload_evidence"]
        if any(p.party is Party.seller and p.status is ProposalStatus.pending for p in d.proposals):
            actions.append("accept_seller_proposal")
        if d.state is DisputeState.mediation:
            actions.append("wait_for_platform_decision")
        actions.append("send_message")
        return actions
    if d.outcome is Outcome.cancelled:
        buyer = session.get(Buyer, d.buyer_id)
        order = session.get(Order, d.order_id)
        if buyer is not None and order is not None:
            verdict = order_svc.eligibility(session, buyer=buyer, order=order, now=now, rs=rs)
            if verdict.eligible:
                return ["open_new_dispute", "send_message"]
        return ["send_message"]
    # R7: a problem with an ended dispute's refund is a case for a human operator.
    return ["contact_customer_service", "send_message"]


def _resolution_out(d: dispute_svc.DisputeRecord) -> s.ResolutionOut | None:
    if d.state is DisputeState.ended and d.resolution and d.outcome and d.ended_at:
        return s.ResolutionOut(
            how=d.resolution,
            outcome=d.outcome,
            refund_amount=money(d.resolved_refund_amount or Decimal("0")),
            with_return=bool(d.resolved_with_return),
            decided_at=d.ended_at,
        )
    return None


def _deadlines_out(d: dispute_svc.DisputeRecord, rs: rules.RuleSettings) -> s.Deadlines:
    window = rules.protection_window(
        tracking_added_at=d.order_tracking_added_at,
        receipt_confirmed_at=d.order_receipt_confirmed_at,
        shipping_deadline=d.order_shipping_deadline,
        rules=rs,
    )
    carrier_due = None
    if d.reason.value == "not_received" and d.mediation_started_at is not None:
        carrier_due = rules.carrier_response_due_at(d.mediation_started_at, rs)
    return s.Deadlines(
        negotiation_ends_at=d.negotiation_ends_at,
        mediation_started_at=d.mediation_started_at,
        carrier_response_due_at=carrier_due,
        protection_ends_at=window.ends_at if window else None,
    )


def dispute_out(
    session: Session,
    dispute: Dispute | dispute_svc.DisputeRecord,
    *,
    now: datetime,
    rs: rules.RuleSettings,
    next_actions: list[s.NextAction] | None = None,
) -> s.DisputeOut:
    d = (
        dispute
        if isinstance(dispute, dispute_svc.DisputeRecord)
        else dispute_svc.record_of(dispute)
    )
    return s.DisputeOut(
        id=d.public_id,
        order_id=d.order_id,
        order_title=d.order_title,
        order_amount=money(d.order_amount),
        currency=d.currency,
        reason=d.reason,
        description=d.description,
        state=d.state,
        status_label=rules.status_label(d.state),
        requested_outcome=d.requested_outcome,
        outcome=d.outcome,
        resolution=_resolution_out(d),
        proposals=s.CurrentProposals(
            buyer=_latest(d, Party.buyer),
            seller=_latest(d, Party.seller),
            platform=_latest(d, Party.platform),
        ),
        proposal_history=[proposal_out(p) for p in d.proposals],
        deadlines=_deadlines_out(d, rs),
        opened_at=d.opened_at,
        ended_at=d.ended_at,
        version=d.version,
        next_actions=(
            next_actions
            if next_actions is not None
            else buyer_next_actions(session, d, now=now, rs=rs)
        ),
    )


def evidence_out(e: Evidence) -> s.EvidenceOut:
    return s.EvidenceOut.model_validate(e, from_attributes=True)


def message_out(m: Message) -> s.MessageOut:
    return s.MessageOut.model_validate(m, from_attributes=True)


def event_out(e: Event) -> s.EventOut:
    return s.EventOut(
        occurred_at=e.occurred_at,
        actor_type=e.actor_type.value,
        actor_id=e.actor_id,
        kind=e.kind,
        data=dict(e.data),
    )


def review_out(r: AbuseReview) -> s.AbuseReviewOut:
    return s.AbuseReviewOut.model_validate(r, from_attributes=True)


# --- human handoff -------------------------------------------------------------------------


def ticket_status_out(
    session: Session, t: HandoffTicket, *, created: bool, now: datetime, qs: handoff.QueueSettings
) -> s.TicketStatus:
    """What the assistant tells the buyer about their ticket."""
    online = handoff.operators_online(session, now=now, qs=qs)
    pos = handoff.position(session, ticket=t)
    operator = session.get(Operator, t.operator_id) if t.operator_id else None
    return s.TicketStatus(
        ticket_id=t.id,
        state=t.state,
        created=created,
        position=pos,
        estimated_wait_minutes=handoff.estimated_wait_minutes(pos, online, qs),
        operators_online=online,
        expected_when=qs.offline_answer if online == 0 else None,
        operator_id=t.operator_id,
        operator_name=operator.name if operator else None,
    )


def ticket_out(session: Session, t: HandoffTicket) -> s.TicketOut:
    buyer = ticket_buyer_out(session, t.buyer_id)
    return s.TicketOut(
        id=t.id,
        conversation_id=t.conversation_id,
        channel=t.channel,
        buyer_id=t.buyer_id,
        buyer_name=buyer.name if buyer else None,
        reason=t.reason,
        state=t.state,
        operator_id=t.operator_id,
        position=handoff.position(session, ticket=t),
        created_at=t.created_at,
        assigned_at=t.assigned_at,
        closed_at=t.closed_at,
        outcome=t.outcome,
        version=t.version,
    )


def ticket_buyer_out(session: Session, buyer_id: str | None) -> s.BuyerOut | None:
    if buyer_id is None:
        return None
    buyer = session.get(Buyer, buyer_id)
    if buyer is None:
        return None
    return s.BuyerOut(
        id=buyer.id,
        name=buyer.name,
        email=buyer.email,
        account_status=buyer.account_status.value,
        under_review=abuse.open_review(session, buyer_id=buyer.id) is not None,
    )


def ticket_detail_out(
    session: Session, t: HandoffTicket, *, now: datetime, rs: rules.RuleSettings
) -> s.TicketDetail:
    """A ticket with its buyer, their orders and disputes, and the stored transcript."""
    orders: list[s.OrderOut] = []
    disputes: list[s.DisputeOut] = []
    if t.buyer_id is not None:
        orders = orders_out(session, buyer_id=t.buyer_id, now=now, rs=rs)
        disputes = [
            dispute_out(session, d, now=now, rs=rs, next_actions=[])
            for d in dispute_svc.list_disputes(session, buyer_id=t.buyer_id)
        ]
    return s.TicketDetail(
        **ticket_out(session, t).model_dump(),
        buyer=ticket_buyer_out(session, t.buyer_id),
        orders=orders,
        disputes=disputes,
        transcript=[ticket_message_out(m) for m in handoff.transcript(session, ticket_id=t.id)],
    )


def ticket_message_out(m: HandoffMessage) -> s.TicketMessageOut:
    return s.TicketMessageOut(
        id=m.id, party=m.party.value, author_id=m.author_id, body=m.body, created_at=m.created_at
    )


def operator_out(o: Operator, *, now: datetime, qs: handoff.QueueSettings) -> s.OperatorOut:
    online = handoff.is_online(o, now=now, qs=qs)
    return s.OperatorOut(id=o.id, name=o.name, email=o.email, online=online)
