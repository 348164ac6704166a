"""What the forms share: when they ask nothing more, the order they ask for, and for the
dispute forms their slots (read from domain.yml), the validation every one of them does,
and the refund proposal two of them ask for."""

from __future__ import annotations

import abc
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.backend_client import (
    BackendError,
    BackendUnavailable,
    BuyerNotIdentified,
    Credential,
    DisputeBackend,
    NotFound,
    Order,
)
from actions.common import (
    UsesBackend,
    buyer_credential,
    format_money,
    latest_intent,
    lookup_for_buyer,
    not_identified_response,
    person_offered_before_message,
)
from actions.parsing import (
    amount_stated,
    asks_for_money,
    is_correction,
    names_another_order,
    names_money,
    normalise_order_id,
    order_named_alone,
    order_named_instead,
    outcome_from_text,
    outcome_stated,
    parse_amount,
    reason_from_text,
    return_choice_from_text,
)

logger = logging.getLogger(__name__)

DOMAIN_FILE = Path(__file__).resolve().parent.parent / "domain.yml"
DISPUTE_FORMS = ("dispute_form", "dispute_change_form", "dispute_cancel_form")


@functools.lru_cache(maxsize=1)
def _forms() -> dict[str, Any]:
    with DOMAIN_FILE.open(encoding="utf-8") as file:
        forms: dict[str, Any] = yaml.safe_load(file).get("forms") or {}
    return forms


def required_slots_of(form: str) -> tuple[str, ...]:
    """The slots a form asks for, in its order, as domain.yml lists them."""
    return tuple(_forms()[form]["required_slots"])


def form_slots(form: str) -> tuple[str, ...]:
    """What a dispute form's submit action forgets: its questions and `dispute_blocked`."""
    return (*required_slots_of(form), "dispute_blocked")


def every_form_slot() -> tuple[str, ...]:
    """Every slot a dispute form fills (and the delivery topic): what "stop" or a handoff
    forgets."""
    slots = dict.fromkeys(s for form in DISPUTE_FORMS for s in required_slots_of(form))
    return (*slots, "dispute_blocked", "delivery_topic")


FORM_SLOTS = every_form_slot()
OUTCOMES = ("partial_refund", "full_refund")
CORRECTION_RESETS = ("order_id", "dispute_confirmed", "change_confirmed", "cancel_confirmed")
# Each form's last question; an answer changed there asks it again.
CONFIRMATIONS = ("dispute_confirmed", "change_confirmed", "cancel_confirmed")
# Intents that say something other than an answer: they never revise one.
NOT_ANSWERS = (
    "stop",
    "request_human",
    "ask_dispute_deadline",
    "ask_dispute_limit",
    "ask_dispute_ended",
    "ask_cancel_consequence",
    "ask_how_disputes_work",
    "contact_seller",
)


def is_order_correction(tracker: Tracker) -> bool:
    """The buyer says the chosen order is not the right one, without naming another."""
    if not tracker.get_slot("order_id") or tracker.get_slot("requested_slot") == "order_id":
        return False
    latest = tracker.latest_message or {}
    if any(e.get("entity") == "order_id" for e in latest.get("entities", [])):
        return False  # a new number: the slot mapping takes it and it is validated
    return names_another_order(latest.get("text") or "")


def named_order_answer(
    backend: DisputeBackend, tracker: Tracker, *, replaces_earlier: bool = False
) -> dict[str, Any]:
    """The product named instead of the order number, in the message that starts a
    form or in answer to "Which order?": the order_id a form's extraction fills.

    With `replaces_earlier` the message that starts the form names its own order ("and
    the lamp?"), whatever order the conversation was about before; without it an order
    kept from earlier stays (the dispute form weighs the two in `validate_order_id`)."""
    message = tracker.latest_message or {}
    requested = tracker.get_slot("requested_slot")
    if (
        (tracker.get_slot("order_id") and (requested is not None or not replaces_earlier))
        or requested not in (None, "order_id")
        or any(e.get("entity") == "order_id" for e in message.get("entities") or [])
        or latest_intent(tracker) in ("stop", "request_human")
    ):
        return {}
    orders = lookup_for_buyer(tracker, backend.orders)
    if orders is None:
        return {}  # asking for the order says what went wrong
    order_id = order_named_alone(orders, message.get("text") or "")
    return {"order_id": order_id} if order_id else {}


def order_check_failed(
    error: BackendError, order_id: str, dispatcher: CollectingDispatcher
) -> dict[str, Any]:
    """What a form does when the backend could not check the buyer's order."""
    if isinstance(error, BuyerNotIdentified):
        dispatcher.utter_message(response=not_identified_response(error))
        return {"order_id": None, "dispute_blocked": "not_signed_in"}
    if isinstance(error, NotFound):
        dispatcher.utter_message(response="utter_order_not_found", order_id=order_id)
        return {"order_id": None}
    if isinstance(error, BackendUnavailable):
        dispatcher.utter_message(response="utter_backend_unavailable")
        return {
            "order_id": order_id,
            "dispute_blocked": "backend_unavailable",
            "handoff_reason": "backend_unavailable",
        }
    logger.error("checking order %s: %s", order_id, error)
    dispatcher.utter_message(response="utter_something_went_wrong")
    return {"order_id": None, "dispute_blocked": "error"}


# A first message this long (about two short sentences) tells the story, not only the request.
STORY_WORDS = 18


def description_given(text: str) -> dict[str, Any]:
    """A first message that tells the whole problem ("when they arrived the charging case
    was cracked and the right earbud won't pair...") is its own description; a shorter
    one ("my earbuds stopped working, I want a refund") states the request, and the form
    asks for the problem in the buyer's words."""
    if len(text.split()) >= STORY_WORDS and reason_from_text(text):
        return {"dispute_description": text.strip()[:2000]}
    return {}


def problem_stated(text: str, form_slots: set[str], tracker: Tracker) -> dict[str, Any]:
    """What the message that starts the form says of the problem: its reason ("my earbuds
    broke": damaged), when the NLU tagged none, and the whole message as the description
    when it tells the whole problem."""
    stated: dict[str, Any] = {}
    if "dispute_reason" in form_slots and tracker.get_slot("dispute_reason") is None:
        reason = reason_from_text(text)
        if reason is not None:
            stated["dispute_reason"] = reason
    if "dispute_description" in form_slots:
        stated.update(description_given(text))
    return stated


# The answers `stated_answers` reads from any message.
STATED_ANSWERS = ("requested_outcome", "refund_amount", "with_return")


def stated_answers(text: str) -> dict[str, Any]:
    """The dispute's answers a message states: outcome, amount (which means a partial
    refund unless it says full), return choice."""
    stated: dict[str, Any] = {}
    outcome = outcome_stated(text)
    amount = amount_stated(text)
    if amount is not None and (asks_for_money(text) or is_correction(text) or names_money(text)):
        stated["refund_amount"] = str(amount)
        outcome = outcome or "partial_refund"
    if outcome is not None:
        stated["requested_outcome"] = outcome
    choice = return_choice_from_text(text)
    if choice is not None:
        stated["with_return"] = choice
    return stated


def refund_amount_asked(tracker: Tracker) -> bool:
    """Does the latest message ask for an amount back ("a partial refund of 10 euros")?"""
    message = tracker.latest_message or {}
    has_amount = any(e.get("entity") == "amount" for e in message.get("entities") or [])
    return has_amount and asks_for_money(message.get("text") or "")


Form = TypeVar("Form")
# What a slot's validator checks: the value, the dispatcher, the tracker.
Check = Callable[[Form, Any, CollectingDispatcher, Tracker], dict[str, Any]]
# A slot's validator, as Rasa calls it: with the domain too.
SlotValidator = Callable[[Form, Any, CollectingDispatcher, Tracker, DomainDict], dict[str, Any]]


def validates_any_value(check: Check[Form]) -> SlotValidator[Form]:
    """A form's `validate_<slot>`, which Rasa calls with the domain too, made of `check`,
    which needs no domain and is not given one. Every value is checked, None included."""

    @functools.wraps(check)
    def validate(
        form: Form,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return check(form, slot_value, dispatcher, tracker)

    return validate


def validates_answer(check: Check[Form]) -> SlotValidator[Form]:
    """The same for the answer to a question: a slot a correction forgot (None) is no
    answer; the form asks the question again, and `check` sees only answers."""
    slot = check.__name__.removeprefix("validate_")

    def unless_forgotten(
        form: Form, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        if slot_value is None:
            return {slot: None}
        return check(form, slot_value, dispatcher, tracker)

    return validates_any_value(functools.wraps(check)(unless_forgotten))


class FormValidation(UsesBackend, FormValidationAction, abc.ABC):
    """What every form's validator shares: the backend, and its questions: none once the
    form `has_ended`, else those that apply."""

    @abc.abstractmethod
    def name(self) -> str: ...

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if self.has_ended(tracker):
            return []
        return self.slots_that_apply(list(domain_slots), tracker)

    def has_ended(self, tracker: Tracker) -> bool:
        """Has the form nothing more to ask (an account linked, a dispute blocked with the
        reason said, nobody signed in)? By default it asks on."""
        return False

    def slots_that_apply(self, slots: list[str], tracker: Tracker) -> list[str]:
        """The form's questions that the answers so far leave to ask (by default, all)."""
        return slots


class OrderFormValidation(FormValidation, abc.ABC):
    """A form that asks for one of the buyer's orders, by its number or by the product
    named instead. A number that is no order number is asked again, with the reason; a
    well-formed one goes to `order_id_given`."""

    # The message that starts the form names its own order, whatever order the
    # conversation was about before (see `named_order_answer`).
    order_replaces_earlier = False

    def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return named_order_answer(
            self.backend, tracker, replaces_earlier=self.order_replaces_earlier
        )

    @validates_answer
    def validate_order_id(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        order_id = normalise_order_id(slot_value)
        if order_id is None:
            dispatcher.utter_message(response="utter_order_id_invalid")
            return {"order_id": None}  # asked again
        return self.order_id_given(order_id, dispatcher, tracker)

    def order_id_given(
        self, order_id: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """What the form makes of a well-formed order number (by default, takes it)."""
        return {"order_id": order_id}


class DisputeFormValidation(OrderFormValidation, abc.ABC):
    """The validation every dispute form shares (opening, changing, cancelling).

    Before the form's own slot validators run, `run` reads the message as a whole:

    - "no, the other order" (no number given) forgets the order, and whatever the message
      filled as the answer to the pending question, and the form asks for the order again;
    - a typed "yes" or "no" that answers the offer of a person, not the form's question:
      "no" carries on and asks the question again, "yes" ends the form unsubmitted and
      hands the conversation to a person;
    - an amount kept from an earlier message is not the refund asked for, unless the
      message starting the form asks for it;
    - answers stated besides the question asked are taken (`revisions`): all of them when
      the form starts, a correction at any question, any change at the confirmation
      (which is then asked again, summary and all).

    A form whose `dispute_blocked` is set has explained why already: it asks nothing more,
    and its submit action tidies up. Subclasses give `name`, what they make of the order
    (`order_id_given`) and their other slot validators.
    """

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if is_order_correction(tracker):
            # "no, the other order": forget the order, and whatever this
            # message filled as the answer to the pending question (it was not
            # one), and let the form ask for the order again.
            dispatcher.utter_message(response="utter_order_correction")
            pending = tracker.get_slot("requested_slot")
            resets = {*CORRECTION_RESETS, *([pending] if pending else [])}
            return [SlotSet(slot, None) for slot in sorted(resets)]
        if latest_intent(tracker) in ("affirm", "deny") and person_offered_before_message(tracker):
            return await self._answers_person_offer(dispatcher, tracker, domain)
        switched = self._order_switched(dispatcher, tracker)
        if switched:
            tracker.add_slots(switched)  # validated below, as answers are
            return [*switched, *await super().run(dispatcher, tracker, domain)]
        forget: list[EventType] = []
        if (
            tracker.get_slot("requested_slot") is None  # the form is starting
            and tracker.get_slot("refund_amount") is not None
            and not refund_amount_asked(tracker)
        ):
            # An amount from an earlier message ("my sister got 3 euros back") or
            # a price ("I paid 9.99 euros and it broke") is not the refund asked
            # for: the form asks.
            forget = [SlotSet("refund_amount", None)]
            tracker.add_slots(forget)
        revised = self.revisions(dispatcher, tracker, domain)
        tracker.add_slots(revised)  # validated below, as answers are
        return [*forget, *revised, *await super().run(dispatcher, tracker, domain)]

    def _order_switched(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[EventType]:
        """ "no sorry, I meant the earbuds", "the shoes one, not the speaker": a correction
        (or a no at the confirmation) that names another of the buyer's orders by its
        product. The form takes that order, validates it as if it had been typed, and
        asks the pending question again; what was said of the problem and the refund
        stays. Never a guess: a message that names no other order changes nothing."""
        requested = tracker.get_slot("requested_slot")
        current = tracker.get_slot("order_id")
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        if (
            not current
            or requested in (None, "order_id")
            or any(e.get("entity") == "order_id" for e in message.get("entities") or [])
            or not (
                is_correction(text)
                or latest_intent(tracker) == "deny"
                or (requested in CONFIRMATIONS and latest_intent(tracker) != "affirm")
            )
        ):
            return []
        orders = lookup_for_buyer(tracker, self.backend.orders)
        if orders is None:
            return []  # the form carries on; the question says what went wrong
        named = order_named_instead(orders, text)
        if named is None or named == current:
            return []
        dispatcher.utter_message(response="utter_noted_change")
        resets = ({*CORRECTION_RESETS, requested} & set(every_form_slot())) - {"order_id"}
        return [*(SlotSet(slot, None) for slot in sorted(resets)), SlotSet("order_id", named)]

    async def _answers_person_offer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """A typed "yes"/"no" to the offer of a person, not to the form's question:
        forget what it filled as that answer."""
        pending = tracker.get_slot("requested_slot")
        undo = [SlotSet(pending, None)] if pending else []
        if latest_intent(tracker) == "deny":
            dispatcher.utter_message(response="utter_carry_on")
            tracker.add_slots(undo)
            ask_again = await self.next_requested_slot(dispatcher, tracker, domain)
            return [*undo, *([ask_again] if ask_again else [])]
        return [
            *(SlotSet(slot, None) for slot in FORM_SLOTS),
            ActiveLoop(None),  # ends the form without submitting it
            SlotSet("requested_slot", None),
            FollowupAction("action_request_handoff"),
        ]

    def revisions(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """What the message says about this form's answers besides the question asked:
        all of them at once when the form starts ("a partial refund of 20, I keep
        them"), a correction at any question ("actually make it 20 euros"), any change
        at the confirmation. A change at the confirmation asks it again, summary and all."""
        requested = tracker.get_slot("requested_slot")
        text = (tracker.latest_message or {}).get("text") or ""
        if latest_intent(tracker) in NOT_ANSWERS:
            return []
        confirming = requested in CONFIRMATIONS
        form_slots = set(
            domain.get("forms", {}).get(self.form_name(), {}).get("required_slots", [])
        )
        said = stated_answers(text)
        if requested is None:
            said.update(problem_stated(text, form_slots, tracker))
        # At a question about the refund, a message that says nothing to it but states
        # another answer ("partial" at "Will you send it back?") revises that answer.
        # (Any text answers the other questions: an order, a reason, a description.)
        elsewhere = (
            requested in STATED_ANSWERS
            and requested not in said
            and latest_intent(tracker) not in ("affirm", "deny")
            and any(k in form_slots for k in said)
        )
        correcting = requested is None or confirming or is_correction(text) or elsewhere
        # An answer not given yet is taken whenever it is stated; one already given is
        # changed only when the buyer corrects it (or at the confirmation).
        stated = {
            k: v
            for k, v in said.items()
            if k in form_slots
            and k != requested
            and tracker.get_slot(k) != v
            and (correcting or tracker.get_slot(k) is None)
        }
        if not stated:
            if confirming and latest_intent(tracker) != "affirm" and said.keys() & form_slots:
                # "keep it" at "..., keeping the item?", "partial, 25 like i said": it
                # says again what the summary says, and is no "no". The confirmation
                # is asked again.
                return [SlotSet(requested, None)]
            return []
        events: list[EventType] = [SlotSet(slot, value) for slot, value in stated.items()]
        if requested is not None and any(tracker.get_slot(k) is not None for k in stated):
            dispatcher.utter_message(response="utter_noted_change")
        if requested is not None and (confirming or correcting) and requested not in said:
            events.append(SlotSet(requested, None))  # no answer to it: asked again
        return events

    def has_ended(self, tracker: Tracker) -> bool:
        # Already explained; the form ends and the submit action tidies up.
        return bool(tracker.get_slot("dispute_blocked"))

    def _buyer(self, tracker: Tracker) -> Credential:
        buyer = buyer_credential(tracker)
        if not buyer:
            raise BuyerNotIdentified("no chat token")
        return buyer

    def _order_kept(self, tracker: Tracker) -> Order | None:
        """The order the form has taken (the `order_id` slot), if the backend can say."""
        order_id = tracker.get_slot("order_id")
        if not order_id:
            return None
        return lookup_for_buyer(tracker, lambda buyer: self.backend.order(buyer, order_id))


class RefundProposal(DisputeFormValidation, abc.ABC):
    """The proposal the dispute form and the change form ask for: a full or a partial
    refund (then how much, never more than the order's price), and whether the item goes
    back. A full refund asks no amount."""

    def slots_that_apply(self, slots: list[str], tracker: Tracker) -> list[str]:
        if tracker.get_slot("requested_outcome") == "full_refund":
            slots.remove("refund_amount")
        return slots

    @validates_answer
    def validate_requested_outcome(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        if slot_value == "partial_refund" and tracker.slots.get("requested_outcome") == (
            "full_refund"
        ):
            # "I want my 59 euros back": the amount, validated first this turn, is the
            # whole price, which made it a full refund.
            return {"requested_outcome": "full_refund"}
        outcome = slot_value if slot_value in OUTCOMES else outcome_from_text(str(slot_value))
        if outcome is None:
            outcome = outcome_from_text(tracker.latest_message.get("text") or "")
        if outcome is None:
            dispatcher.utter_message(response="utter_outcome_not_understood")
            return {"requested_outcome": None}
        result: dict[str, Any] = {"requested_outcome": outcome}
        if outcome == "full_refund":
            result["refund_amount"] = None
        return result

    @validates_any_value
    def validate_refund_amount(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        asked = tracker.get_slot("requested_slot") == "refund_amount"
        if slot_value is None and not asked:
            return {"refund_amount": None}  # forgotten (see run), not an answer
        # The answer to "How much?" is read whole: "3 or 4 euros" is no one amount.
        amount = parse_amount(tracker.latest_message.get("text") if asked else slot_value)
        if amount is None:
            dispatcher.utter_message(response="utter_amount_not_understood")
            return {"refund_amount": None}
        if amount <= 0:
            dispatcher.utter_message(response="utter_amount_not_positive")
            return {"refund_amount": None}
        return self._amount_against_order(amount, dispatcher, tracker)

    def _amount_against_order(
        self, amount: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """An amount in the order's currency, at most its price; the whole price is a
        full refund."""
        order = self._order_kept(tracker)
        said_currency = next(
            (
                e.get("value")
                for e in (tracker.latest_message or {}).get("entities", [])
                if e.get("entity") == "currency"
            ),
            None,
        )
        if order is not None and said_currency and said_currency != order.currency:
            dispatcher.utter_message(
                response="utter_amount_wrong_currency",
                currency=order.currency,
                order_amount=format_money(order.amount, order.currency),
            )
            return {"refund_amount": None}
        if order is not None and amount > order.amount:
            dispatcher.utter_message(
                response="utter_amount_too_high",
                order_amount=format_money(order.amount, order.currency),
            )
            return {"refund_amount": None}
        if order is not None and amount == order.amount:
            return {"refund_amount": None, "requested_outcome": "full_refund"}
        return {"refund_amount": str(amount)}

    def extract_with_return(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A typed answer to "Will you send the item back?" ("I'll keep it", "yes, I'll
        return them"). The domain fills the slot from a plain yes or no; words about
        the return say more than the intent does ("no problem, I'll return it")."""
        if tracker.get_slot("requested_slot") != "with_return" or latest_intent(tracker) in (
            "stop",
            "request_human",
        ):
            return {}
        choice = return_choice_from_text(tracker.latest_message.get("text") or "")
        return {} if choice is None else {"with_return": choice}

    @validates_answer
    def validate_with_return(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        return {"with_return": bool(slot_value)}
