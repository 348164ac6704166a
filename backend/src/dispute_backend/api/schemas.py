"""Request and response shapes (these are what /openapi.json shows)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import (
    DisputeReason,
    DisputeState,
    Outcome,
    Party,
    PaymentStatus,
    ProposalStatus,
    RequestedOutcome,
    Resolution,
    ReviewStatus,
    ShippingStatus,
)

Money = Decimal  # in requests: a number or a decimal string; negative values are refused

NextAction = Literal[
    "modify_proposal",
    "cancel",
    "upload_evidence",
    "send_message",
    "accept_seller_proposal",
    "open_new_dispute",
    "contact_customer_service",
    "wait_for_platform_decision",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: str


class BuyerSummary(BaseModel):
    id: str
    name: str
    email: str
    orders_count: int


class ChatTokenRequest(Strict):
    buyer_id: str = Field(min_length=1, max_length=40)


class ChatToken(BaseModel):
    token: str
    expires_at: datetime


class AbuseReviewState(BaseModel):
    under_review: bool
    review_opened_at: datetime | None


class Me(BaseModel):
    id: str
    name: str
    email: str
    account_status: str
    orders_count: int
    disputes_count: int
    abuse_review: AbuseReviewState


class SellerRef(BaseModel):
    id: str
    name: str


class WindowOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    is_open: bool


class OrderOut(BaseModel):
    id: str
    title: str
    amount: str
    currency: str
    seller: SellerRef
    placed_at: datetime
    tracking_number: str | None
    tracking_added_at: datetime | None
    shipping_deadline: datetime
    receipt_confirmed_at: datetime | None
    shipping_status: ShippingStatus
    payment_status: PaymentStatus
    refunded_amount: str
    protection_window: WindowOut | None
    active_dispute_id: str | None


class EligibilityOut(BaseModel):
    order_id: str
    eligible: bool
    reason_code: str
    reason: str
    window_starts_at: datetime | None
    window_ends_at: datetime | None
    active_dispute_id: str | None


class OpenDispute(Strict):
    order_id: str = Field(min_length=1, max_length=32)
    reason: DisputeReason
    requested_outcome: RequestedOutcome
    refund_amount: Money | None = Field(
        default=None, max_digits=12, decimal_places=2, description="defaults to the order amount"
    )
    with_return: bool = False
    description: str = Field(default="", max_length=4000)


class ModifyProposal(Strict):
    refund_amount: Money = Field(max_digits=12, decimal_places=2)
    with_return: bool
    request: str | None = Field(default=None, max_length=4000)


class Counter(Strict):
    refund_amount: Money = Field(max_digits=12, decimal_places=2)
    with_return: bool
    note: str = Field(default="", max_length=4000)


class Note(Strict):
    note: str = Field(default="", max_length=4000)


class PlatformDecision(Strict):
    refund_amount: Money = Field(
        max_digits=12, decimal_places=2, description="0 decides for the seller"
    )
    with_return: bool = False
    note: str = Field(default="", max_length=4000)


class ReviewDecision(Strict):
    decision: Literal["clear", "close_account"]
    note: str = Field(default="", max_length=4000)


class NewMessage(Strict):
    body: str = Field(min_length=1, max_length=4000)


class ProposalOut(BaseModel):
    id: int
    party: Party
    refund_amount: str
    with_return: bool
    request: str
    status: ProposalStatus
    created_at: datetime
    decided_at: datetime | None


class CurrentProposals(BaseModel):
    buyer: ProposalOut | None
    seller: ProposalOut | None
    platform: ProposalOut | None


class ResolutionOut(BaseModel):
    how: Resolution
    outcome: Outcome
    refund_amount: str
    with_return: bool
    decided_at: datetime


class Deadlines(BaseModel):
    negotiation_ends_at: datetime
    mediation_started_at: datetime | None
    carrier_response_due_at: datetime | None
    protection_ends_at: datetime | None


class DisputeOut(BaseModel):
    id: str
    order_id: str
    order_title: str
    order_amount: str
    currency: str
    reason: DisputeReason
    description: str
    state: DisputeState
    status_label: Literal["Dispute in progress", "Dispute ended"]
    requested_outcome: RequestedOutcome
    outcome: Outcome | None
    resolution: ResolutionOut | None
    proposals: CurrentProposals
    proposal_history: list[ProposalOut]
    deadlines: Deadlines
    opened_at: datetime
    ended_at: datetime | None
    version: int
    next_actions: list[NextAction]


class EvidenceOut(BaseModel):
    id: int
    party: Party
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    description: str
    created_at: datetime


class MessageOut(BaseModel):
    id: int
    party: Party
    author_id: str
    body: str
    created_at: datetime


class EventOut(BaseModel):
    occurred_at: datetime
    actor_type: str
    actor_id: str
    kind: str
    data: dict[str, object]


class AbuseReviewOut(BaseModel):
    id: int
    buyer_id: str
    status: ReviewStatus
    disputes_count: int
    orders_count: int
    opened_at: datetime
    decided_at: datetime | None
    operator_id: str | None
    note: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def _problem(description: str) -> dict[str, object]:
    return {
        "description": description + " (RFC 9457 problem; see `type`)",
        "model": Problem,
        "content": {"application/problem+json": {}},
    }


# Documented on every API route in /openapi.json; the slugs are listed in backend/README.md.
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    400: _problem("Malformed JSON or missing Idempotency-Key"),
    401: _problem("Missing or wrong credentials, or an invalid chat token"),
    404: _problem("Not found (also another buyer's order or dispute)"),
    409: _problem("Not allowed in the current state"),
    412: _problem("Stale If-Match version"),
    422: _problem("Invalid input or a rule refuses it"),
}
