"""The dispute form's validation and submission, against the in-memory backend."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import ChannelAccountNotLinked, Credential
from actions.forms import RefundProposal
from actions.manage_dispute import ValidateDisputeChangeForm
from actions.open_dispute import (
    DISPUTE_FORM_SLOTS,
    ActionAskDisputeConfirmed,
    ActionAskOrderId,
    ActionOpenDispute,
    ValidateDisputeForm,
)
from tests.actions.conftest import (
    ALICE,
    DISPUTE_FORM_QUESTIONS,
    ORDER,
    make_tracker,
    responses,
    user_event,
)
from tests.actions.fake_backend import InMemoryDisputeBackend, make_order

FORM = {"active_loop": "dispute_form"}


async def test_an_eligible_order_is_accepted_with_its_window(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    form = ValidateDisputeForm(backend)
    result = form.validate_order_id(ORDER, dispatcher, make_tracker(**FORM), {})
    assert result == {"order_id": ORDER}
    assert responses(dispatcher) == ["utter_order_eligible"]
    assert dispatcher.messages[0]["window_ends"] == "6 Dec 2026"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("open a dispute for my backpack", "8100000000000023"),
        ("i want to open a dispute", ORDER),  # nothing named: the order from earlier
        ("the earbuds arrived broken", ORDER),
        ("the hiking backpack please", "8100000000000023"),
        ("dispute for the hiking things", None),
    ],  # two alike: ask which
)
async def test_an_order_kept_from_earlier_gives_way_to_the_product_named(
    text: str,
    expected: str | None,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    backend.add_orders(
        "alice", {"8100000000000023": "Hiking backpack", "8100000000000024": "Hiking shoes"}
    )
    tracker = make_tracker({"order_id": ORDER}, text=text, intent="open_dispute", **FORM)
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, tracker, {})
    assert result["order_id"] == expected


def prefill(tracker: Tracker) -> None:
    """The form's activation: Rasa sets the slots filled earlier again, for validation."""
    for name in ("order_id", "dispute_reason"):
        tracker.events.append({"event": "slot", "name": name, "value": tracker.slots[name]})


async def test_a_reason_kept_from_the_earlier_order_is_asked_again(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """Checked one order as not received, then a dispute on another product."""
    backend.add_order("alice", make_order("8100000000000023", title="Hiking backpack"))
    prefilled = {"order_id": ORDER, "dispute_reason": "not_received"}
    tracker = make_tracker(
        prefilled,
        text="a dispute for my backpack",
        intent="open_dispute",
        active_loop="dispute_form",
    )
    domain = {"forms": {"dispute_form": {"required_slots": list(DISPUTE_FORM_SLOTS)}}}
    prefill(tracker)
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, domain)
    assert SlotSet("order_id", "8100000000000023") in events
    assert SlotSet("dispute_reason", None) in events
    assert responses(dispatcher) == ["utter_order_eligible"]  # nothing about customs or transit

    said = make_tracker(
        prefilled,
        text="a dispute for my backpack, it is broken",
        intent="open_dispute",
        active_loop="dispute_form",
        entities=[{"entity": "dispute_reason", "value": "damaged"}],
    )
    said.slots["dispute_reason"] = "damaged"
    prefill(said)
    events = await ValidateDisputeForm(backend).run(CollectingDispatcher(), said, domain)
    assert SlotSet("dispute_reason", "damaged") in events


async def test_someone_elses_order_is_not_found(dispatcher: CollectingDispatcher) -> None:
    backend = InMemoryDisputeBackend({"token-alice": "alice", "token-bob": "bob"})
    backend.add_order("bob", make_order(ORDER))
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, make_tracker(), {})
    assert result == {"order_id": None}
    assert responses(dispatcher) == ["utter_order_not_found"]


@pytest.mark.parametrize(
    ("changes", "code", "response"),
    [
        (
            {"window": replace(make_order().window, is_open=False)},
            "protection_expired",
            "utter_protection_expired",
        ),
        ({"tracking_number": None}, "no_tracking_yet", "utter_no_tracking_yet"),
    ],
)
async def test_an_ineligible_order_blocks_the_form_with_the_reason(
    changes: dict[str, object], code: str, response: str, dispatcher: CollectingDispatcher
) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(**changes))  # type: ignore[arg-type]
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, make_tracker(), {})
    assert result == {"order_id": ORDER, "dispute_blocked": code}
    assert responses(dispatcher) == [response]


async def test_an_account_under_review_goes_to_a_person(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.under_review.add("alice")
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, make_tracker(), {})
    assert result["dispute_blocked"] == "account_under_review"
    assert result["handoff_reason"] == "abuse_review"
    assert responses(dispatcher) == ["utter_account_under_review"]


async def test_backend_down_keeps_the_order_and_offers_a_person(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.down = True
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, make_tracker(), {})
    assert result["order_id"] == ORDER
    assert result["handoff_reason"] == "backend_unavailable"
    assert responses(dispatcher) == ["utter_backend_unavailable"]


async def test_not_received_while_in_customs_goes_to_the_carrier_first(
    dispatcher: CollectingDispatcher,
) -> None:
    backend = InMemoryDisputeBackend()
    backend.add_order("alice", make_order(shipping_status="in_customs"))
    tracker = make_tracker({"order_id": ORDER, "dispute_reason": "not_received"})
    result = ValidateDisputeForm(backend).validate_dispute_reason(
        "not_received", dispatcher, tracker, {}
    )
    assert result == {"dispute_reason": "not_received", "dispute_blocked": "in_customs"}
    assert responses(dispatcher) == ["utter_package_in_customs"]


@pytest.mark.parametrize(
    ("typed", "expected"), [("12.5", {"refund_amount": "12.50"}), ("40", None), ("500", None)]
)
async def test_partial_amount_must_be_below_the_order_amount(
    typed: str,
    expected: dict[str, str] | None,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker({"order_id": ORDER})
    result = ValidateDisputeForm(backend).validate_refund_amount(typed, dispatcher, tracker, {})
    if typed == "40":  # the whole amount is a full refund
        assert result == {"refund_amount": None, "requested_outcome": "full_refund"}
    elif expected is None:
        assert result == {"refund_amount": None}
        assert responses(dispatcher) == ["utter_amount_too_high"]
    else:
        assert result == expected


async def test_an_amount_in_another_currency_is_asked_again(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    currency = {"entity": "currency", "value": "EUR", "start": 0, "end": 2}
    tracker = make_tracker({"order_id": ORDER}, text="12 eur", entities=[currency])
    result = ValidateDisputeForm(backend).validate_refund_amount("12", dispatcher, tracker, {})
    assert result == {"refund_amount": None}
    assert responses(dispatcher) == ["utter_amount_wrong_currency"]
    assert dispatcher.messages[0]["currency"] == "USD"


@pytest.mark.parametrize(
    ("text", "intent", "kept"),
    [
        ("can i send you a photo instead?", "send_evidence", False),
        ("will i lose my money if i do this?", "out_of_scope", False),
        ("it does not charge, is that normal?", "open_dispute", True),  # a description still
        ("The left earbud does not charge at all.", "open_dispute", True),
    ],
)
async def test_a_question_is_not_taken_as_the_description(
    text: str,
    intent: str,
    kept: bool,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker(text=text, intent=intent, requested_slot="dispute_description", **FORM)
    result = ValidateDisputeForm(backend).validate_dispute_description(
        text, dispatcher, tracker, {}
    )
    assert result == {"dispute_description": text if kept else None}
    assert responses(dispatcher) == ([] if kept else ["utter_description_not_a_question"])


@pytest.mark.parametrize("typed", ["3 or 4 euros", "somewhere between 5 and 8"])
async def test_two_amounts_in_the_answer_are_asked_again_as_one(
    typed: str, backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker({"order_id": ORDER}, text=typed, requested_slot="refund_amount", **FORM)
    # Whatever the mappings took from it ("4" from "4 euros", "58" from the digits).
    for slot_value in ("4", "58"):
        result = ValidateDisputeForm(backend).validate_refund_amount(
            slot_value, dispatcher, tracker, {}
        )
        assert result == {"refund_amount": None}
    assert responses(dispatcher) == ["utter_amount_not_understood"] * 2


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("ok, i want to open a dispute", False),  # the amount came from an earlier message
        ("i paid 9.99 euros for it and it arrived broken", False),  # a price, not a request
        ("i want a partial refund of 10 euros", True),
        ("give me 5 euros back", True),
    ],
)
async def test_an_amount_not_asked_for_is_forgotten_when_the_form_starts(
    text: str, kept: bool, backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    said = [{"entity": "amount", "value": "10", "start": 0, "end": 1}] if "euros" in text else []
    tracker = make_tracker(
        {"refund_amount": "3.00"}, text=text, intent="open_dispute", entities=said, **FORM
    )
    domain = {"forms": {"dispute_form": {"required_slots": ["order_id", "refund_amount"]}}}
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, domain)
    assert (SlotSet("refund_amount", None) in events) is not kept
    assert "utter_amount_not_understood" not in responses(dispatcher)  # nothing was asked


@pytest.mark.parametrize(
    ("text", "corrected"),
    [
        ("no, the other order", True),
        ("sorry, wrong order", True),
        ("it's not this order", True),
        ("no, the other one", True),
        ("no", False),
        ("the other earbud is broken", False),
        ("they sent the wrong one", False),
        ("wrong item", False),
        ("a different item", False),
    ],
)
async def test_the_other_order_asks_for_the_order_again(
    text: str, corrected: bool, backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        {"order_id": ORDER, "dispute_confirmed": False},
        text=text,
        intent="deny",
        active_loop="dispute_form",
        requested_slot="dispute_confirmed",
    )
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, {"forms": {}})
    if corrected:
        assert SlotSet("order_id", None) in events and SlotSet("dispute_confirmed", None) in events
        assert responses(dispatcher) == ["utter_order_correction"]
    else:
        assert SlotSet("order_id", None) not in events


async def at_the_return_question(
    form: RefundProposal, dispatcher: CollectingDispatcher, text: str, intent: str
) -> list[EventType]:
    """`text` typed at "Will you send the item back?", a partial refund of 15.00 asked."""
    slots = {"order_id": ORDER, "requested_outcome": "partial_refund", "refund_amount": "15.00"}
    form_name = form.name().removeprefix("validate_")
    tracker = make_tracker(
        slots, text=text, intent=intent, active_loop=form_name, requested_slot="with_return"
    )
    domain = {"forms": {form_name: {"required_slots": [*slots, "with_return"]}}}
    return await form.run(dispatcher, tracker, domain)


@pytest.mark.parametrize("form", [ValidateDisputeForm, ValidateDisputeChangeForm])
@pytest.mark.parametrize(
    ("text", "intent", "events"),
    [
        ("yes, i'll return them", "inform", [SlotSet("with_return", True)]),
        ("I'd rather keep it", "inform", [SlotSet("with_return", False)]),
        # A plain yes or no is the domain's mapping; words about the return say
        # more than the intent; "stop" leaves the form.
        ("yes", "affirm", []),
        ("no", "deny", []),
        ("no, I keep it", "deny", [SlotSet("with_return", False)]),
        ("no problem, I'll return it", "deny", [SlotSet("with_return", True)]),
        ("stop, I'll keep it", "stop", []),
    ],
)
async def test_a_typed_return_choice_fills_the_return_question(
    form: type[ValidateDisputeForm],
    text: str,
    intent: str,
    events: list[SlotSet],
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    assert await at_the_return_question(form(backend), dispatcher, text, intent) == events
    assert responses(dispatcher) == []


@pytest.mark.parametrize("form", [ValidateDisputeForm, ValidateDisputeChangeForm])
@pytest.mark.parametrize(
    ("text", "revised"),
    [
        ("14 euros", {"refund_amount": "14.00"}),
        ("twenty euros", {"refund_amount": "20.00"}),
        ("full", {"requested_outcome": "full_refund"}),
    ],
)
async def test_another_answer_at_the_return_question_revises_it_and_asks_again(
    form: type[ValidateDisputeForm],
    text: str,
    revised: dict[str, str],
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    events = await at_the_return_question(form(backend), dispatcher, text, "inform")
    after = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert {k: after[k] for k in revised} == revised
    assert after["with_return"] is None  # the return question is asked again
    assert responses(dispatcher) == ["utter_noted_change"]


async def test_full_refund_skips_the_amount_and_not_received_skips_the_return(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker({"requested_outcome": "full_refund", "dispute_reason": "not_received"})
    slots = await ValidateDisputeForm(backend).required_slots(
        list(DISPUTE_FORM_QUESTIONS), dispatcher, tracker, {}
    )
    assert slots == [
        "order_id",
        "dispute_reason",
        "requested_outcome",
        "dispute_description",
        "dispute_confirmed",
    ]


def filled(**changes: object) -> dict[str, object]:
    return {
        "order_id": ORDER,
        "dispute_reason": "damaged",
        "requested_outcome": "partial_refund",
        "refund_amount": "15.00",
        "with_return": False,
        "dispute_description": "The left earbud does not charge.",
        "dispute_confirmed": True,
        **changes,
    }


async def test_a_confirmed_dispute_is_opened_once_and_the_form_reset(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    action = ActionOpenDispute(backend)
    tracker = make_tracker(filled())
    events = await action.run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_dispute_opened"]
    assert SlotSet("order_id", None) in events
    assert SlotSet("last_dispute_id", "D-10001") in events
    # The same turn retried (e.g. Rasa re-sends the action): no second dispute.
    await action.run(CollectingDispatcher(), tracker, {})
    assert len(backend.disputes_by_buyer["alice"]) == 1
    assert backend.disputes_by_buyer["alice"][0].refund_amount == 15


async def test_declining_the_summary_opens_nothing(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    await ActionOpenDispute(backend).run(
        dispatcher, make_tracker(filled(dispute_confirmed=False)), {}
    )
    assert responses(dispatcher) == ["utter_dispute_not_opened"]
    assert "alice" not in backend.disputes_by_buyer


async def test_backend_down_at_submission_keeps_the_answers(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.down = True
    events = await ActionOpenDispute(backend).run(dispatcher, make_tracker(filled()), {})
    assert responses(dispatcher) == ["utter_backend_unavailable_kept"]
    assert SlotSet("order_id", None) not in events
    assert SlotSet("dispute_confirmed", None) in events


async def test_no_chat_token_asks_to_sign_in(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    events = await ActionOpenDispute(backend).run(
        dispatcher, make_tracker(filled(), token=None), {}
    )
    assert responses(dispatcher) == ["utter_sign_in_needed"]
    assert events == []
    assert backend.calls == []


async def test_an_edited_token_is_refused_by_the_backend(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    await ActionOpenDispute(backend).run(dispatcher, make_tracker(filled(), token="forged"), {})
    assert responses(dispatcher) == ["utter_sign_in_needed"]
    assert "alice" not in backend.disputes_by_buyer


async def test_the_order_question_offers_the_buyers_orders_as_buttons(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.add_order("alice", make_order("8000000000000001", title="Desk lamp"))
    await ActionAskOrderId(backend).run(dispatcher, make_tracker(**FORM), {})
    assert responses(dispatcher) == ["utter_ask_order_id"]
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    # both open to a dispute: in the backend's order, the newest placed first
    assert payloads == [
        '/inform{"order_id":"8000000000000001"}',
        f'/inform{{"order_id":"{ORDER}"}}',
    ]


async def test_an_unlinked_channel_user_is_asked_to_link_inside_the_form(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    def not_linked(_buyer: str) -> None:
        raise ChannelAccountNotLinked("not linked", problem="channel-account-not-linked")

    backend.me = not_linked  # type: ignore[assignment,method-assign]
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, make_tracker(), {})
    assert result == {"order_id": None, "dispute_blocked": "not_signed_in"}
    assert responses(dispatcher) == ["utter_link_account_needed"]


OFFER = {
    "event": "bot",
    "text": "Shall I connect you with a person?",
    "data": {
        "buttons": [
            {"title": "Yes, a person", "payload": "/request_human"},
            {"title": "No", "payload": "/deny"},
        ]
    },
}


@pytest.mark.parametrize("form", [ValidateDisputeForm, ValidateDisputeChangeForm])
async def test_a_typed_yes_to_the_offer_of_a_person_hands_over_without_submitting(
    form: type[ValidateDisputeForm],
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    """Not understood twice at "Shall I open it?", then a person was offered: "yes"."""
    name = form(backend).name().removeprefix("validate_")
    confirm = "dispute_confirmed" if form is ValidateDisputeForm else "change_confirmed"
    tracker = make_tracker(
        {"order_id": ORDER, confirm: True},
        text="yes",
        intent="affirm",
        active_loop=name,
        requested_slot=confirm,
        events=[user_event("blorp zzk", "nlu_fallback"), OFFER],
    )
    events = await form(backend).run(dispatcher, tracker, {"forms": {}})
    assert FollowupAction("action_request_handoff") in events
    assert ActiveLoop(None) in events
    assert SlotSet(confirm, None) in events and SlotSet("order_id", None) in events
    assert responses(dispatcher) == []
    assert backend.disputes(Credential("token-alice", "conversation-1")) == []  # nothing opened


async def test_a_typed_no_to_the_offer_of_a_person_carries_on_with_the_form(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        {
            "order_id": ORDER,
            "dispute_reason": "damaged",
            "requested_outcome": "full_refund",
            "with_return": False,
            "dispute_description": "It does not switch on.",
            "dispute_confirmed": False,
        },
        text="no",
        intent="deny",
        active_loop="dispute_form",
        requested_slot="dispute_confirmed",
        events=[user_event("blorp zzk", "nlu_fallback"), OFFER],
    )
    domain = {"forms": {"dispute_form": {"required_slots": list(DISPUTE_FORM_SLOTS)}}}
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, domain)
    # Asked again, not declined (a full refund has no amount question to fall back on).
    assert events == [
        SlotSet("dispute_confirmed", None),
        SlotSet("requested_slot", "dispute_confirmed"),
    ]
    assert responses(dispatcher) == ["utter_carry_on"]


async def test_a_yes_long_after_an_offer_answers_the_form(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """The offer was two messages ago: this "yes" answers the form's own question."""
    tracker = make_tracker(
        {"order_id": ORDER, "with_return": True},
        text="yes",
        intent="affirm",
        active_loop="dispute_form",
        requested_slot="with_return",
        events=[OFFER, user_event("no thanks", "deny"), {"event": "bot", "text": "Send it back?"}],
    )
    domain = {"forms": {"dispute_form": {"required_slots": ["order_id", "with_return"]}}}
    tracker.events.append({"event": "slot", "name": "with_return", "value": True})
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, domain)
    assert SlotSet("with_return", True) in events
    assert not any(isinstance(e, dict) and e.get("event") == "followup" for e in events)


@pytest.mark.parametrize(
    ("text", "requested", "expected"),
    [
        ("my hiking backpack broke, i want my money back", None, "8100000000000023"),
        ("the backpack", "order_id", "8100000000000023"),
        ("its the running shoes", "order_id", "8100000000000024"),
        ("the wireless earbuds please", "order_id", ORDER),
        ("i'm running out of time", "order_id", None),  # not the shoes' own noun
        ("the usb hub", "order_id", "8100000000000025"),  # a short product noun
        ("i paid for it and it's not the one", "order_id", None),  # short words name nothing
        ("i want to open a dispute", None, None),  # nothing named: the form asks
        ("the backpack", "dispute_reason", None),
    ],  # not the question being asked
)
async def test_a_product_named_instead_of_the_number_picks_the_order(
    text: str,
    requested: str | None,
    expected: str | None,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    backend.add_orders(
        "alice",
        {
            "8100000000000023": "Hiking backpack",
            "8100000000000024": "Running shoes",
            "8100000000000025": "USB-C hub for the laptop",
        },
    )
    tracker = make_tracker(text=text, intent="open_dispute", requested_slot=requested, **FORM)
    result = ValidateDisputeForm(backend).extract_order_id(dispatcher, tracker, {})
    assert result == ({"order_id": expected} if expected else {})
    assert dispatcher.messages == []


async def test_a_product_named_is_not_read_without_a_signed_in_buyer(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(text="the wireless earbuds", token=None, requested_slot="order_id")
    assert ValidateDisputeForm(backend).extract_order_id(dispatcher, tracker, {}) == {}


@pytest.mark.parametrize(
    ("reason", "with_return", "returning"),
    [
        ("damaged", False, "you keep the item"),
        ("damaged", True, "you will return the item"),
        ("not_received", None, "there is nothing to send back"),
    ],
)
async def test_the_summary_shows_the_buyers_words_and_the_return_as_it_is(
    reason: str,
    with_return: bool | None,
    returning: str,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    slots = {
        "order_id": ORDER,
        "dispute_reason": reason,
        "requested_outcome": "full_refund",
        "with_return": with_return,
        "dispute_description": "x" * 300,
    }
    await ActionAskDisputeConfirmed(backend).run(dispatcher, make_tracker(slots), {})
    message = dispatcher.messages[0]
    assert message["response"] == "utter_ask_dispute_confirmed"
    assert message["returning"] == returning
    assert message["description"] == "x" * 197 + "..."


DISPUTE_DOMAIN = {"forms": {"dispute_form": {"required_slots": list(DISPUTE_FORM_QUESTIONS)}}}


@pytest.mark.parametrize("typed", ["0", "-5 euros", "minus 3"])
async def test_a_refund_of_nothing_or_less_is_refused_with_the_reason(
    typed: str, backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker({"order_id": ORDER}, text=typed, requested_slot="refund_amount", **FORM)
    result = ValidateDisputeForm(backend).validate_refund_amount(typed, dispatcher, tracker, {})
    assert result == {"refund_amount": None}
    assert responses(dispatcher) == ["utter_amount_not_positive"]


@pytest.mark.parametrize("typed", ["full refund", "i'll keep them", "partial, 10 euros"])
async def test_an_answer_given_again_is_not_the_description(
    typed: str, backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(text=typed, requested_slot="dispute_description", **FORM)
    form = ValidateDisputeForm(backend)
    assert form.validate_dispute_description(typed, dispatcher, tracker, {}) == {
        "dispute_description": None
    }
    assert responses(dispatcher) == ["utter_description_is_an_answer"]


async def test_everything_said_when_the_form_starts_fills_every_answer(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    text = "my earbuds broke, i want a partial refund of 20 euros and i'll keep them"
    tracker = make_tracker(text=text, intent="open_dispute", **FORM)
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, DISPUTE_DOMAIN)
    assert SlotSet("requested_outcome", "partial_refund") in events
    assert SlotSet("refund_amount", "20.00") in events
    assert SlotSet("with_return", False) in events
    assert "utter_noted_change" not in responses(dispatcher)  # nothing to change yet


@pytest.mark.parametrize(
    ("typed", "changed"),
    [
        ("actually make it 20 euros", {"refund_amount": "20.00"}),
        ("no wait, i want to keep them", {"with_return": False}),
        (
            "sorry i meant a full refund",
            {"requested_outcome": "full_refund", "refund_amount": None},
        ),
    ],
)
async def test_a_change_at_the_confirmation_shows_the_summary_again(
    typed: str,
    changed: dict[str, object],
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    slots = filled(dispute_confirmed=None, with_return=True, refund_amount="15.00")
    intent = "deny" if typed.startswith("no") else "inform"
    tracker = make_tracker(
        slots, text=typed, intent=intent, requested_slot="dispute_confirmed", **FORM
    )
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, DISPUTE_DOMAIN)
    for slot, value in changed.items():
        assert SlotSet(slot, value) in events
    assert SlotSet("dispute_confirmed", None) in events  # asked again, with the summary
    assert responses(dispatcher)[0] == "utter_noted_change"


async def test_a_plain_answer_is_no_correction(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """Mid-form, a message that does not say it corrects anything changes nothing else."""
    tracker = make_tracker(
        filled(dispute_confirmed=None, dispute_description=None),
        text="i tried to return it to the shop but they said no",
        requested_slot="dispute_description",
        **FORM,
    )
    form = ValidateDisputeForm(backend)
    assert form.revisions(dispatcher, tracker, DISPUTE_DOMAIN) == []


async def test_answers_given_early_are_kept_for_their_question(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """At "Which order?", "partial, 20 eur" is not the order but is kept, unasked again."""
    tracker = make_tracker(text="partial, 20 eur", requested_slot="order_id", **FORM)
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, DISPUTE_DOMAIN)
    assert SlotSet("requested_outcome", "partial_refund") in events
    assert SlotSet("refund_amount", "20.00") in events
    assert "utter_noted_change" not in responses(dispatcher)  # nothing was changed


async def test_an_answer_given_is_not_changed_without_a_correction(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    slots = {"order_id": ORDER, "requested_outcome": "partial_refund", "refund_amount": "15.00"}
    tracker = make_tracker(
        slots,
        text="keep it, 12 euros is what i paid for shipping",
        requested_slot="with_return",
        **FORM,
    )
    assert ValidateDisputeForm(backend).revisions(dispatcher, tracker, DISPUTE_DOMAIN) == []


async def test_a_correction_at_another_question_asks_that_question_again(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    slots = {
        "order_id": ORDER,
        "requested_outcome": "partial_refund",
        "refund_amount": "15.00",
        "with_return": False,
    }  # filled from the "no" this message was read as
    tracker = make_tracker(
        slots, text="wait, 12 not 15", intent="deny", requested_slot="with_return", **FORM
    )
    events = ValidateDisputeForm(backend).revisions(dispatcher, tracker, DISPUTE_DOMAIN)
    assert SlotSet("refund_amount", "12.00") in events
    assert SlotSet("with_return", None) in events
    assert responses(dispatcher) == ["utter_noted_change"]


async def test_a_first_message_that_tells_the_whole_problem_is_its_description(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    text = (
        "I ordered the earbuds and when they arrived the charging case was cracked and the "
        "right earbud won't pair"
    )
    tracker = make_tracker(text=text, intent="open_dispute", **FORM)
    events = ValidateDisputeForm(backend).revisions(dispatcher, tracker, DISPUTE_DOMAIN)
    assert SlotSet("dispute_description", text) in events
    short = make_tracker(text="my earbuds are broken", intent="open_dispute", **FORM)
    said = ValidateDisputeForm(backend).revisions(dispatcher, short, DISPUTE_DOMAIN)
    assert said == [SlotSet("dispute_reason", "damaged")]  # a reason, not a description


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("my earbuds broke", "damaged"),
        ("the adapter is missing from the box", "missing_parts"),
        ("they sent me a pink phone holder instead of earbuds", "wrong_item"),
        ("i want to open a dispute", None),
    ],
)
async def test_the_first_message_gives_the_reason_when_the_nlu_tagged_none(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher, text: str, reason: str
) -> None:
    tracker = make_tracker(text=text, intent="open_dispute", **FORM)
    events = ValidateDisputeForm(backend).revisions(dispatcher, tracker, DISPUTE_DOMAIN)
    assert events == ([SlotSet("dispute_reason", reason)] if reason else [])
    tagged = make_tracker(
        {"dispute_reason": "counterfeit"}, text=text, intent="open_dispute", **FORM
    )
    kept = ValidateDisputeForm(backend).revisions(dispatcher, tagged, DISPUTE_DOMAIN)
    assert all(event.get("name") != "dispute_reason" for event in kept)  # the NLU's stays


@pytest.mark.parametrize(
    ("text", "intent", "response"),
    [
        ("hold on, let me check", "out_of_scope", "utter_description_take_your_time"),
        ("one sec", "out_of_scope", "utter_description_take_your_time"),
        ("yes that's right, open it", "affirm", "utter_description_still_needed"),
        ("ok go ahead", "affirm", "utter_description_still_needed"),
        ("no", "deny", "utter_description_still_needed"),
    ],
)
async def test_a_stall_or_a_yes_at_the_description_is_not_the_description(
    text: str,
    intent: str,
    response: str,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker(text=text, intent=intent, requested_slot="dispute_description", **FORM)
    form = ValidateDisputeForm(backend)
    assert form.validate_dispute_description(text, dispatcher, tracker, {}) == {
        "dispute_description": None
    }
    assert responses(dispatcher) == [response]


@pytest.mark.parametrize(
    "text", ["hold on, the screen flickers too", "yes the case is cracked and one bud is dead"]
)
async def test_a_description_that_starts_like_a_stall_or_a_yes_is_kept(
    text: str, backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(text=text, intent="inform", requested_slot="dispute_description", **FORM)
    result = ValidateDisputeForm(backend).validate_dispute_description(
        text, dispatcher, tracker, {}
    )
    assert result == {"dispute_description": text} and dispatcher.messages == []


async def test_a_short_first_message_states_the_request_and_the_problem_is_asked(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    text = "I want a refund for my wireless earbuds, they stopped working after one day"
    tracker = make_tracker(text=text, intent="open_dispute", **FORM)
    events = ValidateDisputeForm(backend).revisions(dispatcher, tracker, DISPUTE_DOMAIN)
    assert all(event.get("name") != "dispute_description" for event in events)


async def test_a_visitor_opening_a_dispute_learns_where_to_do_it_on_the_site() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        text="where is the open dispute button", token=None, active_loop="dispute_form"
    )
    await ActionAskOrderId(InMemoryDisputeBackend()).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_open_dispute_yourself", "utter_sign_in_needed"]


async def test_the_whole_price_asked_for_up_front_is_a_full_refund(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    whole = f"{backend.order(ALICE, ORDER).amount:f}".removesuffix(".00")  # as typed: "40"
    tracker = make_tracker(
        {"order_id": ORDER, "refund_amount": whole},  # Rasa's entity mapping filled it
        text=f"open a dispute, i want my {whole} euros back",
        intent="open_dispute",
        entities=[{"entity": "amount", "value": whole}],
        active_loop="dispute_form",
    )
    domain = {"forms": {"dispute_form": {"required_slots": list(DISPUTE_FORM_SLOTS)}}}
    events = await ValidateDisputeForm(backend).run(dispatcher, tracker, domain)
    after = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert after["requested_outcome"] == "full_refund"
    assert after["refund_amount"] is None
