"""Handing the conversation to a human operator."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)


class ActionRequestHandoff(Action):
    """Hands the conversation to a human operator, with the reason recorded.

    The reason comes from the `handoff_reason` slot (set by whatever decided
    the bot cannot help) or, when the buyer asked, `user_request`.
    """

    def name(self) -> str:
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        reason = tracker.get_slot("handoff_reason") or "user_request"
        logger.info("handoff requested in %s: %s", tracker.sender_id, reason)
        dispatcher.utter_message(response="utter_handoff_contact_options")
        return [SlotSet("handoff_reason", None)]
