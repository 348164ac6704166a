"""Opening a dispute: which order, is it eligible, why, what outcome, confirm."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import (
    BackendError,
    Conflict,
    Credential,
    NewDispute,
    NotFound,
    Order,
    Refused,
)
from actions.common import (
    REASON_LABELS,
    BackendAction,
    format_date,
    format_money,
    idempotency_key,
    latest_intent,
)
from actions.forms import (
    RefundProposal,
    form_slots,
    order_check_failed,
    stated_answers,
    validates_answer,
)
from actions.parsing import (
    is_stalling,
    only_confirms,
    orders_named,
    parse_amount,
    reason_from_text,
)

logger = logging.getLogger(__name__)

DISPUTE_FORM_SLOTS = form_slots("dispute_form")


def order_buttons(orders: list[Order], payload_slot: str = "order_id") -> list[dict[str, str]]:
    return [
        {
            "title": f"{order.title[:28]} · {order.id[-4:]}",
            "payload": f'/inform{{"{payload_slot}":"{order.id}"}}',
        }
        for order in orders[:5]
    ]


class ActionAskOrderId(BackendAction):
    """Asks which order, offering the buyer's relevant orders as buttons."""

    def name(self) -> str:
        return "action_ask_order_id"

    def when_anonymous(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """Nobody signed in wants to open a dispute: where to do it on the site, then how
        to sign in to do it here."""
        if tracker.active_loop_name == "dispute_form":
            dispatcher.utter_message(response="utter_open_dispute_yourself")
        return super().when_anonymous(dispatcher, tracker)

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        form = tracker.active_loop_name
        orders = self.backend.orders(buyer)
        if form in ("dispute_change_form", "dispute_cancel_form"):
            orders = [o for o in orders if o.active_dispute_id]
            if not orders:
                dispatcher.utter_message(response="utter_no_dispute_in_progress")
                return [SlotSet("dispute_blocked", "no_dispute_in_progress")]
            dispatcher.utter_message(
                response="utter_ask_which_dispute", buttons=order_buttons(orders)
            )
            return []
        if form == "order_lookup_form":
            waiting = [o for o in orders if o.shipping_status != "delivered"]
            orders = waiting + [o for o in orders if o.shipping_status == "delivered"]
        else:
            # Open windows first: those are the orders a dispute can be opened on.
            orders = sorted(
                orders, key=lambda o: (o.active_dispute_id is not None, not o.window.is_open)
            )
        dispatcher.utter_message(response="utter_ask_order_id", buttons=order_buttons(orders))
        return []


class ValidateDisputeForm(RefundProposal):
    """The dispute form: the order (one of the buyer's, eligible), the reason, the refund
    proposal, the description; what the forms share is in actions/forms.py."""

    def name(self) -> str:
        return "validate_dispute_form"

    def slots_that_apply(self, slots: list[str], tracker: Tracker) -> list[str]:
        slots = super().slots_that_apply(slots, tracker)
        if tracker.get_slot("dispute_reason") == "not_received":
            slots.remove("with_return")  # nothing to send back
        return slots

    def order_id_given(
        self, order_id: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """The order number given, or kept from earlier in the chat unless this message
        names another of the buyer's products; then whether it is eligible."""
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

    @validates_answer
    def validate_dispute_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        if tracker.slots.get("dispute_reason", slot_value) is None:
            return {"dispute_reason": None}  # forgotten this turn: the order changed
        return self._check_reason(slot_value, dispatcher, tracker)

    def _check_order(
        self, order_id: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        try:
            buyer = self._buyer(tracker)
            if self.backend.me(buyer).under_review:
                dispatcher.utter_message(response="utter_account_under_review")
                return {
                    "order_id": order_id,
                    "dispute_blocked": "account_under_review",
                    "handoff_reason": "abuse_review",
                }
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
        order = self._order_kept(tracker)
        if order is None:
            return None  # no order yet, or the backend decides at submission
        if order.shipping_status == "in_customs":
            dispatcher.utter_message(response="utter_package_in_customs", order_id=order.id)
            return "in_customs"
        if order.shipping_status == "in_transit":
            dispatcher.utter_message(
                response="utter_not_received_in_transit_dispute",
                deadline=format_date(order.shipping_deadline),
            )
        return None

    @validates_answer
    def validate_dispute_description(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        text = str(slot_value).strip()
        if is_stalling(text):
            # "hold on, let me check": the question waits for the answer.
            dispatcher.utter_message(response="utter_description_take_your_time")
            return {"dispute_description": None}
        if only_confirms(text) or latest_intent(tracker) in ("affirm", "deny"):
            dispatcher.utter_message(response="utter_description_still_needed")
            return {"dispute_description": None}
        if stated_answers(text) and len(text.split()) <= 5:
            # "full refund", "i'll keep them": an answer given again, not the problem.
            dispatcher.utter_message(response="utter_description_is_an_answer")
            return {"dispute_description": None}
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
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
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
        return [
            SlotSet("dispute_confirmed", None),
            SlotSet("dispute_blocked", None),
            SlotSet("handoff_reason", "backend_unavailable"),
        ]

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
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
            ),
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
