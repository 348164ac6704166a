"""Questions about the buyer's orders themselves: their protection dates (R1), and the list.

"How long do I have?" gets the rule and, for a signed-in buyer, the dates of the order
named, or of every order still covered; nobody signed in still gets the rule.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import Credential, Order
from actions.common import (
    BackendAction,
    UsesBackend,
    buyer_credential,
    format_date,
    lookup_for_buyer,
    order_in_question,
    order_meant,
)

STATUS_WORDS = {
    "awaiting_shipment": "not shipped yet",
    "in_transit": "on its way",
    "in_customs": "held in customs",
    "delivered": "delivered",
}


def window_of(order: Order) -> str:
    """The order's protection period, in a few words."""
    if order.window.is_open:
        return f"protected until {format_date(order.window.ends_at)}"
    if order.window.ends_at and order.window.starts_at:
        return f"protection ended on {format_date(order.window.ends_at)}"
    return "protection starts once the seller adds the tracking number"


def order_line(order: Order) -> str:
    status = STATUS_WORDS.get(order.shipping_status, order.shipping_status.replace("_", " "))
    dispute = f", dispute {order.active_dispute_id} in progress" if order.active_dispute_id else ""
    return f"• {order.title} (order {order.id}): {status}, {window_of(order)}{dispute}."


class ActionAnswerDeadline(UsesBackend, Action):
    """R1: how long the buyer has, with the dates of their own orders when known."""

    def name(self) -> str:
        return "action_answer_deadline"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        topic: list[EventType] = [SlotSet("last_topic", "deadline")]
        # The rule answers anyone; the dates need a buyer, and the backend.
        orders, named = lookup_for_buyer(
            tracker,
            lambda buyer: (self.backend.orders(buyer), order_meant(tracker, self.backend, buyer)),
        ) or ([], None)
        chosen = next((o for o in orders if o.id == named), None)
        if chosen is not None:
            dispatcher.utter_message(
                response="utter_order_deadline",
                title=chosen.title,
                order_id=chosen.id,
                window=window_of(chosen),
            )
            return [SlotSet("order_id", chosen.id), *topic]
        dispatcher.utter_message(response="utter_ask_dispute_deadline")
        covered = [o for o in orders if o.window.is_open]
        if covered:
            lines = "\n".join(order_line(o) for o in covered[:6])
            dispatcher.utter_message(response="utter_orders_covered", details=lines)
        elif orders:
            dispatcher.utter_message(response="utter_no_order_covered")
        return topic


class ActionListOrders(BackendAction):
    """The buyer's orders, with their state and protection."""

    def name(self) -> str:
        return "action_list_orders"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        orders = self.backend.orders(buyer)
        if not orders:
            dispatcher.utter_message(response="utter_no_orders")
            return []
        lines = "\n".join(order_line(o) for o in orders[:8])
        dispatcher.utter_message(response="utter_order_list", details=lines)
        return [SlotSet("last_topic", "orders")]


class ActionWhatAboutOrder(Action):
    """An order number or an amount typed out of the blue: what to do with it. Nobody
    signed in learns first that looking at an order needs them signed in."""

    def name(self) -> str:
        return "action_what_about_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if not buyer_credential(tracker):
            dispatcher.utter_message(response="utter_sign_in_needed")
            return []
        dispatcher.utter_message(response="utter_what_about_order")
        return []


class ActionExpiredPeriodHelp(UsesBackend, Action):
    """R10: what a buyer can do once the protection period is over. A buyer who names
    the order they think is too late hears its own dates first: still covered (then a
    dispute can be opened after all), or when it ended and the options left."""

    def name(self) -> str:
        return "action_expired_period_help"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        order = order_in_question(tracker, self.backend)
        if order is not None and order.window.is_open:
            dispatcher.utter_message(
                response="utter_order_still_covered",
                order_id=order.id,
                title=order.title,
                window_ends=format_date(order.window.ends_at),
                buttons=[
                    {
                        "title": "Open a dispute",
                        "payload": f'/open_dispute{{"order_id":"{order.id}"}}',
                    }
                ],
            )
            return [SlotSet("order_id", order.id)]
        if order is not None and order.window.ends_at and order.window.starts_at:
            dispatcher.utter_message(
                response="utter_protection_expired",
                order_id=order.id,
                window_ends=format_date(order.window.ends_at),
            )
            return []
        dispatcher.utter_message(response="utter_expired_period_help")
        return []
