"""Request and response shapes (these are what /openapi.json shows)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from ..enums import (
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
    TicketOutcome,
    TicketState,
)
from ..models import ORDER_ID_PATTERN

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
    """A request body: no unknown fields, and no NUL character in any text (PostgreSQL
    refuses one in a string, so it would fail as a server error rather than as bad input)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: object) -> object:
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Health(BaseModel):
    status: str


class BuyerSummary(BaseModel):
    id: str
    name: str
    email: str
    orders_count: int


class ChatTokenRequest(Strict):
    """A token for a new chat session (bound to `conversation_id` if given, otherwise to the
    first conversation that uses it), or another token for an open `session_id`."""

    buyer_id: str = Field(min_length=1, max_length=40)
    conversation_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    session_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


class ChatToken(BaseModel):
    token: str
    expires_at: datetime
    session_id: str
    conversation_id: str | None


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
    order_id: str = Field(min_length=1, max_length=32, pattern=ORDER_ID_PATTERN)
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


# --- human handoff (api/handoff.py) ---------------------------------------------------


class HandoffRequest(Strict):
    conversation_id: str = Field(min_length=1, max_length=255)
    channel: str = Field(default="unknown", min_length=1, max_length=40)
    reason: str = Field(default="user_request", min_length=1, max_length=40)


class TicketStatus(BaseModel):
    """What the assistant tells the buyer."""

    ticket_id: int
    state: TicketState
    created: bool
    position: int | None
    estimated_wait_minutes: int
    operators_online: int
    expected_when: str | None  # said when no operator is online
    operator_id: str | None
    operator_name: str | None


class TicketOut(BaseModel):
    id: int
    conversation_id: str
    channel: str
    buyer_id: str | None
    buyer_name: str | None
    reason: str
    state: TicketState
    operator_id: str | None
    position: int | None
    created_at: datetime
    assigned_at: datetime | None
    closed_at: datetime | None
    outcome: TicketOutcome | None = None  # handled | withdrawn, once closed
    version: int


class TicketMessageOut(BaseModel):
    id: int
    party: str
    author_id: str | None
    body: str
    created_at: datetime


class BuyerOut(BaseModel):
    id: str
    name: str
    email: str
    account_status: str
    under_review: bool


class TicketDetail(TicketOut):
    buyer: BuyerOut | None
    orders: list[OrderOut]
    disputes: list[DisputeOut]
    transcript: list[TicketMessageOut]


class QueueOut(BaseModel):
    operators_online: int
    tickets: list[TicketOut]


class ClosedConversation(BaseModel):
    conversation_id: str
    closed_at: datetime


class PasswordCheck(Strict):
    operator_id: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)
    # The operator's address as the console saw it (the console is the caller here); the
    # caller's own address when absent.
    client_address: str | None = Field(default=None, min_length=1, max_length=64)


class OperatorOut(BaseModel):
    id: str
    name: str
    email: str
    online: bool


class Presence(Strict):
    online: bool = True


class Transfer(Strict):
    operator_id: str = Field(min_length=1, max_length=40)


class OperatorMessage(Strict):
    body: str = Field(min_length=1, max_length=4000)


class UserMessage(Strict):
    body: str = Field(min_length=1, max_length=4000)
    at: datetime


class UserMessages(Strict):
    messages: list[UserMessage] = Field(max_length=500)


class StoredMessages(RootModel[list[TicketMessageOut]]):
    pass


# --- problems ------------------------------------------------------------------------------


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def problem_response(description: str) -> dict[str, object]:
    return {
        "description": description + " (RFC 9457 problem; see `type`)",
        "model": Problem,
        "content": {"application/problem+json": {}},
    }


# Documented on every API route in /openapi.json; the slugs are listed in backend/README.md.
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    400: problem_response("Malformed JSON or missing Idempotency-Key"),
    401: problem_response("Missing or wrong credentials, or an invalid chat token"),
    404: problem_response("Not found (also another buyer's order or dispute)"),
    409: problem_response("Not allowed in the current state"),
    412: problem_response("Stale If-Match version"),
    422: problem_response("Invalid input or a rule refuses it"),
}
