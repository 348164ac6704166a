"""Domain errors. Each carries its problem slug and HTTP status; routes map them in one place."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://disputes.example/problems/"


class DomainError(Exception):
    slug = "internal-error"
    status = 500
    title = "Internal error"

    def __init__(self, detail: str = "", **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions


def _err(slug: str, status: int, title: str) -> type[DomainError]:
    name = "".join(part.capitalize() for part in slug.split("-"))
    return type(name, (DomainError,), {"slug": slug, "status": status, "title": title})


Unauthenticated = _err("unauthenticated", 401, "Missing or wrong credentials")
BuyerTokenInvalid = _err("buyer-token-invalid", 401, "Missing, invalid or expired chat token")
OperatorUnknown = _err("operator-unknown", 401, "Unknown operator")
NotFound = _err("not-found", 404, "Not found")
OrderNotFound = _err("order-not-found", 404, "Order not found")
DisputeNotFound = _err("dispute-not-found", 404, "Dispute not found")
BuyerNotFound = _err("buyer-not-found", 404, "Buyer not found")
ReviewNotFound = _err("abuse-review-not-found", 404, "Abuse review not found")
NoTrackingYet = _err("no-tracking-yet", 422, "Protection period not started")
ProtectionExpired = _err("protection-expired", 422, "Protection period over")
DisputeAlreadyOpen = _err("dispute-already-open", 409, "A dispute is already in progress")
OrderAlreadyResolved = _err("order-already-resolved", 409, "The order's dispute already ended")
AccountClosed = _err("account-closed", 403, "Account closed")
PackageInCustoms = _err("package-in-customs", 422, "Package held in customs")
InvalidRefundAmount = _err("invalid-refund-amount", 422, "Invalid refund amount")
TransitionNotAllowed = _err("transition-not-allowed", 409, "Not allowed in the current state")
NoPendingProposal = _err("no-pending-proposal", 409, "No pending proposal to answer")
VersionConflict = _err("version-conflict", 412, "The dispute changed since you read it")
PreconditionRequired = _err("precondition-required", 428, "If-Match with the version required")
IdempotencyKeyMissing = _err("idempotency-key-missing", 400, "Idempotency-Key header required")
IdempotencyKeyReused = _err(
    "idempotency-key-reused", 422, "Idempotency-Key already used for another request"
)
EvidenceTypeNotAllowed = _err("evidence-type-not-allowed", 415, "File type not allowed")
EvidenceTooLarge = _err("evidence-too-large", 413, "File too large")
EvidenceLimitReached = _err("evidence-limit-reached", 409, "Too many files on this dispute")
ValidationFailed = _err("validation-error", 422, "Invalid request")
InvalidCredentials = _err("invalid-credentials", 401, "Wrong operator id or password")
TicketNotFound = _err("handoff-ticket-not-found", 404, "Handoff ticket not found")
TicketAlreadyClaimed = _err("ticket-already-claimed", 409, "Another operator claimed it first")
TicketNotYours = _err("ticket-not-assigned-to-you", 409, "The ticket is not assigned to you")
ChannelAccountNotLinked = _err(
    "channel-account-not-linked", 401, "This channel account is not linked to a buyer"
)
ChannelAccountInvalid = _err(
    "channel-account-invalid", 400, "X-Channel-Account must read <channel>:<user id>"
)
LinkCodeRateLimited = _err("link-code-rate-limited", 429, "Too many codes asked for")
LinkCodeWrong = _err("link-code-wrong", 422, "Wrong code")
LinkCodeExpired = _err("link-code-expired", 422, "No valid code: ask for a new one")
LinkCodeAttemptsExceeded = _err(
    "link-code-attempts-exceeded", 422, "Too many wrong codes: ask for a new one"
)
