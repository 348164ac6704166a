"""The body Rasa sends the action server (extensions/action_calls.py): the conversation's
state in full, the events of its recent messages only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk.interfaces import Tracker

from extensions import action_calls
from extensions.rasa_patches import original

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, ask]
slots:
  order_id:
    type: text
    mappings: [{type: custom}]
"""
)
ENDPOINT = EndpointConfig(url="http://127.0.0.1:1/webhook")
RASA_FORMAT = original("rasa.core.actions.action:RemoteAction._action_call_format")


def conversation(messages: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker("buyer", DOMAIN.slots)
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(SlotSet("order_id", "8100000000000011"))  # set before every message
    for number in range(1, messages + 1):
        tracker.update(UserUttered(f"message {number}", {"name": "ask", "confidence": 1.0}))
        tracker.update(ActionExecuted("utter_answer"))
        tracker.update(BotUttered(f"answer {number}"))
        tracker.update(ActionExecuted("action_listen"))
    return tracker


def body(tracker: DialogueStateTracker, action: str = "validate_dispute_form") -> Any:
    return action_calls.action_call_format(RemoteAction(action, ENDPOINT), tracker, DOMAIN)


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "user"]


@pytest.mark.parametrize("messages", [1, action_calls.RECENT_MESSAGES])
def test_a_short_conversation_goes_exactly_as_rasa_sends_it(messages: int) -> None:
    tracker = conversation(messages)
    rasa_body = RASA_FORMAT(RemoteAction("validate_dispute_form", ENDPOINT), tracker, DOMAIN)
    assert body(tracker) == rasa_body


def test_a_long_conversation_sends_the_recent_messages_and_the_whole_state() -> None:
    tracker = conversation(60)
    sent = body(tracker)["tracker"]
    recent = action_calls.RECENT_MESSAGES
    assert texts(sent["events"]) == [f"message {n}" for n in range(61 - recent, 61)]
    assert sent["events"][0] == {**sent["events"][0], "event": "action", "name": "utter_answer"}
    assert sent["slots"]["order_id"] == "8100000000000011"  # set before the window
    assert sent["latest_message"]["text"] == "message 60"
    sdk = Tracker.from_dict(sent)
    assert sdk.get_slot("order_id") == "8100000000000011"
    assert sdk.latest_message["text"] == "message 60"


def test_the_body_stays_the_same_size_as_the_conversation_grows() -> None:
    sizes = [len(json.dumps(body(conversation(n)))) for n in (20, 60, 200)]
    assert max(sizes) - min(sizes) < 100  # the numbers in the texts grow a digit
    whole = len(json.dumps(RASA_FORMAT(RemoteAction("a", ENDPOINT), conversation(200), DOMAIN)))
    assert whole > 10 * sizes[2]


def test_the_session_start_still_reads_the_whole_session() -> None:
    tracker = conversation(40)
    sent = body(tracker, action="action_session_start")["tracker"]
    assert len(texts(sent["events"])) == 40
