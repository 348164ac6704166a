"""Every action that calls the backend, under every way the backend can fail it; and the
answers no other test file expects (asked questions, answers not understood, odd states)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import (
    BackendError,
    BackendUnavailable,
    BuyerNotIdentified,
    ChannelAccountNotLinked,
    Credential,
    HandoffTicket,
    LinkAttempt,
    Refused,
)
from actions.common import BackendAction
from actions.delivery import ActionCheckDelivery, ActionDeliveryAside
from actions.evidence import ActionAttachEvidence
from actions.handoff import ActionRestart, announce
from actions.manage_dispute import (
    ActionAskCancelConfirmed,
    ActionAskChangeConfirmed,
    ActionCancelDispute,
    ActionCheckDisputeStatus,
    ActionExplainEvidence,
    ActionModifyDispute,
)
from actions.open_dispute import (
    ActionAskDisputeConfirmed,
    ActionAskOrderId,
    ActionOpenDispute,
    ValidateDisputeForm,
)
from actions.orders import ActionListOrders
from actions.support import ActionHandleFallback, ActionRefundProblem, ActionStopForm
from tests.actions.conftest import CHANGE, ORDER, PHOTO, make_tracker, open_one, responses
from tests.actions.fake_backend import InMemoryChannelBackend, InMemoryDisputeBackend, make_order
from tests.actions.test_accounts import FakeChannelBackend, channel_tracker, validate_code

# --- every backend action, every failure ------------------------------------------------------

# Each action with slots that take it as far as its first backend call.
ACTIONS: dict[type[BackendAction], dict[str, Any]] = {
    ActionAskOrderId: {},
    ActionAskDisputeConfirmed: {"order_id": ORDER, "dispute_reason": "damaged"},
    ActionOpenDispute: {
        "order_id": ORDER,
        "dispute_reason": "damaged",
        "requested_outcome": "full_refund",
        "dispute_confirmed": True,
        "dispute_description": "Broken on arrival.",
    },
    ActionCheckDisputeStatus: {},
    ActionAskChangeConfirmed: {"order_id": ORDER},
    ActionModifyDispute: {"order_id": ORDER, "change_confirmed": True},
    ActionAskCancelConfirmed: {"order_id": ORDER},
    ActionCancelDispute: {"order_id": ORDER, "cancel_confirmed": True},
    ActionExplainEvidence: {},
    ActionRefundProblem: {},
    ActionListOrders: {},
    ActionCheckDelivery: {"order_id": ORDER},
    ActionDeliveryAside: {"order_id": ORDER},
    ActionAttachEvidence: {},
}


def concrete(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        if not getattr(sub, "__abstractmethods__", None):
            found.add(sub)
        found |= concrete(sub)
    return found


def test_the_table_holds_every_backend_action() -> None:
    assert concrete(BackendAction) == set(ACTIONS)


class Failing(InMemoryChannelBackend):
    """Every call for a buyer fails with `error`."""

    def __init__(self, error: BackendError) -> None:
        super().__init__()
        self.tokens["channel:telegram:4242"] = "alice"
        self.error = error

    def _buyer(self, buyer: Credential, call: str) -> str:
        raise self.error


FAILURES = [
    (BackendUnavailable("down", status=503), "utter_backend_unavailable"),
    (
        BuyerNotIdentified("expired", problem="buyer-token-invalid", status=401),
        "utter_sign_in_needed",
    ),
    (
        ChannelAccountNotLinked("unlinked", problem="channel-account-not-linked", status=401),
        "utter_link_account_needed",
    ),
    (Refused("new rule", problem="something-new", status=422), "utter_something_went_wrong"),
]


FUTURE, PAST = "2099-01-01T00:00:00+00:00", "2001-01-01T00:00:00+00:00"


def tracker_for(action: type[BackendAction], slots: dict[str, Any]) -> Any:
    if action is ActionAttachEvidence:
        return channel_tracker(slots, files=[PHOTO])
    return make_tracker(slots)


@pytest.mark.parametrize("action", list(ACTIONS), ids=lambda a: a.__name__)
@pytest.mark.parametrize(("error", "answer"), FAILURES, ids=lambda x: getattr(x, "problem", x))
async def test_every_backend_failure_gets_its_answer(
    action: type[BackendAction], error: BackendError, answer: str
) -> None:
    backend, dispatcher = Failing(error), CollectingDispatcher()
    if action is ActionAttachEvidence:
        instance = ActionAttachEvidence(backend, lambda a: pytest.fail("fetched"))
    else:
        instance = action(backend)
    events = await instance.run(dispatcher, tracker_for(action, ACTIONS[action]), {})
    if action is ActionOpenDispute and answer == "utter_backend_unavailable":
        answer = "utter_backend_unavailable_kept"  # the answers are kept for a retry
    if action is ActionOpenDispute and answer == "utter_something_went_wrong":
        answer = "utter_dispute_refused"  # its first call is the open: the refusal says why
    if answer == "utter_sign_in_needed" and action in ANONYMOUS_ANSWERS:
        answer = ANONYMOUS_ANSWERS[action]  # said without an account, then sign in
    assert responses(dispatcher) == (answer if isinstance(answer, list) else [answer])
    if isinstance(error, BackendUnavailable):
        assert SlotSet("handoff_reason", "backend_unavailable") in events


# What needs no account is said before asking to sign in.
ANONYMOUS_ANSWERS: dict[type[BackendAction], list[str]] = {
    ActionExplainEvidence: ["utter_evidence_general", "utter_sign_in_needed"],
    ActionCheckDelivery: ["utter_not_received_general", "utter_sign_in_to_check"],
    ActionDeliveryAside: ["utter_not_received_general", "utter_sign_in_to_check"],
}


@pytest.mark.parametrize("action", list(ACTIONS), ids=lambda a: a.__name__)
async def test_no_credential_asks_to_sign_in_without_calling(action: type[BackendAction]) -> None:
    backend, dispatcher = InMemoryChannelBackend(), CollectingDispatcher()
    tracker = make_tracker(ACTIONS[action], token=None)
    instance = action(backend) if action is not ActionAttachEvidence else action(backend, backend)
    events = await instance.run(dispatcher, tracker, {})
    assert all(e["event"] == "slot" and e["value"] is None for e in events)  # nothing kept
    assert responses(dispatcher) == ANONYMOUS_ANSWERS.get(action, ["utter_sign_in_needed"])
    assert backend.calls == []


async def test_customs_without_an_account_gets_the_carrier_advice(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker(token=None, intent="package_in_customs")
    await ActionCheckDelivery(InMemoryChannelBackend()).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_customs_general", "utter_sign_in_to_check"]


# --- questions asked with the backend's data ----------------------------------------------------


async def test_the_change_question_names_the_amount_and_the_return(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    slots = {**CHANGE, "refund_amount": "12.5", "with_return": True, "change_confirmed": None}
    await ActionAskChangeConfirmed(backend).run(dispatcher, make_tracker(slots), {})
    assert responses(dispatcher) == ["utter_ask_change_confirmed"]
    message = dispatcher.messages[0]
    assert (message["amount"], message["returning"]) == ("12.50 USD", "with the item returned")


async def test_the_cancel_question_says_until_when_a_new_dispute_can_be_opened(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    open_one(backend)
    await ActionAskCancelConfirmed(backend).run(dispatcher, make_tracker({"order_id": ORDER}), {})
    assert responses(dispatcher) == ["utter_ask_cancel_confirmed"]
    assert dispatcher.messages[0]["window_ends"] == "6 Dec 2026"


async def test_which_dispute_offers_only_orders_with_one_in_progress(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.add_order("alice", make_order("8000000000000001", title="Desk lamp"))
    open_one(backend)
    tracker = make_tracker(active_loop="dispute_cancel_form", requested_slot="order_id")
    await ActionAskOrderId(backend).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_ask_which_dispute"]
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        f'/inform{{"order_id":"{ORDER}"}}'
    ]


async def test_the_status_of_one_order_named(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    dispute_id = open_one(backend).id
    tracker = make_tracker({"order_id": ORDER}, entities=[{"entity": "order_id", "value": ORDER}])
    events = await ActionCheckDisputeStatus(backend).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_dispute_status"]
    assert dispute_id in dispatcher.messages[0]["details"]
    assert events == [
        SlotSet("order_id", ORDER),
        SlotSet("last_dispute_id", dispute_id),  # what a "when does ... ?" after it is about
        SlotSet("last_topic", "status"),
    ]


async def test_a_refund_problem_lists_the_disputes_that_ended_with_a_refund(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    dispute_id = open_one(backend).id
    backend.settle("alice", dispute_id)
    events = await ActionRefundProblem(backend).run(dispatcher, make_tracker(), {})
    assert responses(dispatcher) == ["utter_refund_problem_found", "utter_refund_problem_evidence"]
    assert dispute_id in dispatcher.messages[0]["details"]
    assert "refund of 40.00 USD" in dispatcher.messages[0]["details"]
    assert events == [SlotSet("handoff_reason", "refund_problem")]


async def test_customs_asked_about_but_not_shown_on_a_package_in_transit(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.orders_by_buyer["alice"] = [
        make_order(
            shipping_status="in_transit", receipt_confirmed_at=None, shipping_deadline=FUTURE
        )
    ]
    tracker = make_tracker({"order_id": ORDER}, intent="package_in_customs")
    await ActionCheckDelivery(backend).run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_customs_not_shown", "utter_in_transit"]


async def test_a_parcel_past_its_promised_date_is_called_late(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    """Never "on its way, promised by" a date that has passed."""
    backend.orders_by_buyer["alice"] = [
        make_order(shipping_status="in_transit", receipt_confirmed_at=None, shipping_deadline=PAST)
    ]
    await ActionCheckDelivery(backend).run(dispatcher, make_tracker({"order_id": ORDER}), {})
    assert responses(dispatcher) == ["utter_in_transit_late"]


async def test_a_package_with_a_dispute_in_progress_says_there_is_one(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    dispute_id = open_one(backend).id
    await ActionCheckDelivery(backend).run(dispatcher, make_tracker({"order_id": ORDER}), {})
    assert responses(dispatcher) == ["utter_dispute_already_open"]
    assert dispatcher.messages[0]["dispute_id"] == dispute_id


# --- answers the dispute form does not understand -------------------------------------------------

FORM = {"active_loop": "dispute_form"}


@pytest.mark.parametrize(
    ("slot", "value", "tracker", "response"),
    [
        ("order_id", "12", {"requested_slot": "order_id"}, "utter_order_id_invalid"),
        (
            "dispute_reason",  # none of the reasons
            "hmm well",
            {"slots": {"order_id": ORDER}, "text": "hmm well"},
            "utter_reason_not_understood",
        ),
        ("requested_outcome", "banana", {"text": "banana"}, "utter_outcome_not_understood"),
        ("dispute_description", "bad", {}, "utter_description_too_short"),  # too short to help
    ],
)
def test_an_answer_the_form_does_not_understand_is_asked_again_with_the_reason(
    slot: str,
    value: str,
    tracker: dict[str, Any],
    response: str,
    backend: InMemoryDisputeBackend,
    dispatcher: CollectingDispatcher,
) -> None:
    validate = getattr(ValidateDisputeForm(backend), f"validate_{slot}")
    assert validate(value, dispatcher, make_tracker(**tracker, **FORM), {}) == {slot: None}
    assert responses(dispatcher) == [response]


def test_not_received_while_still_in_transit_may_be_disputed_with_the_deadline(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    backend.orders_by_buyer["alice"] = [
        make_order(shipping_status="in_transit", receipt_confirmed_at=None)
    ]
    tracker = make_tracker({"order_id": ORDER}, text="it never arrived", **FORM)
    form = ValidateDisputeForm(backend)
    assert form.validate_dispute_reason("not_received", dispatcher, tracker, {}) == {
        "dispute_reason": "not_received"
    }
    assert responses(dispatcher) == ["utter_not_received_in_transit_dispute"]
    assert dispatcher.messages[0]["deadline"] == "20 Nov 2026"


def test_an_unexpected_refusal_checking_the_order_blocks_the_form(
    backend: InMemoryDisputeBackend, dispatcher: CollectingDispatcher
) -> None:
    def odd(buyer: Credential, order_id: str) -> Any:
        raise Refused("new rule", problem="something-new", status=422)

    backend.eligibility = odd  # type: ignore[method-assign]
    tracker = make_tracker(**FORM, entities=[{"entity": "order_id", "value": ORDER}])
    result = ValidateDisputeForm(backend).validate_order_id(ORDER, dispatcher, tracker, {})
    assert result == {"order_id": None, "dispute_blocked": "error"}
    assert responses(dispatcher) == ["utter_something_went_wrong"]


# --- the rest: stop, unreadable messages, handoff, restart, link codes --------------------------


async def test_stop_forgets_the_forms_answers(dispatcher: CollectingDispatcher) -> None:
    events = await ActionStopForm().run(dispatcher, make_tracker({"order_id": ORDER}), {})
    assert responses(dispatcher) == ["utter_form_stopped"]
    assert SlotSet("order_id", None) in events


async def test_a_form_left_for_a_person_does_not_ask_what_else(
    dispatcher: CollectingDispatcher,
) -> None:
    tracker = make_tracker({"order_id": ORDER}, intent="request_human")
    events = await ActionStopForm().run(dispatcher, tracker, {})
    assert responses(dispatcher) == ["utter_form_left_for_person"]
    assert SlotSet("order_id", None) in events


@pytest.mark.parametrize(
    ("intent", "answer"),
    [("message_empty", "utter_message_empty"), ("message_too_long", "utter_message_too_long")],
)
async def test_a_message_the_channel_could_not_pass_on_says_why(intent: str, answer: str) -> None:
    dispatcher = CollectingDispatcher()
    assert await ActionHandleFallback().run(dispatcher, make_tracker(intent=intent), {}) == []
    assert responses(dispatcher) == [answer]


def test_an_operator_already_on_the_ticket_is_named(dispatcher: CollectingDispatcher) -> None:
    ticket = HandoffTicket(
        ticket_id=7,
        state="assigned",
        created=False,
        position=None,
        estimated_wait_minutes=0,
        operators_online=1,
        expected_when=None,
        operator_name="Marta",
    )
    announce(dispatcher, ticket)
    assert responses(dispatcher) == ["utter_handoff_operator_joined"]
    assert dispatcher.messages[0]["operator"] == "Marta"


async def test_restart_says_so_when_the_domain_has_the_words(
    dispatcher: CollectingDispatcher,
) -> None:
    domain = {"responses": {"utter_restart": [{"text": "Starting over."}]}}
    events = await ActionRestart(InMemoryDisputeBackend()).run(dispatcher, make_tracker(), domain)
    assert responses(dispatcher) == ["utter_restart"]
    assert [e["event"] for e in events] == ["restart"]


def test_a_wrong_link_code_says_how_many_tries_are_left() -> None:
    backend = FakeChannelBackend()
    backend.codes["telegram:4242"] = ("alice", "654321")
    dispatcher = CollectingDispatcher()
    assert validate_code(backend, "111111", dispatcher) == {"link_code": None}
    assert responses(dispatcher) == ["utter_link_code_wrong"]
    assert dispatcher.messages[0]["attempts_left"] == 4
    assert backend.link_account(
        Credential("identity:telegram:4242", "telegram:4242", kind="channel-identity"), "654321"
    ) == LinkAttempt(linked=True, buyer_name="Alice")
