"""The HTTP client against a real server on loopback: what it sends to prove who the buyer
is, path ids kept to one segment, and a write that timed out sent once more with the same
Idempotency-Key (the backend answers a committed write from its record)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from actions.backend_client import (
    CHANNEL_IDENTITY,
    BackendError,
    BackendUnavailable,
    BuyerNotIdentified,
    ChannelAccountNotLinked,
    Conflict,
    Credential,
    HttpDisputeBackend,
    NotFound,
    Refused,
)

DISPUTE = {
    "id": "D-1",
    "order_id": "8123456789012345",
    "reason": "damaged",
    "state": "cancelled",
    "status_label": "Dispute ended",
    "version": 2,
}


class Backend(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, dict[str, str]]]] = []
    slow_first = 0.0  # seconds the first write takes to answer
    slow_every = 0.0  # seconds every write takes to answer
    problem: ClassVar[tuple[int, str] | None] = None  # answer every call with this problem

    def _problem(self) -> bool:
        if self.problem is None:
            return False
        status, slug = self.problem
        raw = json.dumps(
            {
                "type": f"https://disputes.example/problems/{slug}",
                "title": slug,
                "status": status,
                "detail": f"because {slug}",
            }
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        return True

    def _answer(self, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, dict(self.headers)))
        if not self._problem():
            self._answer([])

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.requests.append(("POST", self.path, dict(self.headers)))
        if len([r for r in self.requests if r[0] == "POST"]) == 1 and self.slow_first:
            time.sleep(self.slow_first)
        time.sleep(self.slow_every)
        if not self._problem():
            self._answer(DISPUTE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[str]:
    Backend.requests, Backend.slow_first, Backend.slow_every = [], 0.0, 0.0
    Backend.problem = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_proof_and_its_conversation_go_with_every_call(backend: str) -> None:
    client = HttpDisputeBackend(backend, "service", timeout=2)
    client.disputes(Credential("chat-token-1", "0" * 32))
    client.disputes(Credential("signed-identity", "telegram:42", kind=CHANNEL_IDENTITY))
    (_, _, web), (_, _, telegram) = Backend.requests
    assert (web["X-Buyer-Token"], web["X-Conversation-Id"]) == ("chat-token-1", "0" * 32)
    assert "X-Channel-Identity" not in web
    assert telegram["X-Channel-Identity"] == "signed-identity"
    assert telegram["X-Conversation-Id"] == "telegram:42"
    assert "X-Buyer-Token" not in telegram and "X-Channel-Account" not in telegram


def test_an_id_typed_by_a_buyer_stays_one_path_segment(backend: str) -> None:
    client = HttpDisputeBackend(backend, "service", timeout=2)
    buyer = Credential("t", "c")
    client.cancel_dispute(buyer, "D-1/../../operator/x?y=1", version=1, idempotency_key="k")
    [(_, path, _)] = Backend.requests
    assert path == "/api/v1/disputes/D-1%2F..%2F..%2Foperator%2Fx%3Fy%3D1/cancel"


def test_a_write_that_timed_out_is_sent_again_with_the_same_key(backend: str) -> None:
    Backend.slow_first = 1.0
    client = HttpDisputeBackend(backend, "service", timeout=0.4)
    dispute = client.cancel_dispute(Credential("t", "c"), "D-1", version=1, idempotency_key="k1")
    assert dispute.state == "cancelled"
    posts = [r for r in Backend.requests if r[0] == "POST"]
    assert [p[2]["Idempotency-Key"] for p in posts] == ["k1", "k1"]


def test_a_write_that_times_out_twice_is_an_outage(backend: str) -> None:
    Backend.slow_every = 1.0
    client = HttpDisputeBackend(backend, "service", timeout=0.3)
    with pytest.raises(BackendUnavailable):
        client.cancel_dispute(Credential("t", "c"), "D-1", version=1, idempotency_key="k2")
    posts = [r for r in Backend.requests if r[0] == "POST"]
    assert [p[2]["Idempotency-Key"] for p in posts] == ["k2", "k2"]  # once more, not forever


# Every problem the backend answers a buyer's call with, and what the actions catch it as.
PROBLEMS = [
    (409, "dispute-already-open", Conflict),
    (409, "order-already-resolved", Conflict),
    (409, "transition-not-allowed", Conflict),
    (409, "evidence-limit-reached", Conflict),
    (412, "version-conflict", Conflict),
    (403, "account-closed", Refused),
    (422, "no-tracking-yet", Refused),
    (422, "protection-expired", Refused),
    (422, "package-in-customs", Refused),
    (422, "invalid-refund-amount", Refused),
    (422, "idempotency-key-reused", Refused),
    (413, "evidence-too-large", Refused),
    (415, "evidence-type-not-allowed", Refused),
    (428, "precondition-required", Refused),
    (404, "dispute-not-found", NotFound),
    (404, "order-not-found", NotFound),
    (401, "buyer-token-invalid", BuyerNotIdentified),
    (401, "channel-identity-invalid", BuyerNotIdentified),
    (401, "channel-account-not-linked", ChannelAccountNotLinked),
    (401, "unauthenticated", BackendUnavailable),  # our own service token: an outage
    (429, "link-code-rate-limited", Refused),
    (503, "database-busy", BackendUnavailable),
]


@pytest.mark.parametrize(("status", "slug", "kind"), PROBLEMS)
def test_each_problem_becomes_its_typed_error(
    backend: str, status: int, slug: str, kind: type[BackendError]
) -> None:
    Backend.problem = (status, slug)
    client = HttpDisputeBackend(backend, "service", timeout=2)
    with pytest.raises(BackendError) as info:
        client.cancel_dispute(Credential("t", "c"), "D-1", version=1, idempotency_key="k")
    error = info.value
    assert (type(error), error.problem, error.status) == (kind, slug, status)
    assert error.detail == f"because {slug}"
