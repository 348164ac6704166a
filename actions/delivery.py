"""Packages not received or held in customs (R8): tracking first, then a dispute."""

from __future__ import annotations

from datetime import datetime, timezone

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import Credential, NotFound, Order
from actions.common import (
    BackendAction,
    buyer_credential,
    format_date,
    latest_intent,
)
from actions.forms import OrderFormValidation
from actions.parsing import normalise_order_id


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

    def tell_state(self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order) -> None:
        """What the parcel's state means for the buyer, and what they can do now."""
        asked_about_customs = (latest_intent(tracker) == "package_in_customs") or (
            tracker.get_slot("delivery_topic") == "customs"
        )
        entities = f'{{"order_id":"{order.id}","dispute_reason":"not_received"}}'
        open_button = [
            {"title": "Open a not-received dispute", "payload": f"/open_dispute{entities}"}
        ]
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
