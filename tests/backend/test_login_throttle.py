"""Console sign-in throttling: failed tries per operator id and per client address, and a cap
on password checks at once; a refused try answers 429 with Retry-After and hashes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.clock import FrozenClock
from dispute_backend.models import PasswordCheckSlot
from dispute_backend.services import handoff
from dispute_backend.settings import Settings

VERIFY = "/api/v1/operator/verify-password"
CONSOLE = {"Authorization": f"Bearer {f.CONSOLE_TOKEN}"}
RIGHT = "right-password-1"
PER_OPERATOR, PER_CLIENT = 3, 5  # small: each failed try costs a real Argon2 hash


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "login_failures_per_operator": PER_OPERATOR,
            "login_failures_per_client": PER_CLIENT,
        }
    )


class CountingHasher(PasswordHasher):
    """The real Argon2 hasher, counting the hashes it computes."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.count += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.count += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(handoff, "_hasher", counting)
    return counting


@pytest.fixture
def operators(session: Session, hasher: CountingHasher) -> None:
    for oid in ("op-t1", "op-t2"):
        f.operator(session, oid).password_hash = handoff.hash_password(RIGHT)
    session.commit()  # kept when a refused request rolls its work back
    hasher.count = 0


def sign_in(client: TestClient, operator_id: str, password: str, address: str) -> Any:
    body = {"operator_id": operator_id, "password": password, "client_address": address}
    return client.post(VERIFY, json=body, headers=CONSOLE)


def test_a_flood_is_refused_without_hashing_and_the_right_password_works_after_the_block(
    client: TestClient, operators: None, hasher: CountingHasher, clock: FrozenClock
) -> None:
    for _ in range(PER_OPERATOR):
        assert sign_in(client, "op-t1", "guess", "198.51.100.7").status_code == 401
    assert hasher.count == PER_OPERATOR

    for n in range(50):
        refused = sign_in(client, "op-t1", "guess", f"203.0.113.{n}")  # any address
        assert refused.status_code == 429
    assert hasher.count == PER_OPERATOR  # fifty refusals, no Argon2 among them
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/login-throttled")
    assert refused.headers["retry-after"] == "900"  # login_block_seconds
    assert "15 minutes" in refused.json()["detail"]
    # Even the right password waits for the block to end.
    assert sign_in(client, "op-t1", RIGHT, "198.51.100.7").status_code == 429

    clock.advance(timedelta(minutes=10))
    assert sign_in(client, "op-t1", RIGHT, "198.51.100.7").headers["retry-after"] == "300"
    clock.advance(timedelta(minutes=5))
    assert sign_in(client, "op-t1", RIGHT, "198.51.100.7").status_code == 200
    # Signed in, the operator's count starts again from zero.
    for _ in range(PER_OPERATOR - 1):
        assert sign_in(client, "op-t1", "guess", "198.51.100.7").status_code == 401
    assert sign_in(client, "op-t1", RIGHT, "198.51.100.7").status_code == 200


def test_another_operator_is_not_locked_out_by_an_attack_on_one(
    client: TestClient, operators: None
) -> None:
    for n in range(PER_OPERATOR):
        sign_in(client, "op-t1", "guess", f"203.0.113.{n}")
    assert sign_in(client, "op-t1", RIGHT, "198.51.100.1").status_code == 429
    assert sign_in(client, "op-t2", RIGHT, "198.51.100.1").status_code == 200


def test_one_address_trying_many_operator_ids_is_refused_and_others_are_not(
    client: TestClient, operators: None, hasher: CountingHasher, clock: FrozenClock
) -> None:
    for n in range(PER_CLIENT):  # one try per id
        assert sign_in(client, f"op-guess-{n}", "guess", "192.0.2.66").status_code == 401
    hashes = hasher.count
    refused = sign_in(client, "op-t2", RIGHT, "192.0.2.66")
    assert refused.status_code == 429 and hasher.count == hashes
    assert sign_in(client, "op-t2", RIGHT, "192.0.2.67").status_code == 200
    clock.advance(timedelta(minutes=15))
    assert sign_in(client, "op-t2", RIGHT, "192.0.2.66").status_code == 200


def test_failures_outside_the_window_are_forgotten(
    client: TestClient, operators: None, clock: FrozenClock
) -> None:
    for _ in range(PER_OPERATOR - 1):
        assert sign_in(client, "op-t1", "guess", "198.51.100.9").status_code == 401
    clock.advance(timedelta(minutes=16))  # past login_failure_window_seconds
    for _ in range(PER_OPERATOR - 1):
        assert sign_in(client, "op-t1", "guess", "198.51.100.9").status_code == 401
    assert sign_in(client, "op-t1", RIGHT, "198.51.100.9").status_code == 200


def test_password_checks_at_once_are_capped_across_processes(
    client: TestClient,
    session: Session,
    operators: None,
    hasher: CountingHasher,
    clock: FrozenClock,
) -> None:
    # Other processes are in the middle of four checks (login_concurrent_checks).
    until = clock.now() + timedelta(seconds=30)
    for n in range(4):
        session.add(PasswordCheckSlot(slot=n, holder=f"other-{n}", taken_until=until))
    session.commit()
    busy = sign_in(client, "op-t1", RIGHT, "198.51.100.3")
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert busy.json()["type"].endswith("/login-throttled") and hasher.count == 0
    # A process that died mid-check holds its slot only until the lease ends.
    clock.advance(timedelta(seconds=31))
    assert sign_in(client, "op-t1", RIGHT, "198.51.100.3").status_code == 200
    slot = session.get(PasswordCheckSlot, 0, populate_existing=True)
    assert slot is not None and slot.holder is None  # taken, then freed


def test_without_an_address_the_callers_own_counts(client: TestClient, operators: None) -> None:
    for n in range(PER_CLIENT):
        body = {"operator_id": f"op-nobody-{n}", "password": "guess"}
        assert client.post(VERIFY, json=body, headers=CONSOLE).status_code == 401
    body = {"operator_id": "op-t2", "password": RIGHT}
    assert client.post(VERIFY, json=body, headers=CONSOLE).status_code == 429
