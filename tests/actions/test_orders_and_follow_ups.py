"""The buyer's own dates and orders (actions/orders.py), and follow-ups that only make
sense after the bot's last answer (actions/support.py)."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import ProtectionWindow
from actions.orders import ActionAnswerDeadline, ActionListOrders
from actions.support import ActionHandleFallback
from tests.actions.conftest import make_tracker, open_one, responses
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

OPEN = ProtectionWindow("2026-11-01T00:00:00+00:00", "2026-12-16T00:00:00+00:00", True)
OVER = ProtectionWindow("2026-10-01T00:00:00+00:00", "2026-11-09T00:00:00+00:00", False)


def shop() -> InMemoryDisputeBackend:
    backend = InMemoryDisputeBackend()
    backend.add_order(
        "alice", make_order("8100000000000011", title="Wireless earbuds", window=OPEN)
    )
    backend.add_order("alice", make_order("8200000000000022", title="Kitchen scale", window=OVER))
    return backend


async def test_the_deadline_of_the_order_named(dispatcher: CollectingDispatcher) -> None:
    tracker = make_tracker(text="how long do i have for my earbuds?", intent="ask_dispute_deadline")
    events = await ActionAnswerDeadline(shop()).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_order_deadline"]
    assert dispatcher.messages[0]["window"] == "protected until 16 Dec 2026"
    assert SlotSet("last_topic", "deadline") in events


async def test_a_protection_that_ended_says_when(dispatcher: CollectingDispatcher) -> None:
    tracker = make_tracker(text="when did the protection on my kitchen scale end?")
    await ActionAnswerDeadline(shop()).run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["window"] == "protection ended on 9 Nov 2026"


async def test_no_order_named_gives_the_rule_and_the_orders_covered(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker(text="which of my orders are still covered?")
    await ActionAnswerDeadline(shop()).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_ask_dispute_deadline", "utter_orders_covered"]
    assert "Wireless earbuds" in dispatcher.messages[1]["details"]
    assert "Kitchen scale" not in dispatcher.messages[1]["details"]


async def test_none_covered_is_said(dispatcher: CollectingDispatcher) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(window=OVER))
    await ActionAnswerDeadline(backend).run(dispatcher, make_tracker(text="how long?"), {})
    assert responses(dispatcher) == ["utter_ask_dispute_deadline", "utter_no_order_covered"]


async def test_without_an_account_the_rule_is_still_given(dispatcher: CollectingDispatcher) -> None:
    await ActionAnswerDeadline(shop()).run(dispatcher, make_tracker(token=None), {})
    assert responses(dispatcher) == ["utter_ask_dispute_deadline"]


async def test_the_list_of_orders(dispatcher: CollectingDispatcher) -> None:
    await ActionListOrders(shop()).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_order_list"]
    details = dispatcher.messages[0]["details"]
    assert "Wireless earbuds" in details and "protection ended on 9 Nov 2026" in details
    empty = CollectingDispatcher()
    await ActionListOrders(InMemoryDisputeBackend()).run(empty, make_tracker(), {})
    assert responses(empty) == ["utter_no_orders"]


def after(answer: str, text: str, **slots: Any) -> Any:
    """A message right after the bot's `answer`."""
    earlier = [
        {"event": "user", "text": "before"},
        {"event": "bot", "text": "...", "metadata": {"utter_action": answer}},
    ]
    return make_tracker(slots, text=text, intent="out_of_scope", events=earlier)


async def test_what_now_after_the_protection_ended_gets_the_options(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = after("utter_protection_expired", "so what can i do then?")
    assert await ActionHandleFallback(shop()).run(dispatcher, tracker, {}) == []
    assert responses(dispatcher) == ["utter_expired_period_help"]


async def test_another_order_named_after_a_status_gets_its_status(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = after("utter_dispute_status", "and the kitchen scale?", last_topic="status")
    events = await ActionHandleFallback(shop()).run(dispatcher, tracker, {})
    # The message is read again as a status question naming that order, so the
    # status rule answers it and ends the turn.
    assert [e["event"] for e in events] == ["rewind", "action", "user", "slot"]
    assert events[1]["name"] == "action_listen"
    restated = events[2]
    assert restated["text"] == "and the kitchen scale?"
    assert restated["parse_data"]["intent"] == {"name": "check_dispute_status", "confidence": 1.0}
    assert restated["parse_data"]["entities"] == [
        {"entity": "order_id", "value": "8200000000000022"}
    ]
    assert restated["metadata"] == tracker.latest_message["metadata"]  # the proof goes along
    assert events[3] == SlotSet("order_id", "8200000000000022")
    assert responses(dispatcher) == []


async def test_no_topic_or_no_order_is_not_a_follow_up(dispatcher: CollectingDispatcher) -> None:
    for tracker in (
        after("utter_greet", "and the kitchen scale?"),
        after("utter_dispute_status", "and the other thing?", last_topic="status"),
    ):
        events = await ActionHandleFallback(shop()).run(dispatcher, tracker, {})
        assert not any(e.get("event") in ("followup", "rewind") for e in events)


async def test_a_refund_asked_about_a_dispute_in_progress_says_when_it_comes(
    dispatcher: CollectingDispatcher,
) -> None:
    from actions.support import ActionRefundProblem

    backend = shop()
    open_one(backend, "8100000000000011")
    tracker = make_tracker(text="when do i get my refund for the earbuds?", intent="refund_problem")
    events = await ActionRefundProblem(backend).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_refund_not_due", "utter_refund_paid_when"]
    assert "in progress" in dispatcher.messages[0]["details"]
    assert SlotSet("handoff_reason", "refund_problem") not in events  # no person needed


async def test_a_refund_asked_about_an_order_without_a_dispute(
    dispatcher: CollectingDispatcher,
) -> None:
    from actions.support import ActionRefundProblem

    tracker = make_tracker(text="i never got a refund for the kitchen scale")
    await ActionRefundProblem(shop()).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_no_dispute_on_order"]
