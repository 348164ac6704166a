"""Not received / customs (R8), refund problems (R7), fallback and handoff."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import person_offered_before_message
from actions.delivery import ActionCheckDelivery, ValidateOrderLookupForm
from actions.handoff import ActionRequestHandoff
from actions.support import ActionDeclinePerson, ActionHandleFallback, ActionRefundProblem
from tests.actions.conftest import ORDER, make_tracker, responses, user_event
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order


@pytest.mark.parametrize(
    ("changes", "response"),
    [
        ({"shipping_status": "in_customs"}, "utter_package_in_customs"),
        (
            {
                "shipping_status": "in_transit",
                "receipt_confirmed_at": None,
                "shipping_deadline": "2099-01-01T00:00:00+00:00",
            },
            "utter_in_transit",
        ),
        ({"shipping_status": "delivered"}, "utter_delivered_but_missing"),
        (
            {"shipping_status": "awaiting_shipment", "tracking_number": None},
            "utter_not_shipped_yet",
        ),
    ],
)
async def test_delivery_answer_follows_the_shipping_state(
    changes: dict[str, object], response: str, dispatcher: CollectingDispatcher
) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(**changes))  # type: ignore[arg-type]
    await ActionCheckDelivery(backend).run(dispatcher, make_tracker({"order_id": ORDER}), {})
    assert responses(dispatcher) == [response]


async def test_in_transit_offers_a_not_received_dispute_button(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(shipping_status="in_transit"))
    await ActionCheckDelivery(backend).run(dispatcher, make_tracker({"order_id": ORDER}), {})
    payload = dispatcher.messages[0]["buttons"][0]["payload"]
    assert '"dispute_reason":"not_received"' in payload and ORDER in payload


async def test_refund_problem_asks_for_evidence_and_marks_the_handoff(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    events = await ActionRefundProblem(backend).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == [
        "utter_refund_problem_none_found",
        "utter_refund_problem_evidence",
    ]
    assert SlotSet("handoff_reason", "refund_problem") in events


async def test_refund_problem_with_the_backend_down_still_answers(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.down = True
    events = await ActionRefundProblem(backend).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_backend_unavailable"]
    assert SlotSet("handoff_reason", "backend_unavailable") in events


def answered_by(action: str) -> list[dict[str, object]]:
    return [
        user_event("blorp", intent="nlu_fallback"),
        {"event": "action", "name": action},
        {"event": "action", "name": "action_listen"},
    ]


async def test_first_miss_asks_to_rephrase_second_offers_a_person(
    dispatcher: CollectingDispatcher,
) -> None:
    once = make_tracker(intent="nlu_fallback", events=answered_by("utter_greet"))
    await ActionHandleFallback().run(dispatcher, once, {})
    assert responses(dispatcher) == ["utter_ask_rephrase"]

    twice = make_tracker(intent="nlu_fallback", events=answered_by("action_handle_fallback"))
    again = CollectingDispatcher()
    events = await ActionHandleFallback().run(again, twice, {})
    assert responses(again) == ["utter_offer_human"]
    assert SlotSet("handoff_reason", "not_understood") in events
    assert FollowupAction("action_listen") not in events  # no form to hold back

    in_form = make_tracker(
        intent="nlu_fallback",
        active_loop="dispute_form",
        events=answered_by("action_handle_fallback"),
    )
    events = await ActionHandleFallback().run(CollectingDispatcher(), in_form, {})
    # The offer is the last question: the form does not ask its own on top of it.
    assert FollowupAction("action_listen") in events


def offered_a_person() -> list[dict[str, object]]:
    return [
        user_event("how are my disputes going?", intent="check_dispute_status"),
        {
            "event": "bot",
            "text": "Sorry, I can't reach our dispute system right now.",
            "data": {"buttons": [{"title": "Talk to a person", "payload": "/request_human"}]},
        },
        {"event": "action", "name": "action_listen"},
    ]


def hands_over(events: list[dict[str, Any]]) -> bool:
    """Whether the events read the buyer's message again as asking for a person."""
    return any(
        e.get("event") == "user" and e["parse_data"]["intent"]["name"] == "request_human"
        for e in events
    )


async def test_a_typed_yes_to_the_offer_of_a_person_hands_over(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker(text="yes", intent="affirm", events=offered_a_person())
    events = await ActionHandleFallback().run(dispatcher, tracker, {})
    # The "yes" is read again as asking for a person: the handoff rule answers it.
    assert [e["event"] for e in events] == ["rewind", "action", "user"]
    assert hands_over(events)
    assert responses(dispatcher) == []


async def test_the_offer_is_taken_up_once_per_message(dispatcher: CollectingDispatcher) -> None:
    tried = [
        *offered_a_person(),
        user_event("yes", intent="affirm"),
        {"event": "action", "name": "action_request_handoff"},
    ]
    tracker = make_tracker(text="yes", intent="affirm", events=tried[:-2])
    tracker.events.append(tried[-1])  # the handoff already ran for this "yes"
    events = await ActionHandleFallback().run(dispatcher, tracker, {})
    assert not hands_over(events)


async def test_a_typed_no_to_the_offer_of_a_person_moves_on(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker(text="no thanks", intent="deny", events=offered_a_person())
    events = await ActionHandleFallback().run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_anything_else"]
    assert SlotSet("handoff_reason", None) in events


async def test_a_yes_after_an_offer_and_then_the_forms_question_answers_the_question(
    dispatcher: CollectingDispatcher,
) -> None:
    # "Cancel it?" -> "would I get my money back?" -> an answer offering a
    # person -> "Cancel it?" again -> "yes": that is yes, cancel it.
    asked_again = [
        *offered_a_person(),
        {
            "event": "bot",
            "text": "Cancel it?",
            "data": {"buttons": [{"title": "Yes", "payload": "/affirm"}]},
        },
    ]
    tracker = make_tracker(
        text="yes", intent="affirm", active_loop="dispute_cancel_form", events=asked_again
    )
    assert not person_offered_before_message(tracker)
    events = await ActionHandleFallback().run(dispatcher, tracker, {})
    assert not hands_over(events)


GREETED = [
    user_event("hello", intent="greet"),
    {"event": "bot", "text": "Hi!"},
    {"event": "action", "name": "action_listen"},
]
OPENED = [
    user_event("yes", intent="affirm"),
    {"event": "action", "name": "action_open_dispute"},
    {"event": "bot", "text": "Done: dispute D-1 is open."},
    {"event": "action", "name": "action_listen"},
]
YES_AGAIN = [
    user_event("yes", intent="affirm"),
    {"event": "action", "name": "action_handle_fallback"},
    {"event": "action", "name": "action_listen"},
]


@pytest.mark.parametrize(
    "history",
    [[*offered_a_person(), *GREETED], OPENED, [*OPENED, *YES_AGAIN]],
    ids=["long-after-an-offer", "after-the-dispute-was-opened", "again-after-it-was-opened"],
)
async def test_a_yes_to_nothing_asked_is_understood_and_not_taken_for_a_person(
    history: list[dict[str, object]], dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(text="yes", intent="affirm", events=history)
    events = await ActionHandleFallback().run(dispatcher, tracker, {})
    assert not hands_over(events)
    assert responses(dispatcher) == ["utter_anything_else"]  # a yes to nothing asked


async def test_out_of_scope_says_what_the_bot_does(dispatcher: CollectingDispatcher) -> None:
    await ActionHandleFallback().run(dispatcher, make_tracker(intent="out_of_scope"), {})
    assert responses(dispatcher) == ["utter_out_of_scope"]


@pytest.mark.parametrize("intent", ["out_of_scope", "nlu_fallback"])
async def test_a_first_miss_inside_a_form_offers_no_menu_of_other_topics(
    intent: str, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        text="hmm", intent=intent, active_loop="dispute_form", events=answered_by("utter_greet")
    )
    events = await ActionHandleFallback().run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_off_track_in_form"]
    assert all(not m.get("buttons") for m in dispatcher.messages)
    assert events == []  # the form goes on and asks its question again


@pytest.mark.parametrize(
    ("active_loop", "said"), [(None, ["utter_rephrase_please"]), ("dispute_form", [])]
)
async def test_no_to_a_person_gets_one_answer(
    active_loop: str | None, said: list[str], dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        {"handoff_reason": "not_understood"}, text="no", intent="deny", active_loop=active_loop
    )
    events = await ActionDeclinePerson().run(dispatcher, tracker, {})
    # Inside a form, the form's own "let's carry on" is the answer.
    assert responses(dispatcher) == said
    assert SlotSet("handoff_reason", None) in events


async def test_handoff_records_its_reason(dispatcher: CollectingDispatcher) -> None:
    backend = InMemoryDisputeBackend()
    events = await ActionRequestHandoff(backend).run(
        dispatcher, make_tracker({"handoff_reason": "refund_problem"}), {}
    )
    assert responses(dispatcher) == ["utter_handoff_queued"]  # tests/actions/test_handoff.py
    assert backend.handoff_requests[0]["reason"] == "refund_problem"
    assert SlotSet("handoff_reason", None) in events


async def test_the_product_named_is_the_order_to_look_up(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.add_order("alice", make_order("8100000000000021", title="Smartwatch"))
    form = ValidateOrderLookupForm(backend)
    stuck = make_tracker(
        text="my smartwatch is stuck in customs",
        intent="package_in_customs",
        active_loop="order_lookup_form",
    )
    assert form.extract_order_id(dispatcher, stuck, {}) == {"order_id": "8100000000000021"}
    vague = make_tracker(
        text="my parcel is stuck in customs",
        intent="package_in_customs",
        active_loop="order_lookup_form",
    )
    assert form.extract_order_id(dispatcher, vague, {}) == {}  # the form asks which


async def test_a_product_named_next_replaces_the_order_asked_about_before(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.add_order("alice", make_order("8100000000000013", title="Desk lamp"))
    form = ValidateOrderLookupForm(backend)
    earlier = {"order_id": "8100000000000012"}  # the phone case, asked about just before
    next_one = make_tracker(
        earlier, text="and the lamp?", intent="report_not_received", active_loop="order_lookup_form"
    )
    assert form.extract_order_id(dispatcher, next_one, {}) == {"order_id": "8100000000000013"}
    same = make_tracker(
        earlier,
        text="is it still coming?",
        intent="report_not_received",
        active_loop="order_lookup_form",
    )
    assert form.extract_order_id(dispatcher, same, {}) == {}  # names none: the same order


def test_an_order_number_too_long_or_short_is_asked_again_with_the_reason(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    form = ValidateOrderLookupForm(backend)
    tracker = make_tracker(
        text="where is order 8300000000000031999",
        intent="report_not_received",
        active_loop="order_lookup_form",
    )
    assert form.validate_order_id("8300000000000031999", dispatcher, tracker, {}) == {
        "order_id": None
    }
    assert responses(dispatcher) == ["utter_order_id_invalid"]


def test_an_order_number_in_full_width_digits_is_the_same_order(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    form = ValidateOrderLookupForm(backend)
    wide = "".join(chr(0xFF10 + int(d)) for d in "8300000000000031")
    tracker = make_tracker(
        text=f"where is order {wide}", intent="report_not_received", active_loop="order_lookup_form"
    )
    assert form.validate_order_id(wide, dispatcher, tracker, {}) == {"order_id": "8300000000000031"}
    assert responses(dispatcher) == []
