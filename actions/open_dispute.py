"""Opening a dispute: which order, is it eligible, why, what outcome, confirm."""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.backend_client import (
    BackendError,
    BackendUnavailable,
    BuyerNotIdentified,
    Conflict,
    DisputeBackend,
    NewDispute,
    NotFound,
    Order,
    Refused,
)
from actions.common import (
    FORM_SLOTS,
    REASON_LABELS,
    BackendAction,
    UsesBackend,
    buyer_credential,
    format_date,
    format_money,
    idempotency_key,
    latest_intent,
    normalise_order_id,
    not_identified_response,
    parse_amount,
    person_offered_before_message,
    reason_from_text,
    return_choice_from_text,
)

logger = logging.getLogger(__name__)

DISPUTE_FORM_SLOTS = (
    "order_id",
    "dispute_reason",
    "requested_outcome",
    "refund_amount",
    "with_return",
    "dispute_description",
    "dispute_confirmed",
    "dispute_blocked",
)

OUTCOME_WORDS = {
    "partial_refund": ("partial", "part", "some", "half", "discount", "compensation", "keep"),
    "full_refund": (
        "full",
        "all",
        "whole",
        "entire",
        "100",
        "everything",
        "complete",
        "money back",
        "refund",
        "every penny",
    ),
}


CORRECTION_RESETS = ("order_id", "dispute_confirmed", "change_confirmed", "cancel_confirmed")
# Only phrases about the *order*: "the wrong one" or "a different item" may
# well be the buyer's reason (a wrong item was sent), not a correction.
_OTHER_ORDER = re.compile(
    r"\b(?:other|another|different|wrong) order\b|\bthe other one\b"
    r"|\bnot (?:this|that|the right) order\b|\border is wrong\b",
    re.IGNORECASE,
)


def is_order_correction(tracker: Tracker) -> bool:
    """The buyer says the chosen order is not the right one, without naming another."""
    if not tracker.get_slot("order_id") or tracker.get_slot("requested_slot") == "order_id":
        return False
    latest = tracker.latest_message or {}
    if any(e.get("entity") == "order_id" for e in latest.get("entities", [])):
        return False  # a new number: the slot mapping takes it and it is validated
    return bool(_OTHER_ORDER.search(latest.get("text") or ""))


def outcome_from_text(text: str) -> str | None:
    lowered = text.lower()
    for outcome in ("partial_refund", "full_refund"):
        if any(word in lowered for word in OUTCOME_WORDS[outcome]):
            return outcome
    return None


_WORD = re.compile(r"[a-z]{3,}")
# Short words that name no product; "hub", "mug", "bag", "fan" and the like do.
_NOT_PRODUCTS = frozenset(
    "the and for you are but not was got has had its his her can did one all any our out why"
    " how who too new now yet use get see way day may say own off let put ask try big old bad"
    " two per via yes ago him she they them this that with from have what when your just".split()
)


def _words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in _NOT_PRODUCTS]


def _stems(text: str) -> set[str]:
    return {word.removesuffix("s") for word in _words(text)}


def orders_named(orders: list[Order], text: str) -> list[str]:
    """The orders whose product a message names best ("my backpack", "the earbuds")."""
    said = _stems(text) - {"order", "item", "package", "parcel", "product", "dispute"}
    shared = {order.id: len(_stems(order.title) & said) for order in orders}
    best = max(shared.values(), default=0)
    return [order_id for order_id, count in shared.items() if count and count == best]


_QUALIFIER = re.compile(r"\s(?:for|with|in|from|to|compatible)\s.*", re.IGNORECASE)


def head_noun(title: str) -> str | None:
    """The word a buyer names a product by: the last of its title before any
    qualifier ("Running shoes", "USB-C hub for laptops")."""
    words = _words(_QUALIFIER.sub("", title)) or _words(title)
    return words[-1].removesuffix("s") if words else None


def order_named_alone(orders: list[Order], text: str) -> str | None:
    """The one order a message names by its product ("my bluetooth speaker stopped
    working"), or None. Stricter than `orders_named`: the product's own noun must be
    there, so "I'm running out of time" does not pick the running shoes."""
    titles = {order.id: order.title for order in orders}
    said = _stems(text)
    named = [i for i in orders_named(orders, text) if head_noun(titles[i]) in said]
    return named[0] if len(named) == 1 else None


def named_order_answer(backend: DisputeBackend, tracker: Tracker) -> dict[str, Any]:
    """The product named instead of the order number, in the message that starts a
    form or in answer to "Which order?": the order_id a form's extraction fills."""
    message = tracker.latest_message or {}
    if (
        tracker.get_slot("order_id")
        or tracker.get_slot("requested_slot") not in (None, "order_id")
        or any(e.get("entity") == "order_id" for e in message.get("entities") or [])
        or latest_intent(tracker) in ("stop", "request_human")
    ):
        return {}
    buyer = buyer_credential(tracker)
    if not buyer:
        return {}
    try:
        orders = backend.orders(buyer)
    except BackendError:
        return {}  # asking for the order says what went wrong
    order_id = order_named_alone(orders, message.get("text") or "")
    return {"order_id": order_id} if order_id else {}


def order_buttons(orders: list[Order], payload_slot: str = "order_id") -> list[dict[str, str]]:
    return [
        {
            "title": f"{order.title[:28]} · {order.id[-4:]}",
            "payload": f'/inform{{"{payload_slot}":"{order.id}"}}',
        }
        for order in orders[:5]
    ]


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
        return {"order_id": order_id, "dispute_blocked": "backend_unavailable",
                "handoff_reason": "backend_unavailable"}  # fmt: skip
    logger.error("checking order %s: %s", order_id, error)
    dispatcher.utter_message(response="utter_something_went_wrong")
    return {"order_id": None, "dispute_blocked": "error"}


class ActionAskOrderId(BackendAction):
    """Asks which order, offering the buyer's relevant orders as buttons."""

    def name(self) -> str:
        return "action_ask_order_id"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        form = tracker.active_loop_name
        orders = self.backend.orders(buyer)
        if form in ("dispute_change_form", "dispute_cancel_form"):
            orders = [o for o in orders if o.active_dispute_id]
            if not orders:
                dispatcher.utter_message(response="utter_no_dispute_in_progress")
                return [SlotSet("dispute_blocked", "no_dispute_in_progress")]
            dispatcher.utter_message(response="utter_ask_which_dispute",
                                     buttons=order_buttons(orders))  # fmt: skip
            return []
        if form == "order_lookup_form":
            waiting = [o for o in orders if o.shipping_status != "delivered"]
            orders = waiting + [o for o in orders if o.shipping_status == "delivered"]
        else:
            # Open windows first: those are the orders a dispute can be opened on.
            orders = sorted(orders, key=lambda o: (o.active_dispute_id is not None,
                                                   not o.window.is_open))  # fmt: skip
        dispatcher.utter_message(response="utter_ask_order_id", buttons=order_buttons(orders))
        return []


_ASKS_FOR_MONEY = re.compile(r"\b(?:refund\w*|back|compensat\w*|partial\w*|reimburs\w*)\b", re.I)


def refund_amount_asked(tracker: Tracker) -> bool:
    """Does the latest message ask for an amount back ("a partial refund of 10 euros")?"""
    message = tracker.latest_message or {}
    has_amount = any(e.get("entity") == "amount" for e in message.get("entities") or [])
    return has_amount and bool(_ASKS_FOR_MONEY.search(message.get("text") or ""))


class ValidateDisputeForm(UsesBackend, FormValidationAction):
    """Checks each answer of the dispute form against the buyer's real orders."""

    def name(self) -> str:
        return "validate_dispute_form"

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
            # A typed "yes"/"no" to the offer of a person, not to the form's question:
            # forget what it filled as that answer.
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
        return [*forget, *await super().run(dispatcher, tracker, domain)]

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("dispute_blocked"):
            return []  # already explained; the form ends and the submit action tidies up
        slots = list(domain_slots)
        if tracker.get_slot("requested_outcome") == "full_refund":
            slots.remove("refund_amount")
        if tracker.get_slot("dispute_reason") == "not_received":
            slots.remove("with_return")  # nothing to send back
        return slots

    def _buyer(self, tracker: Tracker) -> str:
        buyer = buyer_credential(tracker)
        if not buyer:
            raise BuyerNotIdentified("no chat token")
        return buyer

    def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return named_order_answer(self.backend, tracker)

    def validate_order_id(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        order_id = normalise_order_id(slot_value)
        if order_id is None:
            dispatcher.utter_message(response="utter_order_id_invalid")
            return {"order_id": None}
        message = tracker.latest_message or {}
        said = {e.get("entity") for e in message.get("entities") or []}
        if "order_id" in said:
            return self._check_order(order_id, dispatcher, tracker)
        # Kept from earlier in the chat: unless this message names another of
        # the buyer's products ("...for my backpack").
        try:
            orders = self.backend.orders(self._buyer(tracker))
        except BackendError as error:
            return order_check_failed(error, order_id, dispatcher)
        named = orders_named(orders, message.get("text") or "")
        if not named or order_id in named:
            return self._check_order(order_id, dispatcher, tracker)
        # Another order: what was said about the earlier one does not carry over.
        forget = {} if "dispute_reason" in said else {"dispute_reason": None}
        if len(named) > 1:
            return {"order_id": None, **forget}  # the form asks which, with buttons
        return {**forget, **self._check_order(named[0], dispatcher, tracker)}

    def validate_dispute_reason(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        if slot_value is not None and tracker.slots.get("dispute_reason", slot_value) is None:
            return {"dispute_reason": None}  # forgotten this turn: the order changed
        return self._check_reason(slot_value, dispatcher, tracker)

    def _check_order(
        self, order_id: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        try:
            buyer = self._buyer(tracker)
            if self.backend.me(buyer).under_review:
                dispatcher.utter_message(response="utter_account_under_review")
                return {"order_id": order_id, "dispute_blocked": "account_under_review",
                        "handoff_reason": "abuse_review"}  # fmt: skip
            eligibility = self.backend.eligibility(buyer, order_id)
        except BackendError as error:
            return order_check_failed(error, order_id, dispatcher)
        if eligibility.eligible:
            dispatcher.utter_message(
                response="utter_order_eligible",
                order_id=order_id,
                window_ends=format_date(eligibility.window_ends_at),
            )
            return {"order_id": order_id}
        code = eligibility.reason_code or "not_eligible"
        if code == "dispute_already_open":
            dispatcher.utter_message(
                response="utter_dispute_already_open",
                order_id=order_id,
                dispute_id=eligibility.active_dispute_id or "",
            )
        elif code == "protection_expired":
            dispatcher.utter_message(
                response="utter_protection_expired",
                order_id=order_id,
                window_ends=format_date(eligibility.window_ends_at),
            )
        elif code == "no_tracking_yet":
            dispatcher.utter_message(response="utter_no_tracking_yet", order_id=order_id)
        else:
            dispatcher.utter_message(response="utter_not_eligible", reason=eligibility.reason)
        return {"order_id": order_id, "dispute_blocked": code}

    def _check_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        reason = slot_value if slot_value in REASON_LABELS else reason_from_text(str(slot_value))
        if reason is None:  # an entity with no synonym: read the whole message
            reason = reason_from_text(tracker.latest_message.get("text") or "")
        if reason is None:
            dispatcher.utter_message(response="utter_reason_not_understood")
            return {"dispute_reason": None}
        if reason == "not_received":
            blocked = self._not_received_first(dispatcher, tracker)
            if blocked:
                return {"dispute_reason": reason, "dispute_blocked": blocked}
        return {"dispute_reason": reason}

    def _not_received_first(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> str | None:
        """R8: tracking and customs come before a not-received dispute."""
        order_id = tracker.get_slot("order_id")
        if not order_id:
            return None
        try:
            order = self.backend.order(self._buyer(tracker), order_id)
        except BackendError:
            return None  # the backend decides at submission
        if order.shipping_status == "in_customs":
            dispatcher.utter_message(response="utter_package_in_customs", order_id=order.id)
            return "in_customs"
        if order.shipping_status == "in_transit":
            dispatcher.utter_message(
                response="utter_not_received_in_transit_dispute",
                deadline=format_date(order.shipping_deadline),
            )
        return None

    def validate_requested_outcome(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        outcome = slot_value if slot_value in OUTCOME_WORDS else outcome_from_text(str(slot_value))
        if outcome is None:
            outcome = outcome_from_text(tracker.latest_message.get("text") or "")
        if outcome is None:
            dispatcher.utter_message(response="utter_outcome_not_understood")
            return {"requested_outcome": None}
        result: dict[str, Any] = {"requested_outcome": outcome}
        if outcome == "full_refund":
            result["refund_amount"] = None
        return result

    def validate_refund_amount(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        asked = tracker.get_slot("requested_slot") == "refund_amount"
        if slot_value is None and not asked:
            return {"refund_amount": None}  # forgotten (see run), not an answer
        # The answer to "How much?" is read whole: "3 or 4 euros" is no one amount.
        amount = parse_amount(tracker.latest_message.get("text") if asked else slot_value)
        if amount is None or amount <= 0:
            dispatcher.utter_message(response="utter_amount_not_understood")
            return {"refund_amount": None}
        order_id = tracker.get_slot("order_id")
        try:
            order = self.backend.order(self._buyer(tracker), order_id) if order_id else None
        except BackendError:
            order = None
        said_currency = next(
            (e.get("value") for e in (tracker.latest_message or {}).get("entities", [])
             if e.get("entity") == "currency"),
            None,
        )  # fmt: skip
        if order is not None and said_currency and said_currency != order.currency:
            dispatcher.utter_message(
                response="utter_amount_wrong_currency", currency=order.currency,
                order_amount=format_money(order.amount, order.currency),
            )  # fmt: skip
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

    def validate_with_return(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return {"with_return": bool(slot_value)}

    def validate_dispute_description(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        text = str(slot_value or "").strip()
        if len(text) < 10:
            dispatcher.utter_message(response="utter_description_too_short")
            return {"dispute_description": None}
        if text.endswith("?") and latest_intent(tracker) not in ("open_dispute", "inform"):
            # "can I send you a photo instead?" is a question, not what is wrong.
            dispatcher.utter_message(response="utter_description_not_a_question")
            return {"dispute_description": None}
        return {"dispute_description": text[:2000]}


class ActionAskDisputeConfirmed(BackendAction):
    """Summarises the dispute before it is opened."""

    def name(self) -> str:
        return "action_ask_dispute_confirmed"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        order = self.backend.order(buyer, tracker.get_slot("order_id"))
        outcome = tracker.get_slot("requested_outcome")
        amount = parse_amount(tracker.get_slot("refund_amount")) or order.amount
        with_return = tracker.get_slot("with_return")
        reason = tracker.get_slot("dispute_reason") or ""
        if reason == "not_received":
            returning = "there is nothing to send back"
        else:
            returning = "you will return the item" if with_return else "you keep the item"
        description = str(tracker.get_slot("dispute_description") or "")
        dispatcher.utter_message(
            response="utter_ask_dispute_confirmed",
            order_id=order.id,
            title=order.title,
            reason=REASON_LABELS.get(reason, "other"),
            outcome="a full refund" if outcome == "full_refund" else "a partial refund",
            amount=format_money(amount, order.currency),
            returning=returning,
            # What the seller will read, shortened: the buyer checks it is theirs.
            description=description if len(description) <= 200 else description[:197] + "...",
        )
        return []


class ActionOpenDispute(BackendAction):
    """Submits the dispute form: opens the dispute, or explains why not."""

    def name(self) -> str:
        return "action_open_dispute"

    def on_unavailable(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        # Keep every answer so a retry does not ask again; only re-confirm.
        dispatcher.utter_message(response="utter_backend_unavailable_kept")
        return [SlotSet("dispute_confirmed", None), SlotSet("dispute_blocked", None),
                SlotSet("handoff_reason", "backend_unavailable")]  # fmt: skip

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        blocked = tracker.get_slot("dispute_blocked")
        if blocked == "backend_unavailable":
            return [SlotSet("dispute_blocked", None)]
        if blocked:
            return reset_dispute_slots()
        if not tracker.get_slot("dispute_confirmed"):
            dispatcher.utter_message(response="utter_dispute_not_opened")
            return reset_dispute_slots()
        outcome = tracker.get_slot("requested_outcome") or "full_refund"
        request = NewDispute(
            order_id=tracker.get_slot("order_id"),
            reason=tracker.get_slot("dispute_reason"),
            requested_outcome=outcome,
            refund_amount=(
                parse_amount(tracker.get_slot("refund_amount"))
                if outcome == "partial_refund"
                else None
            ),  # fmt: skip
            with_return=bool(tracker.get_slot("with_return")),
            description=tracker.get_slot("dispute_description") or "",
        )
        key = idempotency_key(tracker, "open", request.order_id)
        try:
            dispute = self.backend.open_dispute(buyer, request, idempotency_key=key)
        except (Conflict, Refused, NotFound) as error:
            logger.info("open dispute refused: %s", error)
            dispatcher.utter_message(response="utter_dispute_refused", reason=error.detail)
            return reset_dispute_slots()
        dispatcher.utter_message(
            response="utter_dispute_opened",
            dispute_id=dispute.id,
            order_id=dispute.order_id,
            negotiation_ends=format_date(dispute.deadlines.get("negotiation_ends_at")),
        )
        return [*reset_dispute_slots(), SlotSet("last_dispute_id", dispute.id)]


def reset_dispute_slots() -> list[EventType]:
    return [SlotSet(slot, None) for slot in DISPUTE_FORM_SLOTS]
