"""A dispute told in words: its status, the seller's answer, what happens next. Read by
the skills that show disputes (manage_dispute.py, support.py)."""

from __future__ import annotations

from actions.backend_client import Dispute
from actions.common import format_date

RESOLUTION_WORDS = {
    "agreement": "agreed with the seller",
    "platform_decision": "decided by our team",
    "cancellation": "cancelled",
    "timeout": "closed when a deadline passed",
}


def describe_resolution(dispute: Dispute) -> str:
    resolution = dispute.resolution or {}
    how = RESOLUTION_WORDS.get(str(resolution.get("method") or resolution.get("how") or ""), "")
    if resolution.get("outcome") == "cancelled" or how == "cancelled":
        return "cancelled"
    amount = resolution.get("refund_amount")
    currency = resolution.get("currency") or dispute.currency
    parts = []
    if amount not in (None, "0", "0.00"):
        parts.append(f"refund of {amount} {currency}".strip())
    elif amount is not None:
        parts.append("no refund")
    if resolution.get("with_return") is True:
        parts.append("with the item returned")
    elif resolution.get("with_return") is False and parts and parts[0] != "no refund":
        parts.append("without return")
    if how:
        parts.append(f"({how})")
    return " ".join(parts) or "closed"


def describe(dispute: Dispute) -> str:
    if dispute.in_progress:
        stage = "mediation by our team" if dispute.state == "mediation" else "negotiation"
        deadline = dispute.deadlines.get("negotiation_ends_at")
        if dispute.state != "mediation" and deadline:
            stage += f", our team steps in after {format_date(deadline)} without agreement"
        return f"{dispute.id} (order {dispute.order_id}): Dispute in progress, {stage}."
    return (
        f"{dispute.id} (order {dispute.order_id}): Dispute ended, {describe_resolution(dispute)}."
    )


def seller_answer(dispute: Dispute) -> str:
    """Where the seller stands on the buyer's proposal, in a sentence."""
    offer = dispute.seller_offer
    if offer.get("refund_amount") is not None:
        returning = "with the item returned" if offer.get("with_return") else "without return"
        return (
            f"The seller offers a refund of {offer['refund_amount']} {dispute.currency} "
            f"{returning}."
        )
    decided = format_date(dispute.proposal_decided_at) if dispute.proposal_decided_at else ""
    if dispute.proposal_status == "rejected":
        return f"The seller rejected your proposal{' on ' + decided if decided else ''}."
    if dispute.proposal_status == "accepted":
        return "The seller accepted your proposal."
    return "The seller hasn't answered your proposal yet."


def next_step(dispute: Dispute) -> str:
    """What happens next, with its date."""
    deadlines = dispute.deadlines
    if dispute.state == "mediation":
        since = deadlines.get("mediation_started_at")
        started = f" since {format_date(since)}" if since else ""
        return f"Our team has been mediating{started} and will decide."
    ends = deadlines.get("negotiation_ends_at")
    if ends:
        return f"If you haven't agreed by {format_date(ends)}, our team steps in and decides."
    return ""


def describe_detail(dispute: Dispute) -> str:
    """One dispute in full: status, the seller's answer, what comes next."""
    title = dispute.order_title or "order"
    head = f"{dispute.id} on the {title} (order {dispute.order_id})"
    if dispute.in_progress:
        return " ".join(
            filter(None, (f"{head}: in progress.", seller_answer(dispute), next_step(dispute)))
        )
    text = f"{head}: ended, {describe_resolution(dispute)}."
    protection = dispute.deadlines.get("protection_ends_at")
    if describe_resolution(dispute) == "cancelled" and protection:
        text += (
            f" The payment stays with us until the protection period ends on "
            f"{format_date(protection)}; until then you can open a new dispute."
        )
    return text
