"""Dispute lifecycle: open, modify, cancel, seller answers, platform decisions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import errors, rules
from ..enums import (
    DisputeReason,
    DisputeState,
    Outcome,
    Party,
    PaymentStatus,
    ProposalStatus,
    RequestedOutcome,
    Resolution,
)
from ..models import Buyer, Dispute, Order, Proposal, parse_dispute_id, public_dispute_id
from . import abuse, events, orders

Data = dict[str, Any]  # what an event records

_INELIGIBLE_ERRORS: dict[rules.Ineligible, type[errors.DomainError]] = {
    rules.Ineligible.no_tracking_yet: errors.NoTrackingYet,
    rules.Ineligible.protection_expired: errors.ProtectionExpired,
    rules.Ineligible.dispute_already_open: errors.DisputeAlreadyOpen,
    rules.Ineligible.order_already_resolved: errors.OrderAlreadyResolved,
    rules.Ineligible.account_closed: errors.AccountClosed,
}

_REFUND_SENTENCES = {
    rules.RefundProblem.not_positive: "The refund amount must be more than zero.",
    rules.RefundProblem.above_order_amount: "The refund cannot be more than the order amount.",
    rules.RefundProblem.full_must_equal_amount: "A full refund is the order amount.",
    rules.RefundProblem.partial_must_be_less: "A partial refund is less than the order amount.",
}


def _check_refund(amount: Decimal, order: Order, requested: RequestedOutcome | None = None) -> None:
    problem = rules.check_refund(amount, order.amount, requested)
    if problem is not None:
        raise errors.InvalidRefundAmount(
            _REFUND_SENTENCES[problem],
            problem=problem.value,
            order_amount=str(order.amount),
            currency=order.currency,
        )


def _check_version(dispute: Dispute, expected: int) -> None:
    if dispute.version != expected:
        raise errors.VersionConflict(
            f"The dispute is at version {dispute.version}, not {expected}; read it again.",
            current_version=dispute.version,
        )


def _check_allowed(
    dispute: Dispute,
    expected: int,
    allowed: Callable[[DisputeState], bool],
    refusal: str = "The dispute has already ended.",
) -> None:
    """The version the caller read, then the rule that allows the change in this state."""
    _check_version(dispute, expected)
    if not allowed(dispute.state):
        raise errors.TransitionNotAllowed(refusal)


def _pending_or_refuse(dispute: Dispute, party: Party, refusal: str) -> Proposal:
    proposal = _pending(dispute, party)
    if proposal is None:
        raise errors.NoPendingProposal(refusal)
    return proposal


def _touch(dispute: Dispute, now: datetime) -> None:
    """Every change of a dispute goes through here: one new version per unit of work."""
    dispute.updated_at = now
    dispute.version += 1


def _changed(
    session: Session, dispute: Dispute, kind: str, actor: events.Actor, now: datetime, data: Data
) -> Dispute:
    """How a change that does not end the dispute ends: a new version, its event, written out."""
    _touch(dispute, now)
    events.on_dispute(session, dispute, kind, actor=actor, now=now, data=data)
    session.flush()
    return dispute


def _offer_data(refund_amount: Decimal, with_return: bool) -> Data:
    """What an event says of a proposal."""
    return {"refund_amount": str(refund_amount), "with_return": with_return}


def _pending(dispute: Dispute, party: Party) -> Proposal | None:
    for proposal in reversed(dispute.proposals):
        if proposal.party is party and proposal.status is ProposalStatus.pending:
            return proposal
    return None


def _settle(proposal: Proposal, status: ProposalStatus, now: datetime) -> None:
    proposal.status = status
    proposal.decided_at = now


def _close_pending(dispute: Dispute, status: ProposalStatus, now: datetime) -> None:
    for proposal in dispute.proposals:
        if proposal.status is ProposalStatus.pending:
            _settle(proposal, status, now)


def _add_proposal(
    session: Session,
    dispute: Dispute,
    party: Party,
    author: events.Actor,
    refund_amount: Decimal,
    with_return: bool,
    request: str,
    now: datetime,
    status: ProposalStatus = ProposalStatus.pending,
) -> Proposal:
    """`party`'s new proposal, made by `author` (the change's actor); it supersedes the party's
    pending one."""
    previous = _pending(dispute, party)
    if previous is not None:
        _settle(previous, ProposalStatus.superseded, now)
    proposal = Proposal(
        party=party,
        author_id=author.id,
        refund_amount=refund_amount,
        with_return=with_return,
        request=request,
        status=status,
        created_at=now,
        decided_at=now if status is not ProposalStatus.pending else None,
    )
    dispute.proposals.append(proposal)
    session.add(proposal)
    return proposal


def _end(
    session: Session,
    dispute: Dispute,
    *,
    resolution: Resolution,
    refund_amount: Decimal,
    with_return: bool,
    now: datetime,
    actor: events.Actor,
) -> None:
    """End a dispute: its pending proposals are superseded and the payment is settled
    accordingly (R6: cancellation keeps it held)."""
    _close_pending(dispute, ProposalStatus.superseded, now)
    dispute.state = DisputeState.ended
    dispute.resolution = resolution
    dispute.ended_at = now
    dispute.resolved_with_return = with_return if refund_amount > 0 else False
    dispute.resolved_refund_amount = refund_amount
    dispute.outcome = _outcome(resolution, refund_amount, dispute.order.amount)
    _touch(dispute, now)
    if dispute.outcome is not Outcome.cancelled:
        _settle_payment(session, dispute, refund_amount, now)
    data = {
        "resolution": resolution.value,
        "outcome": dispute.outcome.value,
        "refund_amount": str(refund_amount),
        "with_return": dispute.resolved_with_return,
    }
    events.on_dispute(session, dispute, "dispute.ended", actor=actor, now=now, data=data)


def _outcome(resolution: Resolution, refund_amount: Decimal, order_amount: Decimal) -> Outcome:
    if resolution is Resolution.cancellation:
        return Outcome.cancelled
    if refund_amount <= 0:
        return Outcome.no_refund
    if refund_amount >= order_amount:
        return Outcome.full_refund
    return Outcome.partial_refund


def _settle_payment(
    session: Session, dispute: Dispute, refund_amount: Decimal, now: datetime
) -> None:
    """A payment still held is refunded (any refund) or released to the seller (none)."""
    order = dispute.order
    if order.payment_status is not PaymentStatus.held:
        return
    if refund_amount > 0:
        order.payment_status = PaymentStatus.refunded
        order.refunded_amount = refund_amount
    else:
        order.payment_status = PaymentStatus.released
    order.payment_settled_at = now
    kind = "payment." + order.payment_status.value
    data = {"refunded_amount": str(refund_amount), "currency": order.currency}
    events.on_dispute(session, dispute, kind, actor=events.PAYMENTS, now=now, data=data)


def _agree(
    session: Session,
    dispute: Dispute,
    accepted: Proposal,
    actor: events.Actor,
    now: datetime,
) -> Dispute:
    """A party accepts the other's pending proposal: the dispute ends in agreement."""
    _settle(accepted, ProposalStatus.accepted, now)
    _end(
        session,
        dispute,
        resolution=Resolution.agreement,
        refund_amount=accepted.refund_amount,
        with_return=accepted.with_return,
        now=now,
        actor=actor,
    )
    session.flush()
    return dispute


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    party: Party
    refund_amount: Decimal
    with_return: bool
    request: str
    status: ProposalStatus
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class DisputeRecord:
    """A dispute as it is shown: plain values read for display, no ORM object behind them.
    views.dispute_out renders this; an ORM Dispute is turned into one by record_of."""

    id: int
    order_id: str
    buyer_id: str
    reason: DisputeReason
    description: str
    requested_outcome: RequestedOutcome
    state: DisputeState
    outcome: Outcome | None
    resolution: Resolution | None
    resolved_refund_amount: Decimal | None
    resolved_with_return: bool | None
    opened_at: datetime
    negotiation_ends_at: datetime
    mediation_started_at: datetime | None
    ended_at: datetime | None
    version: int
    order_title: str
    order_amount: Decimal
    currency: str
    order_tracking_added_at: datetime | None
    order_receipt_confirmed_at: datetime | None
    order_shipping_deadline: datetime
    proposals: tuple[ProposalRecord, ...]

    @property
    def public_id(self) -> str:
        return public_dispute_id(self.id)


_ORDER_FIELDS = {
    "order_title": Order.title,
    "order_amount": Order.amount,
    "currency": Order.currency,
    "order_tracking_added_at": Order.tracking_added_at,
    "order_receipt_confirmed_at": Order.receipt_confirmed_at,
    "order_shipping_deadline": Order.shipping_deadline,
}
# The dispute's own columns: every field that is neither the order's nor the proposals.
_DISPUTE_FIELDS = tuple(
    f.name for f in fields(DisputeRecord) if f.name not in _ORDER_FIELDS and f.name != "proposals"
)
_PROPOSAL_FIELDS = tuple(f.name for f in fields(ProposalRecord))


def record_of(dispute: Dispute) -> DisputeRecord:
    order = dispute.order
    return DisputeRecord(
        **{name: getattr(dispute, name) for name in _DISPUTE_FIELDS},
        **{name: getattr(order, column.key) for name, column in _ORDER_FIELDS.items()},
        proposals=tuple(
            ProposalRecord(**{name: getattr(p, name) for name in _PROPOSAL_FIELDS})
            for p in dispute.proposals
        ),
    )


# The buyer's row, and the dispute only if it is theirs, with its order and one row per
# proposal: one statement (one snapshot), plain columns, no ORM objects to build. A second read
# path beside the ORM's (get_for_buyer + record_of), kept for GET /disputes/{id}, the read the
# assistant makes most, because it is measured: `python -m dispute_backend bench-read` printed
# "ratio ORM / one statement: 8.48" and 9.69 on SQLite here (2 cores, load ~10), a dispute of
# the seed with its history, rendered as the route renders it. It checks both answer alike.
_BUYER_DISPUTE = (
    select(
        Buyer.id.label("buyer"),
        *(getattr(Dispute, name).label(name) for name in _DISPUTE_FIELDS),
        *(column.label(name) for name, column in _ORDER_FIELDS.items()),
        *(getattr(Proposal, name).label("p_" + name) for name in _PROPOSAL_FIELDS),
    )
    .select_from(Buyer)
    .outerjoin(Dispute, and_(Dispute.id == bindparam("pk"), Dispute.buyer_id == Buyer.id))
    .outerjoin(Order, Order.id == Dispute.order_id)
    .outerjoin(Proposal, Proposal.dispute_id == Dispute.id)
    .where(Buyer.id == bindparam("buyer_id"))
    .order_by(Proposal.id)
)


def read_for_buyer(session: Session, *, buyer_id: str, public_id: str) -> DisputeRecord:
    """get_for_buyer's read path: the buyer check and the whole dispute in one statement."""
    pk = parse_dispute_id(public_id)
    params = {"buyer_id": buyer_id, "pk": pk or 0}
    rows = [row._mapping for row in session.connection().execute(_BUYER_DISPUTE, params)]
    if not rows:
        raise errors.BuyerTokenInvalid("The chat token names an unknown buyer.")
    first = rows[0]
    if first["id"] is None:
        raise errors.DisputeNotFound(f"No dispute {public_id} in your account.")
    return DisputeRecord(
        **{name: first[name] for name in _DISPUTE_FIELDS},
        **{name: first[name] for name in _ORDER_FIELDS},
        proposals=tuple(
            ProposalRecord(**{name: row["p_" + name] for name in _PROPOSAL_FIELDS})
            for row in rows
            if row["p_id"] is not None
        ),
    )


def _find(session: Session, public_id: str) -> Dispute | None:
    pk = parse_dispute_id(public_id)
    return session.get(Dispute, pk) if pk is not None else None


def get_for_buyer(session: Session, *, buyer_id: str, public_id: str) -> Dispute:
    dispute = _find(session, public_id)
    if dispute is None or dispute.buyer_id != buyer_id:
        raise errors.DisputeNotFound(f"No dispute {public_id} in your account.")
    return dispute


def get_for_seller(session: Session, *, seller_id: str, public_id: str) -> Dispute:
    dispute = _find(session, public_id)
    if dispute is None or dispute.seller_id != seller_id:
        raise errors.DisputeNotFound(f"No dispute {public_id} for your shop.")
    return dispute


def get_any(session: Session, *, public_id: str) -> Dispute:
    dispute = _find(session, public_id)
    if dispute is None:
        raise errors.DisputeNotFound(f"No dispute {public_id}.")
    return dispute


def list_disputes(
    session: Session,
    *,
    buyer_id: str | None = None,
    seller_id: str | None = None,
    order_id: str | None = None,
    in_progress: bool | None = None,
    state: DisputeState | None = None,
) -> Sequence[Dispute]:
    equal = {"buyer_id": buyer_id, "seller_id": seller_id, "order_id": order_id, "state": state}
    stmt = (
        select(Dispute)
        .filter_by(**{column: value for column, value in equal.items() if value is not None})
        .order_by(Dispute.opened_at.desc(), Dispute.id.desc())
    )
    if in_progress is True:
        stmt = stmt.where(Dispute.state != DisputeState.ended)
    elif in_progress is False:
        stmt = stmt.where(Dispute.state == DisputeState.ended)
    return session.scalars(stmt).all()


# --- buyer ---------------------------------------------------------------------------------


def _check_can_open(
    session: Session,
    *,
    buyer: Buyer,
    order: Order,
    reason: DisputeReason,
    now: datetime,
    rs: rules.RuleSettings,
) -> None:
    """Whether the order can have a dispute now (orders.eligibility: the protection window,
    one dispute at a time, an open account) and the customs rule, as domain errors."""
    verdict = orders.eligibility(session, buyer=buyer, order=order, now=now, rs=rs)
    if verdict.problem is not None:
        extra: dict[str, object] = {"reason_code": verdict.problem.value}
        if verdict.window is not None:
            extra["window_ends_at"] = verdict.window.ends_at.isoformat()
        raise _INELIGIBLE_ERRORS[verdict.problem](rules.REASON_SENTENCES[verdict.problem], **extra)
    if rules.not_received_blocked_by_customs(reason, order.shipping_status):
        raise errors.PackageInCustoms(
            "The package is held in customs: that is a matter for the carrier. Please contact "
            "the carrier with the tracking number " + (order.tracking_number or "") + "."
        )


def _asked_refund(
    order: Order, requested_outcome: RequestedOutcome, refund_amount: Decimal | None
) -> Decimal:
    """The refund the buyer asks for (the order amount when none is given), checked."""
    if refund_amount is None:
        if requested_outcome is RequestedOutcome.partial_refund:
            raise errors.InvalidRefundAmount("A partial refund needs a refund_amount.")
        refund_amount = order.amount
    _check_refund(refund_amount, order, requested_outcome)
    return refund_amount


def _insert_open(session: Session, dispute: Dispute) -> None:
    """Store a new dispute; if another was opened on the order meanwhile, refuse it."""
    try:
        with session.begin_nested():
            session.add(dispute)
            session.flush()
    except IntegrityError as exc:  # a concurrent open won the partial unique index
        raise errors.DisputeAlreadyOpen(rules.REASON_SENTENCES["dispute_already_open"]) from exc


def open_dispute(
    session: Session,
    *,
    buyer: Buyer,
    order_id: str,
    reason: DisputeReason,
    requested_outcome: RequestedOutcome,
    refund_amount: Decimal | None,
    with_return: bool,
    description: str,
    now: datetime,
    rs: rules.RuleSettings,
) -> Dispute:
    order = orders.get_order(session, buyer_id=buyer.id, order_id=order_id, for_update=True)
    _check_can_open(session, buyer=buyer, order=order, reason=reason, now=now, rs=rs)
    refund_amount = _asked_refund(order, requested_outcome, refund_amount)
    dispute = Dispute(
        order_id=order.id,
        buyer_id=buyer.id,
        seller_id=order.seller_id,
        reason=reason,
        description=description,
        requested_outcome=requested_outcome,
        state=DisputeState.negotiation,
        opened_at=now,
        negotiation_ends_at=rules.negotiation_ends_at(now, rs),
        updated_at=now,
        version=1,
        proposals=[],
    )
    dispute.order = order
    _insert_open(session, dispute)
    actor = events.Actor.buyer(buyer.id)
    _add_proposal(
        session, dispute, Party.buyer, actor, refund_amount, with_return, description, now
    )
    data = {
        "reason": reason.value,
        "requested_outcome": requested_outcome.value,
        **_offer_data(refund_amount, with_return),
    }
    events.on_dispute(session, dispute, "dispute.opened", actor=actor, now=now, data=data)
    abuse.check_after_dispute(session, buyer_id=buyer.id, now=now, rs=rs)
    session.flush()
    return dispute


def modify_proposal(
    session: Session,
    *,
    dispute: Dispute,
    buyer_id: str,
    expected_version: int,
    refund_amount: Decimal,
    with_return: bool,
    request: str | None,
    now: datetime,
) -> Dispute:
    """R4: the buyer changes the refund amount, the return, or the request itself."""
    _check_allowed(
        dispute,
        expected_version,
        rules.can_buyer_change,
        "The dispute has ended; it can no longer be changed.",
    )
    _check_refund(refund_amount, dispute.order)
    previous = _pending(dispute, Party.buyer)
    text = request if request is not None else (previous.request if previous else "")
    actor = events.Actor.buyer(buyer_id)
    _add_proposal(session, dispute, Party.buyer, actor, refund_amount, with_return, text, now)
    dispute.requested_outcome = (
        RequestedOutcome.full_refund
        if refund_amount == dispute.order.amount
        else RequestedOutcome.partial_refund
    )
    data = _offer_data(refund_amount, with_return)
    return _changed(session, dispute, "proposal.modified", actor, now, data)


def cancel(
    session: Session, *, dispute: Dispute, buyer_id: str, expected_version: int, now: datetime
) -> Dispute:
    """R6: the payment stays held; a new dispute may be opened while protection lasts."""
    _check_allowed(dispute, expected_version, rules.can_buyer_change)
    _end(
        session,
        dispute,
        resolution=Resolution.cancellation,
        refund_amount=Decimal("0"),
        with_return=False,
        now=now,
        actor=events.Actor.buyer(buyer_id),
    )
    session.flush()
    return dispute


def buyer_accept_seller_proposal(
    session: Session, *, dispute: Dispute, buyer_id: str, expected_version: int, now: datetime
) -> Dispute:
    """The buyer takes the seller's pending proposal: the dispute ends in agreement."""
    _check_allowed(dispute, expected_version, rules.can_buyer_change)
    offer = _pending_or_refuse(
        dispute, Party.seller, "The seller has no pending proposal to accept."
    )
    return _agree(session, dispute, offer, events.Actor.buyer(buyer_id), now)


# --- seller --------------------------------------------------------------------------------


def seller_accept(
    session: Session, *, dispute: Dispute, seller_id: str, expected_version: int, now: datetime
) -> Dispute:
    """The seller takes the buyer's pending proposal: the dispute ends in agreement."""
    _check_allowed(dispute, expected_version, rules.can_seller_respond)
    proposal = _pending_or_refuse(dispute, Party.buyer, "The buyer has no pending proposal.")
    return _agree(session, dispute, proposal, events.Actor.seller(seller_id), now)


def seller_reject(
    session: Session,
    *,
    dispute: Dispute,
    seller_id: str,
    expected_version: int,
    note: str,
    now: datetime,
) -> Dispute:
    """The buyer's proposal is rejected; the dispute goes on (to mediation if no agreement)."""
    _check_allowed(dispute, expected_version, rules.can_seller_respond)
    proposal = _pending_or_refuse(dispute, Party.buyer, "The buyer has no pending proposal.")
    _settle(proposal, ProposalStatus.rejected, now)
    actor = events.Actor.seller(seller_id)
    data = {"proposal_id": proposal.id, "note": note}
    return _changed(session, dispute, "proposal.rejected", actor, now, data)


def seller_counter(
    session: Session,
    *,
    dispute: Dispute,
    seller_id: str,
    expected_version: int,
    refund_amount: Decimal,
    with_return: bool,
    note: str,
    now: datetime,
) -> Dispute:
    """The seller rejects the buyer's pending proposal, if any, and makes one of its own."""
    _check_allowed(dispute, expected_version, rules.can_seller_respond)
    _check_refund(refund_amount, dispute.order)
    buyer_offer = _pending(dispute, Party.buyer)
    if buyer_offer is not None:
        _settle(buyer_offer, ProposalStatus.rejected, now)
    actor = events.Actor.seller(seller_id)
    _add_proposal(session, dispute, Party.seller, actor, refund_amount, with_return, note, now)
    data = _offer_data(refund_amount, with_return)
    return _changed(session, dispute, "proposal.countered", actor, now, data)


# --- platform ------------------------------------------------------------------------------


def _platform_decision(
    session: Session,
    dispute: Dispute,
    *,
    resolution: Resolution,
    actor: events.Actor,
    refund_amount: Decimal,
    with_return: bool,
    note: str,
    now: datetime,
) -> None:
    """The platform's own proposal, accepted as it is made, ends the dispute."""
    accepted = ProposalStatus.accepted
    _add_proposal(
        session, dispute, Party.platform, actor, refund_amount, with_return, note, now, accepted
    )
    _end(
        session,
        dispute,
        resolution=resolution,
        refund_amount=refund_amount,
        with_return=with_return,
        now=now,
        actor=actor,
    )


def platform_decide(
    session: Session,
    *,
    dispute: Dispute,
    operator_id: str,
    expected_version: int,
    refund_amount: Decimal,
    with_return: bool,
    note: str,
    now: datetime,
) -> Dispute:
    """R3: once mediated, the marketplace's team decides (a zero refund sides with the seller)."""
    _check_allowed(
        dispute,
        expected_version,
        rules.can_platform_decide,
        "Only a dispute in mediation can be decided.",
    )
    if refund_amount != 0:
        _check_refund(refund_amount, dispute.order)
    _platform_decision(
        session,
        dispute,
        resolution=Resolution.platform_decision,
        actor=events.Actor.operator(operator_id),
        refund_amount=refund_amount,
        with_return=with_return,
        note=note,
        now=now,
    )
    session.flush()
    return dispute


def escalate_to_mediation(session: Session, *, dispute: Dispute, now: datetime) -> None:
    """R3, run by the scheduler. Dated at the deadline, so a late run changes nothing."""
    dispute.state = DisputeState.mediation
    dispute.mediation_started_at = dispute.negotiation_ends_at
    _touch(dispute, now)
    data = {"due_at": dispute.negotiation_ends_at.isoformat()}
    events.on_dispute(
        session, dispute, "dispute.mediation_started", actor=events.SCHEDULER, now=now, data=data
    )


def refund_not_received(session: Session, *, dispute: Dispute, now: datetime) -> None:
    """R8, run by the scheduler: no satisfactory information came back, the buyer is refunded."""
    _platform_decision(
        session,
        dispute,
        resolution=Resolution.timeout,
        actor=events.SCHEDULER,
        refund_amount=dispute.order.amount,
        with_return=False,
        note="No satisfactory information from carrier and seller.",
        now=now,
    )
