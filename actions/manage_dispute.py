"""An open dispute: check it, change the proposal (R4), cancel it (R6), evidence (R5)."""

from __future__ import annotations

import abc
import logging
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import (
    BackendError,
    Conflict,
    Credential,
    Dispute,
    Order,
    Refused,
)
from actions.common import (
    BackendAction,
    UsesBackend,
    format_date,
    format_money,
    idempotency_key,
    lookup_for_buyer,
    order_meant,
)
from actions.dispute_text import describe, describe_detail
from actions.forms import (
    DisputeFormValidation,
    RefundProposal,
    form_slots,
    order_check_failed,
)
from actions.parsing import order_named_alone, parse_amount

logger = logging.getLogger(__name__)

CHANGE_FORM_SLOTS = form_slots("dispute_change_form")
CANCEL_FORM_SLOTS = form_slots("dispute_cancel_form")


def find_dispute(disputes: list[Dispute], order_id: str | None) -> Dispute | None:
    matching = [d for d in disputes if not order_id or d.order_id == order_id]
    in_progress = [d for d in matching if d.in_progress]
    candidates = in_progress or matching
    return candidates[0] if candidates else None


class ActionCheckDisputeStatus(BackendAction):
    """R7: one dispute, or all of them, with "in progress" / "ended" and the resolution."""

    def name(self) -> str:
        return "action_check_dispute_status"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        disputes = self.backend.disputes(buyer)
        topic: list[EventType] = [SlotSet("last_topic", "status")]
        order_id = order_meant(tracker, self.backend, buyer)
        if order_id:
            chosen = find_dispute(disputes, order_id)
            if chosen is None:
                dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=order_id)
                return topic
            details = describe_detail(chosen)
            dispatcher.utter_message(response="utter_dispute_status", details=details)
            return [SlotSet("order_id", order_id), SlotSet("last_dispute_id", chosen.id), *topic]
        if not disputes:
            dispatcher.utter_message(response="utter_no_disputes")
        elif len(disputes) == 1:
            dispatcher.utter_message(
                response="utter_dispute_status", details=describe_detail(disputes[0])
            )
            topic.append(SlotSet("last_dispute_id", disputes[0].id))
        else:
            ordered = sorted(disputes, key=lambda d: not d.in_progress)[:6]
            lines = "\n".join(f"• {describe(d)}" for d in ordered)
            dispatcher.utter_message(response="utter_dispute_list", details=lines)
        if self.backend.me(buyer).under_review:
            dispatcher.utter_message(response="utter_account_review_status")
        return topic


class DisputeInProgress(DisputeFormValidation, abc.ABC):
    """The change and cancel forms: the dispute must be in progress (R4, R6). When the
    form starts with no order number, the dispute is the one the buyer's product names,
    else the only one in progress."""

    # Does the form say which dispute it picked? The cancel form's confirmation names
    # the order itself, so it does not.
    names_the_dispute_picked = True

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        starting = tracker.get_slot("requested_slot") is None and not tracker.get_slot(
            "dispute_blocked"
        )
        picked = self._dispute_picked(dispatcher, tracker, domain)
        if picked is not None:
            return picked
        if starting and self.names_the_dispute_picked:
            self._say_which(dispatcher, tracker)
        return await super().run(dispatcher, tracker, domain)

    def _say_which(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        """The dispute the form starts on, when the buyer did not type its number: the
        product they named ("the speeker"), the one the conversation was about, or
        their only one. Saying it lets them correct a wrong pick at once."""
        message = tracker.latest_message or {}
        if any(e.get("entity") == "order_id" for e in message.get("entities") or []):
            return
        order = self._order_kept(tracker)  # None: the order's check says what went wrong
        if order is not None and order.active_dispute_id:
            dispatcher.utter_message(
                response="utter_dispute_picked", order_id=order.id, title=order.title
            )

    def _dispute_picked(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType] | None:
        """When the form starts with no order number: the dispute the buyer's product names
        ("lower my refund on the speaker"), else the only one in progress. A product named
        whose dispute cannot be changed is said so, never swapped for another dispute.
        Events that end the form, or None to carry on (with `order_id` added if picked)."""
        orders = self._orders_at_start(tracker)
        if orders is None:
            return None
        in_progress = [o for o in orders if o.active_dispute_id]
        text = (tracker.latest_message or {}).get("text") or ""
        named = order_named_alone(orders, text)
        if named and named not in {o.id for o in in_progress}:
            result = self.validate_order_id(named, dispatcher, tracker, domain)
            return [SlotSet(k, v) for k, v in result.items()] + (
                [SlotSet("requested_slot", None)] if result.get("dispute_blocked") else []
            )
        if not in_progress:
            dispatcher.utter_message(response="utter_no_dispute_in_progress")
            return [
                SlotSet("dispute_blocked", "no_dispute_in_progress"),
                SlotSet("requested_slot", None),
            ]
        if named is None and len(in_progress) == 1:
            named = in_progress[0].id
        if named:
            tracker.add_slots([SlotSet("order_id", named)])
        return None

    def _orders_at_start(self, tracker: Tracker) -> list[Order] | None:
        """The buyer's orders when the form starts with no order named; None when there is
        no choice to make or the backend cannot say (the question's action then explains
        what went wrong)."""
        if (
            tracker.get_slot("requested_slot") is not None
            or tracker.get_slot("order_id")
            or tracker.get_slot("dispute_blocked")
        ):
            return None
        return lookup_for_buyer(tracker, self.backend.orders)

    def order_id_given(
        self, order_id: str, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        """The order's dispute, which must be in progress (R4, R6)."""
        try:
            disputes = self.backend.disputes(self._buyer(tracker), order_id=order_id)
        except BackendError as error:
            return order_check_failed(error, order_id, dispatcher)
        dispute = find_dispute(disputes, order_id)
        if dispute is None:
            dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=order_id)
            return {"order_id": None}
        if not dispute.in_progress:
            dispatcher.utter_message(
                response="utter_dispute_already_ended", details=describe(dispute)
            )
            return {"order_id": order_id, "dispute_blocked": "dispute_ended"}
        return {"order_id": order_id}


class ValidateDisputeChangeForm(DisputeInProgress, RefundProposal):
    """R4: a new proposal on a dispute in progress; amounts as when opening."""

    def name(self) -> str:
        return "validate_dispute_change_form"


class ValidateDisputeCancelForm(DisputeInProgress):
    """R6: cancelling a dispute in progress."""

    names_the_dispute_picked = False

    def name(self) -> str:
        return "validate_dispute_cancel_form"


class ActionAskChangeConfirmed(BackendAction):
    def name(self) -> str:
        return "action_ask_change_confirmed"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        order = self.backend.order(buyer, tracker.get_slot("order_id"))
        amount = refund_asked(tracker, order)
        dispatcher.utter_message(
            response="utter_ask_change_confirmed",
            order_id=order.id,
            amount=format_money(amount, order.currency),
            returning="with the item returned"
            if tracker.get_slot("with_return")
            else "keeping the item",
        )
        return []


def refund_asked(tracker: Tracker, order: Order) -> Decimal:
    """The refund the change form asks for: the whole price for a full refund, else the
    amount given (the whole price when none was)."""
    if tracker.get_slot("requested_outcome") == "full_refund":
        return order.amount
    return parse_amount(tracker.get_slot("refund_amount")) or order.amount


class DisputeChange(BackendAction, abc.ABC):
    """Submits a form that changes the buyer's dispute in progress: a new proposal (R4), a
    cancellation (R6). Once the buyer said yes, the order's dispute is read again and
    changed, and the change said; a dispute ended, changed by someone else meanwhile, or a
    change against the rules is said instead. The form's answers are forgotten either way.
    Subclasses give the form's slots, its confirmation, and the change."""

    slots: tuple[str, ...] = ()  # the form's, forgotten
    confirmed = ""  # the form's last question, which the buyer said yes to (or not)
    not_done = ""  # the answer when they said no

    @abc.abstractmethod
    def change(
        self, tracker: Tracker, buyer: Credential, dispute: Dispute, order: Order
    ) -> Dispute:
        """The change made (its dispute as the backend answers)."""

    @abc.abstractmethod
    def say_done(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, dispute: Dispute, order: Order
    ) -> None: ...

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in self.slots]
        if tracker.get_slot("dispute_blocked"):
            return reset  # the form said why
        if not tracker.get_slot(self.confirmed):
            dispatcher.utter_message(response=self.not_done)
            return reset
        order_id = tracker.get_slot("order_id")
        dispute = find_dispute(self.backend.disputes(buyer, order_id=order_id), order_id)
        if dispute is None or not dispute.in_progress:
            dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=order_id)
            return reset
        order = self.backend.order(buyer, order_id)
        try:
            changed = self.change(tracker, buyer, dispute, order)
        except Conflict:
            dispatcher.utter_message(response="utter_dispute_changed_meanwhile")
            return reset
        except Refused as error:
            dispatcher.utter_message(response="utter_dispute_refused", reason=error.detail)
            return reset
        self.say_done(dispatcher, tracker, changed, order)
        return [*reset, SlotSet("last_dispute_id", changed.id)]


class ActionModifyDispute(DisputeChange):
    """Submits the change form (R4): a new buyer proposal on the dispute."""

    slots = CHANGE_FORM_SLOTS
    confirmed = "change_confirmed"
    not_done = "utter_dispute_not_changed"

    def name(self) -> str:
        return "action_modify_dispute"

    def change(
        self, tracker: Tracker, buyer: Credential, dispute: Dispute, order: Order
    ) -> Dispute:
        amount = refund_asked(tracker, order)
        return self.backend.modify_proposal(
            buyer,
            dispute.id,
            version=dispute.version,
            refund_amount=amount,
            with_return=bool(tracker.get_slot("with_return")),
            idempotency_key=idempotency_key(tracker, "modify", dispute.id, amount),
        )

    def say_done(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, dispute: Dispute, order: Order
    ) -> None:
        dispatcher.utter_message(
            response="utter_dispute_modified",
            dispute_id=dispute.id,
            amount=format_money(refund_asked(tracker, order), order.currency),
        )


class ActionAskCancelConfirmed(BackendAction):
    """R6: explain what cancelling means before asking to confirm."""

    def name(self) -> str:
        return "action_ask_cancel_confirmed"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        order = self.backend.order(buyer, tracker.get_slot("order_id"))
        dispatcher.utter_message(
            response="utter_ask_cancel_confirmed",
            order_id=order.id,
            window_ends=format_date(order.window.ends_at),
        )
        return []


class ActionCancelDispute(DisputeChange):
    """Submits the cancel form (R6): the dispute ends; the order stays protected."""

    slots = CANCEL_FORM_SLOTS
    confirmed = "cancel_confirmed"
    not_done = "utter_dispute_not_cancelled"

    def name(self) -> str:
        return "action_cancel_dispute"

    def change(
        self, tracker: Tracker, buyer: Credential, dispute: Dispute, order: Order
    ) -> Dispute:
        return self.backend.cancel_dispute(
            buyer,
            dispute.id,
            version=dispute.version,
            idempotency_key=idempotency_key(tracker, "cancel", dispute.id),
        )

    def say_done(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, dispute: Dispute, order: Order
    ) -> None:
        dispatcher.utter_message(
            response="utter_dispute_cancelled",
            dispute_id=dispute.id,
            window_ends=format_date(order.window.ends_at),
        )


class ActionExplainEvidence(BackendAction):
    """R5: how to add evidence, to which dispute, and what the channel accepts."""

    def name(self) -> str:
        return "action_explain_evidence"

    def when_anonymous(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        dispatcher.utter_message(response="utter_evidence_general")
        return super().when_anonymous(dispatcher, tracker)

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        in_progress = [d for d in self.backend.disputes(buyer) if d.in_progress]
        if not in_progress:
            dispatcher.utter_message(response="utter_evidence_no_dispute")
            return []
        names = ", ".join(f"{d.id} (order {d.order_id})" for d in in_progress[:4])
        dispatcher.utter_message(response="utter_evidence_how", disputes=names)
        return []


class ActionExplainDisputes(UsesBackend, Action):
    """How disputes work; and, when the conversation is about one of the buyer's disputes
    (named in the message, or the one just checked, changed, cancelled or opened), what
    that means for theirs: when our team steps in, or what a cancellation leaves open."""

    def name(self) -> str:
        return "action_explain_disputes"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_how_disputes_work")
        dispute = self._dispute_in_question(tracker)
        if dispute is not None:
            dispatcher.utter_message(
                response="utter_about_your_dispute", details=describe_detail(dispute)
            )
        return []

    def _dispute_in_question(self, tracker: Tracker) -> Dispute | None:
        """None too when the backend cannot say: the general answer still helps."""

        def lookup(buyer: Credential) -> Dispute | None:
            order_id = order_meant(tracker, self.backend, buyer)
            disputes = self.backend.disputes(buyer)
            if order_id:
                return find_dispute(disputes, order_id)
            last = tracker.get_slot("last_dispute_id")
            return next((d for d in disputes if d.id == last), None)

        return lookup_for_buyer(tracker, lookup)
