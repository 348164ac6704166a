"""Refund problems (R7), not being understood, and the way to a person."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    FORM_SLOTS,
    BackendAction,
    latest_intent,
    person_offered_before_message,
)
from actions.manage_dispute import describe

logger = logging.getLogger(__name__)

SUGGESTIONS = [
    {"title": "Open a dispute", "payload": "/open_dispute"},
    {"title": "Check my disputes", "payload": "/check_dispute_status"},
    {"title": "Package not received", "payload": "/report_not_received"},
    {"title": "Refund problem", "payload": "/refund_problem"},
]


class ActionRefundProblem(BackendAction):
    """R7: an ended dispute whose refund is missing or wrong goes to a person at once."""

    def name(self) -> str:
        return "action_refund_problem"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]:
        ended = [d for d in self.backend.disputes(buyer) if not d.in_progress]
        refunded = [d for d in ended if d.resolution.get("refund_amount") not in (None, "0.00")]
        if refunded:
            lines = "\n".join(f"• {describe(d)}" for d in refunded[:4])
            dispatcher.utter_message(response="utter_refund_problem_found", details=lines)
        else:
            dispatcher.utter_message(response="utter_refund_problem_none_found")
        dispatcher.utter_message(response="utter_refund_problem_evidence")
        return [SlotSet("handoff_reason", "refund_problem")]


def consecutive_misses(tracker: Tracker) -> int:
    """How many user messages in a row, the latest included, the bot could not handle.

    A message is a miss when this action answered it; the bot's actions
    between two user messages answer the earlier one.
    """
    count, started, previous_missed = 1, False, False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            if not started:
                started = True
            elif previous_missed:
                count, previous_missed = count + 1, False
            else:
                break
        elif started and kind == "action" and event.get("name") == ActionHandleFallback.NAME:
            previous_missed = True
    return count


def person_just_offered(tracker: Tracker) -> bool:
    """Did the bot's last answer, before this message, offer a person (a button)?

    Only as the first answer to the message: once an action has run for it
    (the handoff itself, say), the offer has been taken up.
    """
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return person_offered_before_message(tracker)
        if event.get("event") == "action" and event.get("name") != "action_listen":
            return False
    return False


class ActionHandleFallback(Action):
    """A message the bot cannot handle: not understood, or out of scope.

    The first time, it says what it can do (out of scope) or asks to rephrase,
    with suggestions, or inside a form says it did not follow and lets the
    form ask again; the second time in a row it offers a person. A typed
    "yes" or "no" right after any offer of a person (the button's question)
    is taken as the answer to it.
    """

    NAME = "action_handle_fallback"

    def name(self) -> str:
        return self.NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = latest_intent(tracker)
        if intent in ("affirm", "deny") and person_just_offered(tracker):
            if intent == "affirm":
                return [FollowupAction("action_request_handoff")]
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet("handoff_reason", None)]
        if consecutive_misses(tracker) >= 2:
            dispatcher.utter_message(response="utter_offer_human")
            offered: list[EventType] = [SlotSet("handoff_reason", "not_understood")]
            if tracker.active_loop_name:
                # Wait for the answer to this offer: the form asking its own
                # question again now would make a "yes" mean two things.
                offered.append(FollowupAction("action_listen"))
            return offered
        if tracker.active_loop_name:
            # The form asks its question again next, with its own buttons: no
            # menu of other topics in the middle of it.
            dispatcher.utter_message(response="utter_off_track_in_form")
        elif intent == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
        else:
            dispatcher.utter_message(response="utter_ask_rephrase", buttons=SUGGESTIONS)
        return []


class ActionDeclinePerson(Action):
    """The buyer said no to a person after not being understood.

    Outside a form it asks them to put it in other words. Inside one it says
    nothing: the form's validator answers ("let's carry on") and asks its
    question again, and two answers to one "no" would contradict each other.
    """

    def name(self) -> str:
        return "action_decline_person"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if not tracker.active_loop_name:
            dispatcher.utter_message(response="utter_rephrase_please")
        return [SlotSet("handoff_reason", None)]


class ActionStopForm(Action):
    """The buyer said "stop" in the middle of a form: forget its answers."""

    def name(self) -> str:
        return "action_stop_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_form_stopped")
        return [SlotSet(slot, None) for slot in FORM_SLOTS]
