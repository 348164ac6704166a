"""Helpers to build a small tracker inline, as rasa-sdk's own tests do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import Credential, Dispute, NewDispute
from actions.settings import get_settings
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

TOKEN = "token-alice"
ORDER = "8123456789012345"  # make_order's default
ALICE = Credential(TOKEN, "conversation-1")
PHOTO = {"channel": "telegram", "kind": "photo", "file_id": "F1", "caption": "the crack"}
# The change form's answers, confirmed: a partial refund of 10.00, the item kept.
CHANGE = {
    "order_id": ORDER,
    "requested_outcome": "partial_refund",
    "refund_amount": "10.00",
    "with_return": False,
    "change_confirmed": True,
}
# The dispute form's questions, in domain.yml's order.
DISPUTE_FORM_QUESTIONS = (
    "order_id",
    "dispute_reason",
    "requested_outcome",
    "refund_amount",
    "with_return",
    "dispute_description",
    "dispute_confirmed",
)


def user_event(
    text: str,
    intent: str = "inform",
    token: str | None = TOKEN,
    entities: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": entities or []},
        "metadata": {"chat_token": token} if token else {},
    }


def make_tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "hi",
    intent: str = "inform",
    token: str | None = TOKEN,
    entities: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    requested_slot: str | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    latest = user_event(text, intent, token, entities)
    all_slots = {"requested_slot": requested_slot, **(slots or {})}
    return Tracker(
        "conversation-1",
        all_slots,
        {**latest["parse_data"], "text": text, "message_id": "m1", "metadata": latest["metadata"]},
        [*(events or []), latest],
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def open_one(backend: InMemoryDisputeBackend, order_id: str = ORDER) -> Dispute:
    """Alice opens a dispute on the order: a full refund for an item broken on arrival."""
    request = NewDispute(order_id, "damaged", "full_refund", None, False, "Broken on arrival.")
    return backend.open_dispute(ALICE, request, idempotency_key=f"open-{order_id}")


def open_on_new_order(backend: InMemoryDisputeBackend, order_id: str, title: str) -> Dispute:
    """Another order of Alice's, `title`, and a dispute on it as `open_one` opens one."""
    backend.add_order("alice", make_order(order_id, title=title))
    return open_one(backend, order_id)


@pytest.fixture
def backend() -> InMemoryDisputeBackend:
    fake = InMemoryDisputeBackend()
    fake.add_order("alice", make_order())
    return fake


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") for m in dispatcher.messages]


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets environment variables of the action server's settings (actions/settings.py),
    which are then read again; the next test reads its own environment afresh."""

    def setenv(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield setenv
    get_settings.cache_clear()
