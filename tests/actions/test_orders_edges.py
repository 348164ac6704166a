"""The buyer's order lines and protection dates (R1), word for word.

The other order tests check that the right order is named; these pin each line a buyer
reads, each state's wording, the limits on how many orders are listed, and the slots set.
"""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import ProtectionWindow
from actions.orders import (
    ActionAnswerDeadline,
    ActionExpiredPeriodHelp,
    ActionListOrders,
    ActionWhatAboutOrder,
    order_line,
    window_of,
)
from tests.actions.conftest import make_tracker, responses
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

OPEN = ProtectionWindow("2026-11-01T00:00:00+00:00", "2026-12-16T00:00:00+00:00", True)
OVER = ProtectionWindow("2026-10-01T00:00:00+00:00", "2026-11-09T00:00:00+00:00", False)
NOT_STARTED = ProtectionWindow(None, None, False)


def many(count: int, window: ProtectionWindow = OPEN) -> InMemoryDisputeBackend:
    backend = InMemoryDisputeBackend()
    for n in range(count):
        backend.add_order(
            "alice", make_order(f"81000000000000{n:02}", title=f"Item {n}", window=window)
        )
    return backend


def test_an_open_window_says_until_when() -> None:
    assert window_of(make_order(window=OPEN)) == "protected until 16 Dec 2026"


def test_an_ended_window_says_when_it_ended() -> None:
    assert window_of(make_order(window=OVER)) == "protection ended on 9 Nov 2026"


def test_a_window_not_started_says_it_waits_for_the_tracking_number() -> None:
    expected = "protection starts once the seller adds the tracking number"
    assert window_of(make_order(window=NOT_STARTED)) == expected
    half = ProtectionWindow(None, "2026-11-09T00:00:00+00:00", False)
    assert window_of(make_order(window=half)) == expected


def test_an_order_line_names_product_number_state_and_protection() -> None:
    line = order_line(make_order(shipping_status="in_transit", window=OPEN))
    assert line == (
        "• Wireless earbuds (order 8123456789012345): on its way, protected until 16 Dec 2026."
    )


def test_each_shipping_state_reads_as_plain_words() -> None:
    words = {
        "awaiting_shipment": "not shipped yet",
        "in_customs": "held in customs",
        "delivered": "delivered",
        "returned_to_sender": "returned to sender",  # a state the bot has no words for
    }
    for status, said in words.items():
        assert f": {said}, " in order_line(make_order(shipping_status=status, window=OPEN))


def test_an_order_line_names_the_dispute_in_progress() -> None:
    line = order_line(make_order(active_dispute_id="D-42", window=OVER))
    assert line.endswith("protection ended on 9 Nov 2026, dispute D-42 in progress.")


async def test_the_deadline_of_the_order_named_gives_title_number_and_slots(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = many(2)
    entities = [{"entity": "order_id", "value": "8100000000000001"}]
    tracker = make_tracker(text="how long for 8100000000000001?", entities=entities)
    events = await ActionAnswerDeadline(backend).run(dispatcher, tracker, {})
    message = dispatcher.messages[0]
    assert (message["response"], message["title"], message["order_id"]) == (
        "utter_order_deadline",
        "Item 1",
        "8100000000000001",
    )
    assert message["window"] == "protected until 16 Dec 2026"
    assert events == [SlotSet("order_id", "8100000000000001"), SlotSet("last_topic", "deadline")]


async def test_the_orders_covered_are_listed_six_at_most_one_a_line(
    dispatcher: CollectingDispatcher,
) -> None:
    events = await ActionAnswerDeadline(many(8)).run(dispatcher, make_tracker(text="how long?"), {})
    assert responses(dispatcher) == ["utter_ask_dispute_deadline", "utter_orders_covered"]
    lines = dispatcher.messages[1]["details"].split("\n")
    assert len(lines) == 6
    assert lines[0] == "• Item 7 (order 8100000000000007): delivered, protected until 16 Dec 2026."
    assert events == [SlotSet("last_topic", "deadline")]


async def test_a_buyer_with_no_orders_gets_only_the_rule(dispatcher: CollectingDispatcher) -> None:
    backend = InMemoryDisputeBackend()
    await ActionAnswerDeadline(backend).run(dispatcher, make_tracker(text="how long?"), {})
    assert responses(dispatcher) == ["utter_ask_dispute_deadline"]


async def test_with_the_backend_down_the_rule_is_still_given(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = many(2)
    backend.down = True
    events = await ActionAnswerDeadline(backend).run(dispatcher, make_tracker(text="how long?"), {})
    assert responses(dispatcher) == ["utter_ask_dispute_deadline"]
    assert events == [SlotSet("last_topic", "deadline")]


def test_the_actions_are_called_answer_deadline_and_list_orders() -> None:
    assert ActionAnswerDeadline(InMemoryDisputeBackend()).name() == "action_answer_deadline"
    assert ActionListOrders(InMemoryDisputeBackend()).name() == "action_list_orders"


async def test_the_order_list_shows_eight_at_most_newest_first_and_sets_the_topic(
    dispatcher: CollectingDispatcher,
) -> None:
    events = await ActionListOrders(many(10, OVER)).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_order_list"]
    lines = dispatcher.messages[0]["details"].split("\n")
    assert len(lines) == 8
    assert lines[0] == (
        "• Item 9 (order 8100000000000009): delivered, protection ended on 9 Nov 2026."
    )
    assert events == [SlotSet("last_topic", "orders")]


async def test_no_orders_sets_no_topic(dispatcher: CollectingDispatcher) -> None:
    events = await ActionListOrders(InMemoryDisputeBackend()).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_no_orders"]
    assert events == []


async def test_an_order_number_alone_asks_what_to_do_or_to_sign_in_first() -> None:
    entities = [{"entity": "order_id", "value": "8100000000000011"}]
    signed_in, visitor = CollectingDispatcher(), CollectingDispatcher()
    tracker = make_tracker(text="8100000000000011", entities=entities)
    await ActionWhatAboutOrder().run(signed_in, tracker, {})
    anonymous = make_tracker(text="8100000000000011", entities=entities, token=None)
    await ActionWhatAboutOrder().run(visitor, anonymous, {})
    assert responses(signed_in) == ["utter_what_about_order"]
    assert responses(visitor) == ["utter_sign_in_needed"]


@pytest.mark.parametrize(
    ("window", "text", "said"),
    [
        (OPEN, "i think i missed the deadline for item 0, it broke", "utter_order_still_covered"),
        (OVER, "i think i missed the deadline for item 0, it broke", "utter_protection_expired"),
        (OPEN, "what can i do after the protection period ends?", "utter_expired_period_help"),
    ],
)
async def test_a_buyer_who_thinks_it_is_too_late_hears_the_order_named_first(
    window: ProtectionWindow, text: str, said: str
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text=text, intent="expired_period_help")
    events = await ActionExpiredPeriodHelp(many(1, window)).run(dispatcher, tracker, {})
    assert responses(dispatcher) == [said]
    if said == "utter_order_still_covered":
        assert dispatcher.messages[0]["window_ends"] == "16 Dec 2026"
        assert events == [SlotSet("order_id", "8100000000000000")]


async def test_a_visitor_who_thinks_it_is_too_late_gets_the_options() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text="my period expired", intent="expired_period_help", token=None)
    await ActionExpiredPeriodHelp(many(1)).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_expired_period_help"]
