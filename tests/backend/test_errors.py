"""Every domain error is a class of its own, and answers with the problem it always did.

The table is the wire contract as it stood when the errors were made by a factory: the
problem type, status and title each class sends. A class added later must be added here."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dispute_backend import errors, problems

WIRE = [
    ("Unauthenticated", "unauthenticated", 401, "Missing or wrong credentials"),
    ("BuyerTokenInvalid", "buyer-token-invalid", 401, "Missing, invalid or expired chat token"),
    ("OperatorUnknown", "operator-unknown", 401, "Unknown operator"),
    ("NotFound", "not-found", 404, "Not found"),
    ("OrderNotFound", "order-not-found", 404, "Order not found"),
    ("DisputeNotFound", "dispute-not-found", 404, "Dispute not found"),
    ("BuyerNotFound", "buyer-not-found", 404, "Buyer not found"),
    ("ReviewNotFound", "abuse-review-not-found", 404, "Abuse review not found"),
    ("NoTrackingYet", "no-tracking-yet", 422, "Protection period not started"),
    ("ProtectionExpired", "protection-expired", 422, "Protection period over"),
    ("DisputeAlreadyOpen", "dispute-already-open", 409, "A dispute is already in progress"),
    ("OrderAlreadyResolved", "order-already-resolved", 409, "The order's dispute already ended"),
    ("AccountClosed", "account-closed", 403, "Account closed"),
    ("PackageInCustoms", "package-in-customs", 422, "Package held in customs"),
    ("InvalidRefundAmount", "invalid-refund-amount", 422, "Invalid refund amount"),
    ("TransitionNotAllowed", "transition-not-allowed", 409, "Not allowed in the current state"),
    ("NoPendingProposal", "no-pending-proposal", 409, "No pending proposal to answer"),
    ("VersionConflict", "version-conflict", 412, "The dispute changed since you read it"),
    ("PreconditionRequired", "precondition-required", 428, "If-Match with the version required"),
    ("IdempotencyKeyMissing", "idempotency-key-missing", 400, "Idempotency-Key header required"),
    (
        "IdempotencyKeyReused",
        "idempotency-key-reused",
        422,
        "Idempotency-Key already used for another request",
    ),
    ("EvidenceTypeNotAllowed", "evidence-type-not-allowed", 415, "File type not allowed"),
    ("EvidenceTooLarge", "evidence-too-large", 413, "File too large"),
    ("EvidenceLimitReached", "evidence-limit-reached", 409, "Too many files on this dispute"),
    ("ValidationFailed", "validation-error", 422, "Invalid request"),
    ("InvalidCredentials", "invalid-credentials", 401, "Wrong operator id or password"),
    ("LoginThrottled", "login-throttled", 429, "Too many sign-in attempts"),
    ("TicketNotFound", "handoff-ticket-not-found", 404, "Handoff ticket not found"),
    ("TicketAlreadyClaimed", "ticket-already-claimed", 409, "Another operator claimed it first"),
    ("TicketNotYours", "ticket-not-assigned-to-you", 409, "The ticket is not assigned to you"),
    (
        "ChannelAccountNotLinked",
        "channel-account-not-linked",
        401,
        "This channel account is not linked to a buyer",
    ),
    (
        "ChannelAccountInvalid",
        "channel-account-invalid",
        400,
        "A channel account must read <channel>:<user id>",
    ),
    (
        "ChannelIdentityInvalid",
        "channel-identity-invalid",
        401,
        "Missing, invalid or expired channel identity",
    ),
    ("ChatSessionNotFound", "chat-session-not-found", 404, "Chat session not found"),
    ("LinkCodeRateLimited", "link-code-rate-limited", 429, "Too many codes asked for"),
    ("LinkCodeWrong", "link-code-wrong", 422, "Wrong code"),
    ("LinkCodeExpired", "link-code-expired", 422, "No valid code: ask for a new one"),
    (
        "LinkCodeAttemptsExceeded",
        "link-code-attempts-exceeded",
        422,
        "Too many wrong codes: ask for a new one",
    ),
    ("DatabaseBusy", "database-busy", 503, "Database busy, retry"),
]


def _domain_errors() -> dict[str, type[errors.DomainError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.DomainError) and cls is not errors.DomainError
    }


def test_every_error_class_is_in_the_table() -> None:
    assert sorted(_domain_errors()) == sorted(name for name, *_ in WIRE)


def test_each_class_is_declared_in_the_module_under_its_own_name() -> None:
    for name, cls in _domain_errors().items():
        assert cls.__name__ == name
        assert cls.__module__ == errors.__name__


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/raise/{name}")
    async def _raise(name: str) -> None:
        raise getattr(errors, name)()

    return TestClient(app)


@pytest.mark.parametrize(("name", "slug", "status", "title"), WIRE)
def test_problem_body_is_unchanged(
    client: TestClient, name: str, slug: str, status: int, title: str
) -> None:
    response = client.get(f"/raise/{name}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": f"https://disputes.example/problems/{slug}",
        "title": title,
        "status": status,
        "detail": title,
        "instance": f"/raise/{name}",
    }
