"""The marketplace's rules R1-R11 as pure functions of data and `now`.

The rules, in the project's words, and where each is enforced: docs/rules.md.
Nothing here touches the database or the clock: callers pass the instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from .enums import DisputeReason, DisputeState, PaymentStatus, RequestedOutcome, ShippingStatus


@dataclass(frozen=True)
class RuleSettings:
    protection_days: int = 15
    negotiation_days: int = 5
    carrier_response_days: int = 10
    abuse_min_purchases: int = 10
    abuse_share: Decimal = Decimal("0.8")


@dataclass(frozen=True)
class Window:
    starts_at: datetime
    ends_at: datetime

    def is_open(self, now: datetime) -> bool:
        """Open from the tracking instant up to and including the end instant."""
        return self.starts_at <= now <= self.ends_at


def protection_window(
    *,
    tracking_added_at: datetime | None,
    receipt_confirmed_at: datetime | None,
    shipping_deadline: datetime,
    rules: RuleSettings,
) -> Window | None:
    """R1: no window before tracking; ends N days after receipt, else after the deadline."""
    if tracking_added_at is None:
        return None
    anchor = receipt_confirmed_at if receipt_confirmed_at is not None else shipping_deadline
    return Window(
        starts_at=tracking_added_at, ends_at=anchor + timedelta(days=rules.protection_days)
    )


class Ineligible(StrEnum):
    no_tracking_yet = "no_tracking_yet"
    protection_expired = "protection_expired"
    dispute_already_open = "dispute_already_open"
    order_already_resolved = "order_already_resolved"
    account_closed = "account_closed"


REASON_SENTENCES = {
    "eligible": "You can open a dispute on this order.",
    Ineligible.no_tracking_yet: (
        "The seller has not added a tracking number yet, so the protection period has not "
        "started; a dispute can be opened once it has."
    ),
    Ineligible.protection_expired: (
        "The protection period for this order has ended, so a dispute can no longer be opened."
    ),
    Ineligible.dispute_already_open: "A dispute is already in progress for this order.",
    Ineligible.order_already_resolved: (
        "A dispute on this order has already ended with a decision; the payment is settled."
    ),
    Ineligible.account_closed: "This account was closed after an investigation.",
}


def eligibility(
    *,
    window: Window | None,
    now: datetime,
    has_active_dispute: bool,
    has_resolved_dispute: bool,
    payment_status: PaymentStatus,
    account_closed: bool,
) -> Ineligible | None:
    """R1, R6, R9, R10: None means a dispute may be opened now."""
    if account_closed:
        return Ineligible.account_closed
    if has_active_dispute:
        return Ineligible.dispute_already_open
    if has_resolved_dispute or payment_status is PaymentStatus.refunded:
        return Ineligible.order_already_resolved
    if window is None:
        return Ineligible.no_tracking_yet
    # Released without a dispute means the period ended: an open whose clock read came a
    # moment before the release must not put a dispute on money the seller already has.
    if now > window.ends_at or payment_status is PaymentStatus.released:
        return Ineligible.protection_expired
    return None


def not_received_blocked_by_customs(reason: DisputeReason, shipping_status: ShippingStatus) -> bool:
    """R8: a package held in customs is a matter for the carrier, not a dispute."""
    return reason is DisputeReason.not_received and shipping_status is ShippingStatus.in_customs


class RefundProblem(StrEnum):
    not_positive = "not_positive"
    above_order_amount = "above_order_amount"
    full_must_equal_amount = "full_must_equal_amount"
    partial_must_be_less = "partial_must_be_less"


def check_refund(
    amount: Decimal, order_amount: Decimal, requested: RequestedOutcome | None = None
) -> RefundProblem | None:
    if amount <= 0:
        return RefundProblem.not_positive
    if amount > order_amount:
        return RefundProblem.above_order_amount
    if requested is RequestedOutcome.full_refund and amount != order_amount:
        return RefundProblem.full_must_equal_amount
    if requested is RequestedOutcome.partial_refund and amount >= order_amount:
        return RefundProblem.partial_must_be_less
    return None


def negotiation_ends_at(opened_at: datetime, rules: RuleSettings) -> datetime:
    return opened_at + timedelta(days=rules.negotiation_days)


def due_for_mediation(state: DisputeState, negotiation_end: datetime, now: datetime) -> bool:
    """R3: after exactly N days without agreement the platform mediates."""
    return state is DisputeState.negotiation and now >= negotiation_end


def carrier_response_due_at(mediation_started_at: datetime, rules: RuleSettings) -> datetime:
    return mediation_started_at + timedelta(days=rules.carrier_response_days)


def due_for_not_received_refund(
    *,
    reason: DisputeReason,
    state: DisputeState,
    mediation_started_at: datetime | None,
    shipping_status: ShippingStatus,
    now: datetime,
    rules: RuleSettings,
) -> bool:
    """R8: the platform refunds when carrier and seller gave no satisfactory information.

    A delivery scan is information an operator must weigh, so it stops the automatic refund.
    """
    return (
        reason is DisputeReason.not_received
        and state is DisputeState.mediation
        and mediation_started_at is not None
        and shipping_status is not ShippingStatus.delivered
        and now >= carrier_response_due_at(mediation_started_at, rules)
    )


def due_for_release(
    *,
    payment_status: PaymentStatus,
    window: Window | None,
    has_active_dispute: bool,
    now: datetime,
) -> bool:
    """R6/R8: a held payment goes to the seller once the protection period is over and no
    dispute is in progress (a cancelled dispute does not release it early)."""
    return (
        payment_status is PaymentStatus.held
        and window is not None
        and now > window.ends_at
        and not has_active_dispute
    )


def needs_abuse_review(*, disputes: int, purchases: int, rules: RuleSettings) -> bool:
    """R9: many disputes on few purchases gets an operator's review, never a closure."""
    if purchases < rules.abuse_min_purchases:
        return False
    return Decimal(disputes) >= rules.abuse_share * Decimal(purchases)


# Allowed transitions of a dispute: (state, actor action) -> allowed?
IN_PROGRESS = (DisputeState.negotiation, DisputeState.mediation)


def can_buyer_change(state: DisputeState) -> bool:
    """R4/R6: modify or cancel while in progress."""
    return state in IN_PROGRESS


def can_seller_respond(state: DisputeState) -> bool:
    """Sellers accept, reject or counter while the parties may still agree."""
    return state in IN_PROGRESS


def can_platform_decide(state: DisputeState) -> bool:
    """R3: the platform decides only once the dispute is mediated."""
    return state is DisputeState.mediation


def can_add_evidence(state: DisputeState) -> bool:
    """R5: evidence while the dispute is in progress."""
    return state in IN_PROGRESS


def status_label(state: DisputeState) -> Literal["Dispute in progress", "Dispute ended"]:
    """What the buyer is shown of a dispute's state (R7): the only two statuses they see."""
    return "Dispute ended" if state is DisputeState.ended else "Dispute in progress"
