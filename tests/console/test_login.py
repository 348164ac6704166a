"""Signing in to the console: throttled by the backend per operator id and per address (the
console passes the operator's address on), with a clear message and Retry-After."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conftest import Console
from dispute_backend.models import LoginThrottle, PasswordCheckSlot

PER_OPERATOR, PER_CLIENT = 3, 4
TOO_MANY = "Too many sign-in attempts. Try again in 15 minutes."


@pytest.fixture
def backend_overrides() -> dict[str, Any]:
    # Small limits: each failed try costs a real Argon2 hash.
    return {"login_failures_per_operator": PER_OPERATOR, "login_failures_per_client": PER_CLIENT}


def test_wrong_password_then_throttled_with_a_clear_message(console: Console) -> None:
    attacker = console.browser("127.0.0.2")
    for _ in range(PER_OPERATOR):
        wrong = attacker.sign_in("op-marta", "guess")
        assert wrong.status_code == 401 and "Wrong operator id or password." in wrong.text

    started = time.monotonic()
    for _ in range(10):
        refused = attacker.sign_in("op-marta", "guess")
        assert refused.status_code == 429
    assert time.monotonic() - started < 5
    assert TOO_MANY in refused.text and refused.headers["retry-after"] == "900"
    assert 'role="alert"' in refused.text
    # The right password waits too, from anywhere: the operator id is what is throttled.
    assert console.browser("127.0.0.5").sign_in("op-marta").status_code == 429

    jordi = console.browser("127.0.0.3")  # another operator is not locked out
    assert jordi.sign_in("op-jordi").status_code == 303
    assert jordi.page("/").status_code == 200

    console.backend.clock.advance(timedelta(minutes=15))
    marta = console.browser("127.0.0.2")
    assert marta.sign_in("op-marta").status_code == 303
    assert "Marta Vidal" in marta.page("/").text


def test_the_operators_address_is_what_the_backend_counts(console: Console) -> None:
    attacker = console.browser("127.0.0.2")
    for n in range(PER_CLIENT):
        assert attacker.sign_in(f"op-guess-{n}", "guess").status_code == 401
    with console.backend.session() as s:
        keys = set(s.scalars(select(LoginThrottle.key)))
    assert "client:127.0.0.2" in keys
    # From that address even a real operator waits; from another one, not.
    assert console.browser("127.0.0.2").sign_in("op-jordi").status_code == 429
    assert console.browser("127.0.0.4").sign_in("op-jordi").status_code == 303


def test_too_many_checks_at_once_asks_to_retry_in_a_moment(console: Console) -> None:
    until = console.backend.clock.now() + timedelta(seconds=30)
    with console.backend.session() as s:  # other processes are checking passwords right now
        for n in range(console.backend.settings.login_concurrent_checks):
            s.add(PasswordCheckSlot(slot=n, holder=f"other-{n}", taken_until=until))
        s.commit()
    busy = console.browser().sign_in("op-marta")
    assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
    assert "Too many sign-ins at this moment. Try again in a few seconds." in busy.text
