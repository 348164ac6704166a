"""Domain errors, one class each (grep the name). Each carries its problem slug, status and
title; problems.py maps them all to problem+json in one handler."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://disputes.example/problems/"


class DomainError(Exception):
    slug = "internal-error"
    status = 500
    title = "Internal error"
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init__(self, detail: str = "", **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions


class DatabaseBusy(DomainError):
    """A writer waited WRITER_LOCK_TIMEOUT_SECONDS for the database's write lock."""

    slug = "database-busy"
    status = 503
    title = "Database busy, retry"
    retry_after = 1


# --- Who is calling ------------------------------------------------------------------


class Unauthenticated(DomainError):
    slug = "unauthenticated"
    status = 401
    title = "Missing or wrong credentials"


class BuyerTokenInvalid(DomainError):
    slug = "buyer-token-invalid"
    status = 401
    title = "Missing, invalid or expired chat token"


class OperatorUnknown(DomainError):
    slug = "operator-unknown"
    status = 401
    title = "Unknown operator"


class InvalidCredentials(DomainError):
    slug = "invalid-credentials"
    status = 401
    title = "Wrong operator id or password"


class LoginThrottled(DomainError):
    slug = "login-throttled"
    status = 429
    title = "Too many sign-in attempts"


class ChannelAccountNotLinked(DomainError):
    slug = "channel-account-not-linked"
    status = 401
    title = "This channel account is not linked to a buyer"


class ChannelAccountInvalid(DomainError):
    slug = "channel-account-invalid"
    status = 400
    title = "A channel account must read <channel>:<user id>"


class ChannelIdentityInvalid(DomainError):
    slug = "channel-identity-invalid"
    status = 401
    title = "Missing, invalid or expired channel identity"


class ChatSessionNotFound(DomainError):
    slug = "chat-session-not-found"
    status = 404
    title = "Chat session not found"


class LinkCodeRateLimited(DomainError):
    slug = "link-code-rate-limited"
    status = 429
    title = "Too many codes asked for"


class LinkCodeWrong(DomainError):
    slug = "link-code-wrong"
    status = 422
    title = "Wrong code"


class LinkCodeExpired(DomainError):
    slug = "link-code-expired"
    status = 422
    title = "No valid code: ask for a new one"


class LinkCodeAttemptsExceeded(DomainError):
    slug = "link-code-attempts-exceeded"
    status = 422
    title = "Too many wrong codes: ask for a new one"


# --- Not found (also what belongs to someone else) -----------------------------------


class NotFound(DomainError):
    slug = "not-found"
    status = 404
    title = "Not found"


class OrderNotFound(DomainError):
    slug = "order-not-found"
    status = 404
    title = "Order not found"


class DisputeNotFound(DomainError):
    slug = "dispute-not-found"
    status = 404
    title = "Dispute not found"


class BuyerNotFound(DomainError):
    slug = "buyer-not-found"
    status = 404
    title = "Buyer not found"


class ReviewNotFound(DomainError):
    slug = "abuse-review-not-found"
    status = 404
    title = "Abuse review not found"


class TicketNotFound(DomainError):
    slug = "handoff-ticket-not-found"
    status = 404
    title = "Handoff ticket not found"


# --- The rules refuse it (docs/rules.md) ---------------------------------------------


class NoTrackingYet(DomainError):
    slug = "no-tracking-yet"
    status = 422
    title = "Protection period not started"


class ProtectionExpired(DomainError):
    slug = "protection-expired"
    status = 422
    title = "Protection period over"


class DisputeAlreadyOpen(DomainError):
    slug = "dispute-already-open"
    status = 409
    title = "A dispute is already in progress"


class OrderAlreadyResolved(DomainError):
    slug = "order-already-resolved"
    status = 409
    title = "The order's dispute already ended"


class AccountClosed(DomainError):
    slug = "account-closed"
    status = 403
    title = "Account closed"


class PackageInCustoms(DomainError):
    slug = "package-in-customs"
    status = 422
    title = "Package held in customs"


class InvalidRefundAmount(DomainError):
    slug = "invalid-refund-amount"
    status = 422
    title = "Invalid refund amount"


class TransitionNotAllowed(DomainError):
    slug = "transition-not-allowed"
    status = 409
    title = "Not allowed in the current state"


class NoPendingProposal(DomainError):
    slug = "no-pending-proposal"
    status = 409
    title = "No pending proposal to answer"


# --- Versions and idempotent writes --------------------------------------------------


class VersionConflict(DomainError):
    slug = "version-conflict"
    status = 412
    title = "The dispute changed since you read it"


class PreconditionRequired(DomainError):
    slug = "precondition-required"
    status = 428
    title = "If-Match with the version required"


class IdempotencyKeyMissing(DomainError):
    slug = "idempotency-key-missing"
    status = 400
    title = "Idempotency-Key header required"


class IdempotencyKeyReused(DomainError):
    slug = "idempotency-key-reused"
    status = 422
    title = "Idempotency-Key already used for another request"


# --- Evidence ------------------------------------------------------------------------


class EvidenceTypeNotAllowed(DomainError):
    slug = "evidence-type-not-allowed"
    status = 415
    title = "File type not allowed"


class EvidenceTooLarge(DomainError):
    slug = "evidence-too-large"
    status = 413
    title = "File too large"


class EvidenceLimitReached(DomainError):
    slug = "evidence-limit-reached"
    status = 409
    title = "Too many files on this dispute"


# --- Input ---------------------------------------------------------------------------


class ValidationFailed(DomainError):
    slug = "validation-error"
    status = 422
    title = "Invalid request"


# --- The handoff queue ---------------------------------------------------------------


class TicketAlreadyClaimed(DomainError):
    slug = "ticket-already-claimed"
    status = 409
    title = "Another operator claimed it first"


class TicketNotYours(DomainError):
    slug = "ticket-not-assigned-to-you"
    status = 409
    title = "The ticket is not assigned to you"
