"""An open dispute: check it, change the proposal (R4), cancel it (R6), evidence (R5)."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import (
    BackendError,
    Conflict,
    Dispute,
    Order,
    Refused,
)
from actions.common import (
    BackendAction,
    buyer_credential,
    format_date,
    format_money,
    idempotency_key,
    normalise_order_id,
    parse_amount,
)
from actions.open_dispute import ValidateDisputeForm, order_check_failed

logger = logging.getLogger(__name__)

CHANGE_FORM_SLOTS = (
    "order_id", "requested_outcome", "refund_amount", "with_return", "change_confirmed",
    "dispute_blocked",
)  # fmt: skip
CANCEL_FORM_SLOTS = ("order_id", "cancel_confirmed", "dispute_blocked")

RESOLUTION_WORDS = {
    "agreement": "agreed with the seller",
    "platform_decision": "decided by our team",
    "cancellation": "cancelled",
    "timeout": "closed when a deadline passed",
}


def describe_resolution(dispute: Dispute) -> str:
    resolution = dispute.resolution or {}
    how = RESOLUTION_WORDS.get(str(resolution.get("method") or resolution.get("how") or ""), "")
    if resolution.get("outcome") == "cancelled" or how == "cancelled":
        return "cancelled"
    amount = resolution.get("refund_amount")
    currency = resolution.get("currency") or dispute.currency
    parts = []
    if amount not in (None, "0", "0.00"):
        parts.append(f"refund of {amount} {currency}".strip())
    elif amount is not None:
        parts.append("no refund")
    if resolution.get("with_return") is True:
        parts.append("with the item returned")
    elif resolution.get("with_return") is False and parts and parts[0] != "no refund":
        parts.append("without return")
    if how:
        parts.append(f"({how})")
    return " ".join(parts) or "closed"


def describe(dispute: Dispute) -> str:
    if dispute.in_progress:
        stage = "mediation by our team" if dispute.state == "mediation" else "negotiation"
        deadline = dispute.deadlines.get("negotiation_ends_at")
        if dispute.state != "mediation" and deadline:
            stage += f", our team steps in after {format_date(deadline)} without agreement"
        return f"{dispute.id} (order {dispute.order_id}): Dispute in progress, {stage}."
    return (
        f"{dispute.id} (order {dispute.order_id}): Dispute ended, {describe_resolution(dispute)}."
    )


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
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        order_id = normalise_order_id(tracker.get_slot("order_id"))
        mentioned = any(
            e.get("entity") == "order_id"
            for e in (tracker.latest_message or {}).get("entities", [])
        )
        disputes = self.backend.disputes(buyer)
        if order_id and mentioned:
            chosen = find_dispute(disputes, order_id)
            if chosen is None:
                dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=order_id)
                return []
            dispatcher.utter_message(response="utter_dispute_status", details=describe(chosen))
            return [SlotSet("order_id", order_id)]
        if not disputes:
            dispatcher.utter_message(response="utter_no_disputes")
            return []
        ordered = sorted(disputes, key=lambda d: not d.in_progress)[:6]
        lines = "\n".join(f"• {describe(d)}" for d in ordered)
        dispatcher.utter_message(response="utter_dispute_list", details=lines)
        return []


class ValidateDisputeChangeForm(ValidateDisputeForm):
    """R4: the dispute to change must be in progress; amounts as when opening."""

    # The cancel form's confirmation names the order itself.
    names_the_dispute_picked = True

    def name(self) -> str:
        return "validate_dispute_change_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # No dispute named: with none in progress there is nothing to ask, and
        # with one there is nothing to choose (the confirmation names it).
        in_progress = self._disputes_to_choose_from(tracker)
        if in_progress == []:
            dispatcher.utter_message(response="utter_no_dispute_in_progress")
            return [SlotSet("dispute_blocked", "no_dispute_in_progress"),
                    SlotSet("requested_slot", None)]  # fmt: skip
        if in_progress is not None and len(in_progress) == 1:
            only = in_progress[0]
            if self.names_the_dispute_picked:
                dispatcher.utter_message(
                    response="utter_your_one_dispute", order_id=only.id, title=only.title
                )
            tracker.add_slots([SlotSet("order_id", only.id)])
        return await super().run(dispatcher, tracker, domain)

    def _disputes_to_choose_from(self, tracker: Tracker) -> list[Order] | None:
        """The orders with a dispute in progress, when the form starts with none
        named; None when there is no choice to make or the backend cannot say
        (the question's action then explains what went wrong)."""
        if (
            tracker.get_slot("requested_slot") is not None
            or tracker.get_slot("order_id")
            or tracker.get_slot("dispute_blocked")
        ):
            return None
        try:
            return [o for o in self.backend.orders(self._buyer(tracker)) if o.active_dispute_id]
        except BackendError:
            return None

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot("dispute_blocked"):
            return []
        slots = list(domain_slots)
        if tracker.get_slot("requested_outcome") == "full_refund":
            slots.remove("refund_amount")
        return slots

    def validate_order_id(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return validate_dispute_in_progress(self, slot_value, dispatcher, tracker)


class ValidateDisputeCancelForm(ValidateDisputeChangeForm):
    names_the_dispute_picked = False

    def name(self) -> str:
        return "validate_dispute_cancel_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return [] if tracker.get_slot("dispute_blocked") else list(domain_slots)


def validate_dispute_in_progress(
    form: ValidateDisputeForm,
    slot_value: Any,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
) -> dict[str, Any]:
    order_id = normalise_order_id(slot_value)
    if order_id is None:
        dispatcher.utter_message(response="utter_order_id_invalid")
        return {"order_id": None}
    buyer = buyer_credential(tracker)
    if not buyer:
        dispatcher.utter_message(response="utter_sign_in_needed")
        return {"order_id": None, "dispute_blocked": "not_signed_in"}
    try:
        disputes = form.backend.disputes(buyer, order_id=order_id)
    except BackendError as error:
        return order_check_failed(error, order_id, dispatcher)
    dispute = find_dispute(disputes, order_id)
    if dispute is None:
        dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=order_id)
        return {"order_id": None}
    if not dispute.in_progress:
        dispatcher.utter_message(response="utter_dispute_already_ended", details=describe(dispute))
        return {"order_id": order_id, "dispute_blocked": "dispute_ended"}
    return {"order_id": order_id}


class ActionAskChangeConfirmed(BackendAction):
    def name(self) -> str:
        return "action_ask_change_confirmed"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        order = self.backend.order(buyer, tracker.get_slot("order_id"))
        amount = parse_amount(tracker.get_slot("refund_amount")) or order.amount
        if tracker.get_slot("requested_outcome") == "full_refund":
            amount = order.amount
        dispatcher.utter_message(
            response="utter_ask_change_confirmed",
            order_id=order.id,
            amount=format_money(amount, order.currency),
            returning="with the item returned"
            if tracker.get_slot("with_return")
            else "keeping the item",
        )
        return []


class ActionModifyDispute(BackendAction):
    """Submits the change form (R4): a new buyer proposal on the dispute."""

    def name(self) -> str:
        return "action_modify_dispute"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in CHANGE_FORM_SLOTS]
        if tracker.get_slot("dispute_blocked"):
            return reset
        if not tracker.get_slot("change_confirmed"):
            dispatcher.utter_message(response="utter_dispute_not_changed")
            return reset
        order_id = tracker.get_slot("order_id")
        order = self.backend.order(buyer, order_id)
        dispute = find_dispute(self.backend.disputes(buyer, order_id=order_id), order_id)
        if dispute is None or not dispute.in_progress:
            dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=order_id)
            return reset
        amount = parse_amount(tracker.get_slot("refund_amount")) or order.amount
        if tracker.get_slot("requested_outcome") == "full_refund":
            amount = order.amount
        try:
            changed = self.backend.modify_proposal(
                buyer, dispute.id, version=dispute.version, refund_amount=amount,
                with_return=bool(tracker.get_slot("with_return")),
                idempotency_key=idempotency_key(tracker, "modify", dispute.id, amount),
            )  # fmt: skip
        except Conflict:
            dispatcher.utter_message(response="utter_dispute_changed_meanwhile")
            return reset
        except Refused as error:
            dispatcher.utter_message(response="utter_dispute_refused", reason=error.detail)
            return reset
        dispatcher.utter_message(
            response="utter_dispute_modified",
            dispute_id=changed.id,
            amount=format_money(amount, order.currency),
        )
        return reset


class ActionAskCancelConfirmed(BackendAction):
    """R6: explain what cancelling means before asking to confirm."""

    def name(self) -> str:
        return "action_ask_cancel_confirmed"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        order = self.backend.order(buyer, tracker.get_slot("order_id"))
        dispatcher.utter_message(
            response="utter_ask_cancel_confirmed",
            order_id=order.id,
            window_ends=format_date(order.window.ends_at),
        )
        return []


class ActionCancelDispute(BackendAction):
    def name(self) -> str:
        return "action_cancel_dispute"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in CANCEL_FORM_SLOTS]
        if tracker.get_slot("dispute_blocked"):
            return reset
        if not tracker.get_slot("cancel_confirmed"):
            dispatcher.utter_message(response="utter_dispute_not_cancelled")
            return reset
        order_id = tracker.get_slot("order_id")
        dispute = find_dispute(self.backend.disputes(buyer, order_id=order_id), order_id)
        if dispute is None or not dispute.in_progress:
            dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=order_id)
            return reset
        try:
            self.backend.cancel_dispute(
                buyer, dispute.id, version=dispute.version,
                idempotency_key=idempotency_key(tracker, "cancel", dispute.id),
            )  # fmt: skip
        except Conflict:
            dispatcher.utter_message(response="utter_dispute_changed_meanwhile")
            return reset
        except Refused as error:
            dispatcher.utter_message(response="utter_dispute_refused", reason=error.detail)
            return reset
        order = self.backend.order(buyer, order_id)
        dispatcher.utter_message(
            response="utter_dispute_cancelled",
            dispute_id=dispute.id,
            window_ends=format_date(order.window.ends_at),
        )
        return reset


class ActionExplainEvidence(BackendAction):
    """R5: how to add evidence, to which dispute, and what the channel accepts."""

    def name(self) -> str:
        return "action_explain_evidence"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        in_progress = [d for d in self.backend.disputes(buyer) if d.in_progress]
        if not in_progress:
            dispatcher.utter_message(response="utter_evidence_no_dispute")
            return []
        names = ", ".join(f"{d.id} (order {d.order_id})" for d in in_progress[:4])
        dispatcher.utter_message(response="utter_evidence_how", disputes=names)
        return []
