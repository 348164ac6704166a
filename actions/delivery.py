"""Packages not received or held in customs (R8): tracking first, then a dispute."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import Credential, NotFound, Order
from actions.common import (
    BackendAction,
    UsesBackend,
    buyer_credential,
    format_date,
    latest_intent,
    order_in_question,
    order_meant,
)
from actions.forms import OrderFormValidation
from actions.parsing import about_the_carrier, normalise_order_id


class ValidateOrderLookupForm(OrderFormValidation):
    """Reads the order from the product named ("my smartwatch is stuck in customs"; "and
    the lamp?" right after another parcel: the lamp's, not the order asked about before)."""

    order_replaces_earlier = True

    def name(self) -> str:
        return "validate_order_lookup_form"

    def has_ended(self, tracker: Tracker) -> bool:
        # Nobody signed in: no order to ask for; the general advice follows.
        return not buyer_credential(tracker)


class ActionCheckDelivery(BackendAction):
    """Reads the order's shipping state and says what the buyer can do now."""

    def name(self) -> str:
        return "action_check_delivery"

    def when_anonymous(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """The advice that needs no account, then the way to sign in for the order's own."""
        customs = (
            tracker.get_slot("delivery_topic") == "customs"
            or latest_intent(tracker) == "package_in_customs"
        )
        dispatcher.utter_message(
            response="utter_customs_general" if customs else "utter_not_received_general"
        )
        dispatcher.utter_message(response="utter_sign_in_to_check")
        return [SlotSet("delivery_topic", None)]

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        order_id = normalise_order_id(tracker.get_slot("order_id"))
        done: list[EventType] = [SlotSet("dispute_blocked", None)]
        if order_id is None:
            return done
        try:
            order = self.backend.order(buyer, order_id)
        except NotFound:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id)
            return [SlotSet("order_id", None), *done]
        self.tell_state(dispatcher, tracker, order)
        return [
            SlotSet("order_id", order.id),
            SlotSet("delivery_topic", None),
            SlotSet("last_topic", "delivery"),
            *done,
        ]

    def tell_state(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        order: Order,
        *,
        offer_dispute: bool = True,
    ) -> None:
        """What the parcel's state means for the buyer, and what they can do now (with
        a button that opens a not-received dispute, unless `offer_dispute` is off)."""
        asked_about_customs = (latest_intent(tracker) == "package_in_customs") or (
            tracker.get_slot("delivery_topic") == "customs"
        )
        entities = f'{{"order_id":"{order.id}","dispute_reason":"not_received"}}'
        open_button = [
            {"title": "Open a not-received dispute", "payload": f"/open_dispute{entities}"}
        ][:offer_dispute]
        status = order.shipping_status
        if status == "in_customs":
            dispatcher.utter_message(response="utter_package_in_customs", order_id=order.id)
        elif not order.tracking_number or status == "awaiting_shipment":
            dispatcher.utter_message(
                response="utter_not_shipped_yet",
                order_id=order.id,
                deadline=format_date(order.shipping_deadline),
            )
        elif not order.window.is_open and order.window.ends_at:
            dispatcher.utter_message(
                response="utter_protection_expired",
                order_id=order.id,
                window_ends=format_date(order.window.ends_at),
            )
        elif order.active_dispute_id:
            dispatcher.utter_message(
                response="utter_dispute_already_open",
                order_id=order.id,
                dispute_id=order.active_dispute_id,
            )
        elif status == "delivered":
            dispatcher.utter_message(
                response="utter_delivered_but_missing", order_id=order.id, buttons=open_button
            )
        else:
            if asked_about_customs:
                dispatcher.utter_message(response="utter_customs_not_shown", order_id=order.id)
            late = is_past(order.shipping_deadline)  # "on its way, promised by" a past date: no
            dispatcher.utter_message(
                response="utter_in_transit_late" if late else "utter_in_transit",
                order_id=order.id,
                tracking=order.tracking_number or "",
                deadline=format_date(order.shipping_deadline),
                window_ends=format_date(order.window.ends_at),
                buttons=open_button,
            )


def is_past(moment: str | None) -> bool:
    if not moment:
        return False
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when < datetime.now(timezone.utc)


class ActionDeliveryAside(ActionCheckDelivery):
    """ "btw where is my phone case?" in the middle of a dispute form: where that parcel
    is, the order the buyer names (by product or number) or else the form's own, then
    the form asks its question again. The form's answers, its order included, stay as
    they were, and no other dispute is offered in the middle of this one."""

    def name(self) -> str:
        return "action_delivery_aside"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        order_id = order_meant(tracker, self.backend, buyer) or normalise_order_id(
            tracker.get_slot("order_id")
        )
        if order_id is None:
            dispatcher.utter_message(response="utter_which_parcel_later")
            return []
        try:
            order = self.backend.order(buyer, order_id)
        except NotFound:
            dispatcher.utter_message(response="utter_order_not_found", order_id=order_id)
            return []
        self.tell_state(dispatcher, tracker, order, offer_dispute=False)
        return []


class ActionContactSeller(UsesBackend, Action):
    """How to reach the seller; or, when the buyer asks about the carrier ("how do i
    contact the carrier then?"), the carrier, with the tracking number of the order
    the conversation is about, which is what the carrier asks for."""

    def name(self) -> str:
        return "action_contact_seller"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = (tracker.latest_message or {}).get("text") or ""
        if not about_the_carrier(text):
            dispatcher.utter_message(response="utter_contact_seller")
            return []
        order = order_in_question(tracker, self.backend, or_kept=True)
        if order is not None and order.tracking_number:
            dispatcher.utter_message(
                response="utter_contact_carrier_tracking",
                order_id=order.id,
                tracking=order.tracking_number,
            )
        else:
            dispatcher.utter_message(response="utter_contact_carrier")
        return []
