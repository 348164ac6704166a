"""Asking for a person: what the backend is told, and each answer the buyer reads while
waiting, word for word (docs/handoff.md)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import ActionExecuted, ConversationPaused, Restarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import HandoffTicket
from actions.handoff import ActionRequestHandoff, ActionRestart, ActionSessionStart, announce
from tests.actions.conftest import make_tracker
from tests.actions.fake_backend import InMemoryDisputeBackend


def ticket(**changes: Any) -> HandoffTicket:
    fields: dict[str, Any] = {
        "ticket_id": 1,
        "state": "waiting",
        "created": True,
        "position": 3,
        "estimated_wait_minutes": 12,
        "operators_online": 2,
        "expected_when": None,
        "operator_name": None,
    }
    return HandoffTicket(**{**fields, **changes})


def said(ticket: HandoffTicket) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    announce(dispatcher, ticket)
    keep = ("response", "operator", "position", "wait_minutes", "expected_when")
    return [{k: m[k] for k in keep if k in m} for m in dispatcher.messages]


def test_the_actions_have_their_domain_names() -> None:
    backend = InMemoryDisputeBackend()
    assert ActionRequestHandoff(backend).name() == "action_request_handoff"
    assert ActionSessionStart(backend).name() == "action_session_start"
    assert ActionRestart(backend).name() == "action_restart"


def test_a_queued_buyer_reads_their_place_and_the_wait() -> None:
    assert said(ticket()) == [
        {"response": "utter_handoff_queued", "position": 3, "wait_minutes": 12}
    ]


def test_a_queue_place_unknown_reads_as_first() -> None:
    assert said(ticket(position=None))[0]["position"] == 1


def test_nobody_online_says_when_to_expect_an_answer() -> None:
    assert said(ticket(operators_online=0, expected_when="within 24 hours")) == [
        {"response": "utter_handoff_no_operators", "expected_when": "within 24 hours"}
    ]


@pytest.mark.parametrize(("position", "shown"), [(4, 4), (None, 1)])
def test_asking_again_says_the_buyer_is_already_waiting(position: int | None, shown: int) -> None:
    assert said(ticket(created=False, position=position)) == [
        {"response": "utter_handoff_already_waiting", "position": shown}
    ]


@pytest.mark.parametrize(("name", "shown"), [("Ana", "Ana"), (None, "Someone")])
def test_an_operator_who_joined_is_named(name: str | None, shown: str) -> None:
    assert said(ticket(state="assigned", operator_name=name)) == [
        {"response": "utter_handoff_operator_joined", "operator": shown}
    ]


async def test_the_backend_is_told_the_channel_and_the_reason() -> None:
    backend = InMemoryDisputeBackend()
    tracker = make_tracker({"handoff_reason": "refund_problem"})
    tracker.events[-1]["input_channel"] = "socketio"
    events = await ActionRequestHandoff(backend).run(CollectingDispatcher(), tracker, {})
    (request,) = backend.handoff_requests
    assert (request["channel"], request["reason"]) == ("socketio", "refund_problem")
    assert request["buyer"] is not None
    assert events == [
        SlotSet("handoff_reason", None),
        ConversationPaused(),
        ActionExecuted("action_listen"),
    ]


async def test_a_buyer_asking_on_no_known_channel_is_a_user_request_from_unknown() -> None:
    backend = InMemoryDisputeBackend()
    await ActionRequestHandoff(backend).run(CollectingDispatcher(), make_tracker(), {})
    (request,) = backend.handoff_requests
    assert (request["channel"], request["reason"]) == ("unknown", "user_request")


async def test_a_restart_while_waiting_keeps_the_buyer_in_the_queue() -> None:
    backend = InMemoryDisputeBackend()
    await ActionRequestHandoff(backend).run(CollectingDispatcher(), make_tracker(), {})
    dispatcher = CollectingDispatcher()
    domain = {"responses": {"utter_restart": [{"text": "Starting over."}]}}
    events = await ActionRestart(backend).run(dispatcher, make_tracker(), domain)
    assert [(m["response"], m.get("position")) for m in dispatcher.messages] == [
        ("utter_restart", None),
        ("utter_handoff_already_waiting", 1),
    ]
    assert events == [Restarted(), ConversationPaused(), ActionExecuted("action_listen")]


async def test_a_restart_with_no_handoff_is_a_plain_restart() -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionRestart(InMemoryDisputeBackend()).run(dispatcher, make_tracker(), {})
    assert dispatcher.messages == []
    assert events == [Restarted()]


async def test_a_new_session_carries_the_slots_over_unless_the_domain_says_not() -> None:
    earlier = [
        {"event": "slot", "name": "order_id", "value": "8123456789012345"},
        {"event": "slot", "name": None, "value": "x"},
    ]
    tracker = make_tracker(events=earlier)
    carried = ActionSessionStart.carried_slots(tracker, {})
    assert carried == [SlotSet("order_id", "8123456789012345")]
    assert ActionSessionStart.carried_slots(tracker, {"session_config": {}}) == carried
    config = {"session_config": {"carry_over_slots_to_new_session": False}}
    assert ActionSessionStart.carried_slots(tracker, config) == []
