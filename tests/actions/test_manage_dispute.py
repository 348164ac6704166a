"""Status, change (R4), cancel (R6) and evidence (R5) against the in-memory backend."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.manage_dispute import (
    ActionCancelDispute,
    ActionCheckDisputeStatus,
    ActionExplainDisputes,
    ActionExplainEvidence,
    ActionModifyDispute,
    ValidateDisputeCancelForm,
    ValidateDisputeChangeForm,
)
from tests.actions.conftest import (
    ALICE,
    CHANGE,
    ORDER,
    make_tracker,
    open_on_new_order,
    open_one,
    responses,
)
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

LAMP = "8123456789012346"  # an order of Alice's besides the earbuds (ORDER)


async def change_form_starts(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher, text: str
) -> list[EventType]:
    """The change form started by `text`, before it asks anything."""
    tracker = make_tracker(text=text, intent="modify_dispute", active_loop="dispute_change_form")
    domain = {"forms": {"dispute_change_form": {"required_slots": ["order_id"]}}}
    return await ValidateDisputeChangeForm(backend).run(dispatcher, tracker, domain)


async def test_the_status_of_the_only_dispute_says_where_the_seller_stands(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    dispute_id = open_one(backend).id
    await ActionCheckDisputeStatus(backend).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_dispute_status"]
    details = dispatcher.messages[0]["details"]
    assert dispute_id in details and "in progress" in details
    assert "hasn't answered" in details and "our team steps in" in details


async def test_the_status_of_several_disputes_lists_them_and_a_review(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    first = open_one(backend).id
    second = open_on_new_order(backend, LAMP, "Desk lamp").id
    backend.under_review.add("alice")
    await ActionCheckDisputeStatus(backend).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_dispute_list", "utter_account_review_status"]
    assert first in dispatcher.messages[0]["details"]
    assert second in dispatcher.messages[0]["details"]


async def test_the_product_named_picks_its_dispute(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    backend.add_order("alice", make_order(LAMP, title="Desk lamp"))
    tracker = make_tracker(text="why is my erabuds dispute still open?")
    await ActionCheckDisputeStatus(backend).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_dispute_status"]
    assert "Wireless earbuds" in dispatcher.messages[0]["details"]


async def test_status_without_disputes(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    await ActionCheckDisputeStatus(backend).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_no_disputes"]


async def test_a_dispute_to_change_must_be_in_progress(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    form = ValidateDisputeChangeForm(backend)
    tracker = make_tracker(active_loop="dispute_change_form")
    assert form.validate_order_id(ORDER, dispatcher, tracker, {}) == {"order_id": None}
    assert responses(dispatcher) == ["utter_no_dispute_on_order"]
    open_one(backend)
    assert form.validate_order_id(ORDER, CollectingDispatcher(), tracker, {}) == {"order_id": ORDER}


async def test_changing_the_proposal_sends_the_new_amount_with_the_version(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    events = await ActionModifyDispute(backend).run(dispatcher, make_tracker(CHANGE), {})
    assert responses(dispatcher) == ["utter_dispute_modified"]
    dispute = backend.disputes_by_buyer["alice"][0]
    assert dispute.refund_amount == Decimal("10.00") and dispute.version == 2
    assert SlotSet("change_confirmed", None) in events


async def test_cancel_explains_and_cancels_only_when_confirmed(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    declined = make_tracker({"order_id": ORDER, "cancel_confirmed": False})
    await ActionCancelDispute(backend).run(dispatcher, declined, {})
    assert responses(dispatcher) == ["utter_dispute_not_cancelled"]
    assert backend.disputes_by_buyer["alice"][0].in_progress

    confirmed = make_tracker({"order_id": ORDER, "cancel_confirmed": True})
    done = CollectingDispatcher()
    await ActionCancelDispute(backend).run(done, confirmed, {})
    assert responses(done) == ["utter_dispute_cancelled"]
    assert done.messages[0]["window_ends"] == "6 Dec 2026"
    assert not backend.disputes_by_buyer["alice"][0].in_progress


async def test_evidence_names_the_disputes_in_progress(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    await ActionExplainEvidence(backend).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_evidence_no_dispute"]
    dispute_id = open_one(backend).id
    again = CollectingDispatcher()
    await ActionExplainEvidence(backend).run(again, make_tracker(), {})
    assert responses(again) == ["utter_evidence_how"]
    assert dispute_id in again.messages[0]["disputes"]


@pytest.mark.parametrize("form", [ValidateDisputeCancelForm, ValidateDisputeChangeForm])
async def test_with_no_dispute_in_progress_the_form_ends_at_once(
    form: type[ValidateDisputeChangeForm],
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    name = form(backend).name().removeprefix("validate_")
    tracker = make_tracker(text="cancel my dispute", intent="cancel_dispute", active_loop=name)
    events = await form(backend).run(
        dispatcher, tracker, {"forms": {name: {"required_slots": ["order_id"]}}}
    )
    assert responses(dispatcher) == ["utter_no_dispute_in_progress"]
    # requested_slot None ends the form: no question left hanging.
    assert SlotSet("requested_slot", None) in events
    assert SlotSet("dispute_blocked", "no_dispute_in_progress") in events


@pytest.mark.parametrize(("disputes", "picked"), [(1, ORDER), (2, None)])
async def test_the_one_dispute_in_progress_is_the_one_meant(
    disputes: int,
    picked: str | None,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    open_one(backend)
    if disputes == 2:
        open_on_new_order(backend, LAMP, "Desk lamp")
    tracker = make_tracker(
        text="cancel my dispute", intent="cancel_dispute", active_loop="dispute_cancel_form"
    )
    domain = {
        "forms": {"dispute_cancel_form": {"required_slots": ["order_id", "cancel_confirmed"]}}
    }
    events = await ValidateDisputeCancelForm(backend).run(dispatcher, tracker, domain)
    assert (SlotSet("order_id", ORDER) in events) is (picked is not None)
    assert responses(dispatcher) == []  # "Cancel it?" names the order itself

    said = CollectingDispatcher()
    await change_form_starts(backend, said, "change my proposal")
    assert responses(said) == (["utter_dispute_picked"] if picked else [])


async def test_a_product_named_whose_dispute_ended_is_said_so_never_swapped(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """The speaker's dispute was cancelled; 'lower my refund on the speaker' must not
    change the one still in progress (the lamp's)."""
    speaker = open_on_new_order(backend, "8123456789012347", "Bluetooth speaker")
    open_on_new_order(backend, LAMP, "Desk lamp")
    backend.cancel_dispute(ALICE, speaker.id, version=speaker.version, idempotency_key="c")
    events = await change_form_starts(backend, dispatcher, "lower my refund on the speaker dispute")
    assert responses(dispatcher) == ["utter_dispute_already_ended"]
    assert SlotSet("order_id", LAMP) not in events
    assert SlotSet("dispute_blocked", "dispute_ended") in events


async def test_the_change_form_says_which_dispute_the_product_named_picked(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    open_on_new_order(backend, LAMP, "Desk lamp")
    events = await change_form_starts(backend, dispatcher, "i wanna chnage my refnd for the lamp")
    assert SlotSet("order_id", LAMP) in events
    assert dispatcher.messages[0]["response"] == "utter_dispute_picked"
    assert dispatcher.messages[0]["title"] == "Desk lamp"


@pytest.mark.parametrize(
    ("text", "last", "about_yours"),
    [
        ("when does the platform step in on my dispute for order 8123456789012345?", None, True),
        ("so when does the seller get my money?", "D-1", True),
        ("how do disputes work?", None, False),
    ],
)
async def test_how_disputes_work_says_what_it_means_for_the_dispute_in_question(
    text: str,
    last: str | None,
    about_yours: bool,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    dispute = open_one(backend)
    entities = [{"entity": "order_id", "value": ORDER}] if ORDER in text else []
    tracker = make_tracker(
        {"last_dispute_id": dispute.id if last else None},
        text=text,
        intent="ask_how_disputes_work",
        entities=entities,
    )
    assert await ActionExplainDisputes(backend).run(dispatcher, tracker, {}) == []
    expected = [
        "utter_ask_how_disputes_work",
        *(["utter_about_your_dispute"] if about_yours else []),
    ]
    assert responses(dispatcher) == expected
    if about_yours:
        assert dispute.id in dispatcher.messages[1]["details"]
