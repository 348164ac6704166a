"""The handoff actions: opening a ticket, pausing, and staying paused across a new session
or a restart while the ticket is open."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    ConversationResumed,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import Credential
from actions.handoff import ActionRequestHandoff, ActionRestart, ActionSessionStart, ActionStop
from tests.actions.conftest import TOKEN, make_tracker, responses
from tests.actions.fake_backend import InMemoryDisputeBackend

DOMAIN: dict[str, Any] = {
    "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    "responses": {},
}


def socketio_tracker(slots: dict[str, Any] | None = None) -> Tracker:
    tracker = make_tracker(slots)
    tracker.events[-1]["input_channel"] = "socketio"
    return tracker


def texts(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    return [m for m in dispatcher.messages if m.get("response")]


async def waiting_for_a_person() -> InMemoryDisputeBackend:
    """A backend where the conversation has asked for a person and waits in the queue."""
    backend = InMemoryDisputeBackend()
    await ActionRequestHandoff(backend).run(CollectingDispatcher(), make_tracker(), DOMAIN)
    return backend


async def test_request_opens_a_ticket_tells_the_position_and_pauses(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    tracker = socketio_tracker({"handoff_reason": "refund_problem"})
    events = await ActionRequestHandoff(backend).run(dispatcher, tracker, DOMAIN)
    assert events == [
        SlotSet("handoff_reason", None),
        ConversationPaused(),
        ActionExecuted("action_listen"),
    ]
    assert responses(dispatcher) == ["utter_handoff_queued"]
    assert dispatcher.messages[0]["position"] == 1
    assert dispatcher.messages[0]["wait_minutes"] == 6
    request = backend.handoff_requests[0]
    assert request["reason"] == "refund_problem" and request["channel"] == "socketio"
    assert (
        request["buyer"] == Credential(TOKEN, tracker.sender_id)
        and request["conversation_id"] == tracker.sender_id
    )


async def test_reason_defaults_to_the_buyer_asking(dispatcher: CollectingDispatcher) -> None:
    backend = InMemoryDisputeBackend()
    await ActionRequestHandoff(backend).run(dispatcher, make_tracker(token=None), DOMAIN)
    assert backend.handoff_requests[0]["reason"] == "user_request"
    assert backend.handoff_requests[0]["buyer"] is None  # a person helps without a sign-in


async def test_nobody_online_says_when_to_expect_an_answer(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    backend._handoff_state()
    backend.operators_online = 0
    events = await ActionRequestHandoff(backend).run(dispatcher, make_tracker(), DOMAIN)
    assert responses(dispatcher) == ["utter_handoff_no_operators"]
    assert dispatcher.messages[0]["expected_when"] == "within 24 hours"
    assert ConversationPaused() in events  # the request is kept


async def test_asking_again_while_waiting(dispatcher: CollectingDispatcher) -> None:
    backend = await waiting_for_a_person()
    await ActionRequestHandoff(backend).run(dispatcher, make_tracker(), DOMAIN)
    assert responses(dispatcher) == ["utter_handoff_already_waiting"]
    assert dispatcher.messages[0]["position"] == 1


async def test_telegram_users_are_queued_now_that_replies_reach_them(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    tracker = make_tracker()
    tracker.events[-1]["input_channel"] = "telegram"
    events = await ActionRequestHandoff(backend).run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_handoff_queued"]
    assert ConversationPaused() in events


async def test_backend_down_apologises_and_does_not_pause(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    backend.down = True
    events = await ActionRequestHandoff(backend).run(
        dispatcher, make_tracker({"handoff_reason": "backend_unavailable"}), DOMAIN
    )
    assert responses(dispatcher) == ["utter_handoff_failed"]
    assert ConversationPaused() not in events
    # The turn ends there: nothing else is predicted after the apology.
    assert events == [FollowupAction("action_listen")]


def with_history(slots: dict[str, Any]) -> Tracker:
    history = [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]
    return make_tracker(slots, events=history)


async def test_session_start_is_rasas_default_without_a_handoff(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = with_history({"order_id": "8123456789012345"})
    events = await ActionSessionStart(InMemoryDisputeBackend()).run(dispatcher, tracker, DOMAIN)
    assert events == [
        SessionStarted(),
        SlotSet("order_id", "8123456789012345"),
        ActionExecuted("action_listen"),
    ]
    assert dispatcher.messages == []


async def test_session_start_carries_no_slots_when_the_domain_says_so(
    dispatcher: CollectingDispatcher,
) -> None:
    domain = {"session_config": {"carry_over_slots_to_new_session": False}}
    tracker = with_history({"order_id": "8123456789012345"})
    events = await ActionSessionStart(InMemoryDisputeBackend()).run(dispatcher, tracker, domain)
    assert events == [SessionStarted(), ActionExecuted("action_listen")]


async def test_an_expired_session_keeps_the_handoff(dispatcher: CollectingDispatcher) -> None:
    backend = await waiting_for_a_person()
    tracker = with_history({"order_id": "8123456789012345"})
    events = await ActionSessionStart(backend).run(dispatcher, tracker, DOMAIN)
    assert events == [
        SessionStarted(),
        SlotSet("order_id", "8123456789012345"),
        ConversationPaused(),
        ActionExecuted("action_listen"),
    ]


async def test_session_start_with_the_backend_down_falls_back_to_the_bot(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    backend.down = True
    events = await ActionSessionStart(backend).run(dispatcher, make_tracker(), DOMAIN)
    assert ConversationPaused() not in events and events[0] == SessionStarted()


async def test_restart_without_a_handoff_restarts(dispatcher: CollectingDispatcher) -> None:
    events = await ActionRestart(InMemoryDisputeBackend()).run(dispatcher, make_tracker(), DOMAIN)
    assert events == [Restarted()]
    assert dispatcher.messages == []


async def test_restart_during_a_handoff_stays_with_the_person(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = await waiting_for_a_person()
    events = await ActionRestart(backend).run(dispatcher, make_tracker(), DOMAIN)
    assert events == [Restarted(), ConversationPaused(), ActionExecuted("action_listen")]
    assert responses(dispatcher) == ["utter_handoff_already_waiting"]


# --- "never mind" (action_stop) ------------------------------------------------------------


def paused_tracker() -> Tracker:
    tracker = make_tracker()
    tracker._paused = True  # as Rasa sends it after ConversationPaused
    return tracker


async def test_never_mind_while_waiting_leaves_the_queue_and_the_bot_is_back(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = await waiting_for_a_person()
    events = await ActionStop(backend).run(dispatcher, paused_tracker(), DOMAIN)
    assert events == [ConversationResumed()]
    assert responses(dispatcher) == ["utter_handoff_withdrawn"]
    assert backend.active_handoff(make_tracker().sender_id) is None


async def test_never_mind_once_a_person_joined_is_left_to_them(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = await waiting_for_a_person()
    sender = make_tracker().sender_id
    backend.handoffs[sender] = replace(backend.handoffs[sender], state="assigned")
    events = await ActionStop(backend).run(dispatcher, paused_tracker(), DOMAIN)
    assert events == [] and dispatcher.messages == []  # still paused, nothing said
    assert backend.active_handoff(sender) is not None


async def test_never_mind_with_the_backend_down_says_a_person_still_comes(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = await waiting_for_a_person()
    backend.down = True
    events = await ActionStop(backend).run(dispatcher, paused_tracker(), DOMAIN)
    assert events == [] and responses(dispatcher) == ["utter_handoff_withdraw_failed"]


async def test_never_mind_with_no_ticket_left_gives_the_bot_back(
    dispatcher: CollectingDispatcher,
) -> None:
    # Paused, but the ticket was closed meanwhile: nothing to withdraw, the bot is back.
    events = await ActionStop(InMemoryDisputeBackend()).run(dispatcher, paused_tracker(), DOMAIN)
    assert events == [ConversationResumed()]
    assert responses(dispatcher) == ["utter_handoff_withdrawn"]


async def test_never_mind_with_nothing_going_on_asks_what_else(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    events = await ActionStop(backend).run(dispatcher, make_tracker(), DOMAIN)
    assert events == [] and responses(dispatcher) == ["utter_anything_else"]
    assert not any(call[0] == "withdraw_handoff" for call in backend.calls)


async def test_asking_for_the_phone_number_gives_the_ways_to_reach_a_person_not_a_ticket(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    tracker = make_tracker(
        text="whats the phone number of customer service", intent="request_human"
    )
    events = await ActionRequestHandoff(backend).run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_contact_options"]
    assert events == [FollowupAction("action_listen")]
    assert backend._handoff_state() == {}  # nobody queued
    # The button under it ("Talk to a person here") queues.
    clicked = make_tracker(text="/request_human", intent="request_human")
    await ActionRequestHandoff(backend).run(CollectingDispatcher(), clicked, DOMAIN)
    assert backend.active_handoff(clicked.sender_id) is not None


async def test_a_person_offered_by_the_bot_is_queued_even_if_the_words_name_a_phone(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    tracker = make_tracker(
        {"handoff_reason": "refund_problem"}, text="yes, or call me", intent="request_human"
    )
    await ActionRequestHandoff(backend).run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_handoff_queued"]
