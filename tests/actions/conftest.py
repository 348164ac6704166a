"""Helpers to build a small tracker inline, as rasa-sdk's own tests do."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import Credential
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

TOKEN = "token-alice"
ORDER = "8123456789012345"  # make_order's default
ALICE = Credential(TOKEN, "conversation-1")
PHOTO = {"channel": "telegram", "kind": "photo", "file_id": "F1", "caption": "the crack"}


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
