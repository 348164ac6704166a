"""What a buyer asking where a package is reads, word for word, in every shipping state (R8).

The other delivery tests name the response; these pin what fills it (the order, the dates,
the tracking number, the button) and the slots the turn leaves behind.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import NewDispute, ProtectionWindow
from actions.delivery import (
    ActionCheckDelivery,
    ActionContactSeller,
    ActionDeliveryAside,
    is_past,
)
from tests.actions.conftest import ALICE, ORDER, make_tracker
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

OPEN_BUTTON = [
    {
        "title": "Open a not-received dispute",
        "payload": '/open_dispute{"order_id":"8123456789012345","dispute_reason":"not_received"}',
    }
]
ANSWERED = [
    SlotSet("order_id", ORDER),
    SlotSet("delivery_topic", None),
    SlotSet("last_topic", "delivery"),
    SlotSet("dispute_blocked", None),
]


def said(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    """Each message as the response and the values it fills in (empty ones left out)."""
    keep = ("response", "order_id", "deadline", "window_ends", "tracking", "dispute_id", "buttons")
    return [{k: m[k] for k in keep if m.get(k)} for m in dispatcher.messages]


async def check(
    dispatcher: CollectingDispatcher, slots: dict[str, Any] | None = None, **changes: object
) -> list[Any]:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(**changes))  # type: ignore[arg-type]
    tracker = make_tracker({"order_id": ORDER, **(slots or {})})
    return await ActionCheckDelivery(backend).run(dispatcher, tracker, {})


def test_the_action_is_called_check_delivery() -> None:
    assert ActionCheckDelivery(InMemoryDisputeBackend()).name() == "action_check_delivery"


CLOSED = ProtectionWindow("2026-11-01T00:00:00+00:00", "2026-12-06T10:00:00+00:00", False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"shipping_status": "in_customs"},
            {"response": "utter_package_in_customs", "order_id": ORDER},
            id="in customs: names the order and ends the topic",
        ),
        pytest.param(
            {"shipping_status": "in_transit", "tracking_number": None},
            {"response": "utter_not_shipped_yet", "order_id": ORDER, "deadline": "20 Nov 2026"},
            id="no tracking number: not shipped yet, with its deadline",
        ),
        pytest.param(
            {"shipping_status": "in_transit", "window": CLOSED},
            {
                "response": "utter_protection_expired",
                "order_id": ORDER,
                "window_ends": "6 Dec 2026",
            },
            id="a closed protection window says when it ended",
        ),
        pytest.param(
            {"shipping_status": "delivered"},
            {"response": "utter_delivered_but_missing", "order_id": ORDER, "buttons": OPEN_BUTTON},
            id="delivered but never got: the dispute button",
        ),
        pytest.param(
            {"shipping_status": "in_transit", "shipping_deadline": "2099-01-01T00:00:00+00:00"},
            {
                "response": "utter_in_transit",
                "order_id": ORDER,
                "tracking": "LP00123456789CN",
                "deadline": "1 Jan 2099",
                "window_ends": "6 Dec 2026",
                "buttons": OPEN_BUTTON,
            },
            id="on its way: tracking, deadline and window",
        ),
    ],
)
async def test_each_shipping_state_is_said_with_what_fills_it_and_the_topic_ends(
    changes: dict[str, Any], message: dict[str, Any], dispatcher: CollectingDispatcher
) -> None:
    events = await check(dispatcher, **changes)
    assert said(dispatcher) == [message]
    assert events == ANSWERED


async def test_a_window_not_open_yet_is_not_called_expired(
    dispatcher: CollectingDispatcher,
) -> None:
    window = ProtectionWindow(None, None, False)
    await check(dispatcher, shipping_status="delivered", window=window)
    assert [m["response"] for m in said(dispatcher)] == ["utter_delivered_but_missing"]


async def test_a_dispute_already_open_on_the_order_is_named(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(shipping_status="in_transit"))
    request = NewDispute(ORDER, "not_received", "full_refund", None, False, "Never came.")
    dispute = backend.open_dispute(ALICE, request, idempotency_key="k1").id
    tracker = make_tracker({"order_id": ORDER})
    events = await ActionCheckDelivery(backend).run(dispatcher, tracker, {})
    assert said(dispatcher) == [
        {"response": "utter_dispute_already_open", "order_id": ORDER, "dispute_id": dispute}
    ]
    assert events == ANSWERED


async def test_a_package_past_its_shipping_deadline_is_called_late(
    dispatcher: CollectingDispatcher,
) -> None:
    await check(dispatcher, shipping_status="in_transit")
    assert [m["response"] for m in said(dispatcher)] == ["utter_in_transit_late"]


@pytest.mark.parametrize(
    "slots", [{"delivery_topic": "customs"}], ids=["the topic slot says customs"]
)
async def test_asking_about_customs_while_tracking_shows_none_says_so_first(
    slots: dict[str, Any], dispatcher: CollectingDispatcher
) -> None:
    await check(dispatcher, slots, shipping_status="in_transit")
    assert [m["response"] for m in said(dispatcher)] == [
        "utter_customs_not_shown",
        "utter_in_transit_late",
    ]
    assert said(dispatcher)[0]["order_id"] == ORDER


async def test_the_customs_intent_alone_is_asking_about_customs(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(shipping_status="in_transit"))
    tracker = make_tracker({"order_id": ORDER}, intent="package_in_customs")
    await ActionCheckDelivery(backend).run(dispatcher, tracker, {})
    assert said(dispatcher)[0]["response"] == "utter_customs_not_shown"


async def test_an_unknown_order_is_named_and_forgotten(dispatcher: CollectingDispatcher) -> None:
    tracker = make_tracker({"order_id": "8000000000000000"})
    events = await ActionCheckDelivery(InMemoryDisputeBackend()).run(dispatcher, tracker, {})
    assert said(dispatcher) == [
        {"response": "utter_order_not_found", "order_id": "8000000000000000"}
    ]
    assert events == [SlotSet("order_id", None), SlotSet("dispute_blocked", None)]


async def test_no_order_number_yet_says_nothing_and_clears_the_block(
    dispatcher: CollectingDispatcher,
) -> None:
    events = await ActionCheckDelivery(InMemoryDisputeBackend()).run(
        dispatcher, make_tracker({"order_id": None}), {}
    )
    assert dispatcher.messages == []
    assert events == [SlotSet("dispute_blocked", None)]


@pytest.mark.parametrize(
    ("slots", "intent", "general"),
    [
        ({"delivery_topic": "customs"}, "inform", "utter_customs_general"),
        ({}, "package_in_customs", "utter_customs_general"),
        ({"delivery_topic": "not_received"}, "inform", "utter_not_received_general"),
    ],
)
async def test_nobody_signed_in_gets_the_general_advice_then_the_way_to_sign_in(
    slots: dict[str, Any], intent: str, general: str, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(slots, intent=intent, token=None)
    events = await ActionCheckDelivery(InMemoryDisputeBackend()).run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == [general, "utter_sign_in_to_check"]
    assert events == [SlotSet("delivery_topic", None)]


@pytest.mark.parametrize(
    ("moment", "past"),
    [
        (None, False),
        ("", False),
        ("not a date", False),
        ("2020-01-01T00:00:00Z", True),
        ("2020-01-01T00:00:00+00:00", True),
        ("2099-01-01T00:00:00Z", False),
    ],
)
def test_a_deadline_is_past_only_when_it_is_a_date_before_now(
    moment: str | None, past: bool
) -> None:
    assert is_past(moment) is past


async def test_a_parcel_asked_about_inside_a_form_is_answered_and_the_form_keeps_its_order() -> (
    None
):
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(ORDER, title="Wireless earbuds"))
    backend.add_order(
        "alice",
        make_order(
            "8123456789012346",
            title="Phone case",
            shipping_status="in_transit",
            shipping_deadline="2099-01-01T00:00:00+00:00",
        ),
    )
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        {"order_id": ORDER},
        text="btw where is my phone case?",
        intent="report_not_received",
        active_loop="dispute_form",
        requested_slot="refund_amount",
    )
    events = await ActionDeliveryAside(backend).run(dispatcher, tracker, {})
    assert events == []  # the form's order and answers stay
    [said] = dispatcher.messages
    assert said["response"] == "utter_in_transit"
    assert said["order_id"] == "8123456789012346"
    assert said["buttons"] == []  # no second dispute offered in the middle of this one


@pytest.mark.parametrize(
    ("text", "response"),
    [
        ("how do i contact the carrier then?", "utter_contact_carrier_tracking"),
        ("how do i message the seller", "utter_contact_seller"),
    ],
)
async def test_the_carrier_asked_about_gets_the_carrier_and_the_tracking_number(
    text: str, response: str
) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(ORDER, tracking_number="LP123CN"))
    dispatcher = CollectingDispatcher()
    tracker = make_tracker({"order_id": ORDER}, text=text, intent="contact_seller")
    assert await ActionContactSeller(backend).run(dispatcher, tracker, {}) == []
    [said] = dispatcher.messages
    assert said["response"] == response
    if response == "utter_contact_carrier_tracking":
        assert said["tracking"] == "LP123CN"


async def test_the_carrier_asked_about_by_a_visitor_gets_the_general_way() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text="how do i reach the courier", intent="contact_seller", token=None)
    await ActionContactSeller(InMemoryDisputeBackend()).run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_contact_carrier"]


async def test_a_parcel_asked_about_inside_a_form_with_no_order_known_waits() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text="where is my parcel", intent="report_not_received")
    await ActionDeliveryAside(InMemoryDisputeBackend()).run(dispatcher, tracker, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_which_parcel_later"]
