"""Refund problems (R7), not being understood, and the way to a person."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    EventType,
    FollowupAction,
    SlotSet,
    UserUtteranceReverted,
)
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import Credential
from actions.common import (
    BackendAction,
    UsesBackend,
    latest_intent,
    lookup_for_buyer,
    order_meant,
    person_offered_before_message,
    previous_answer,
)
from actions.dispute_text import describe, describe_detail
from actions.forms import FORM_SLOTS

logger = logging.getLogger(__name__)

SUGGESTIONS = [
    {"title": "Open a dispute", "payload": "/open_dispute"},
    {"title": "Check my disputes", "payload": "/check_dispute_status"},
    {"title": "Package not received", "payload": "/report_not_received"},
    {"title": "Refund problem", "payload": "/refund_problem"},
]

# Two-stage fallback: a message the NLU could not settle on, but whose likely meanings
# are things the bot does, gets them offered by name ("Did you mean: ...?") before any
# "please rephrase". These are the meanings a buyer can be asked about, with their titles.
MEANINGS = {
    "open_dispute": "Open a dispute",
    "modify_dispute": "Change my refund request",
    "cancel_dispute": "Cancel a dispute",
    "check_dispute_status": "Check my disputes",
    "report_not_received": "Package not received",
    "package_in_customs": "Parcel held in customs",
    "upload_evidence": "Add photos or evidence",
    "refund_problem": "A refund problem",
    "request_human": "Talk to a person",
    "contact_seller": "Contact the seller",
    "request_replacement": "Get a replacement",
    "ask_dispute_deadline": "Deadlines of a dispute",
    "ask_how_disputes_work": "How disputes work",
    "expired_period_help": "My protection period is over",
    "link_account": "Link my account",
    "list_orders": "Show my orders",
}
# Below this the classifier's guess is noise (the fallback's threshold is 0.4): such a
# message is asked to be put in other words, with the usual menu.
GUESS_FLOOR = 0.15
# What of the message travels with the guess, so a click keeps what was said.
GUESS_ENTITIES = ("order_id", "amount", "currency", "dispute_reason", "requested_outcome")


def likely_meanings(tracker: Tracker) -> list[str]:
    """The one or two intents the latest message most likely meant, when the NLU could
    not choose (nlu_fallback) and they are meanings a buyer can be offered by name."""
    message = tracker.latest_message or {}
    if (message.get("intent") or {}).get("name") != "nlu_fallback":
        return []
    ranking = [r for r in message.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    best = [r for r in ranking[:2] if (r.get("confidence") or 0.0) >= GUESS_FLOOR]
    if not best or best[0].get("name") not in MEANINGS:
        return []
    return [str(r["name"]) for r in best if r.get("name") in MEANINGS]


def guess_buttons(
    tracker: Tracker, intents: list[str], order_id: str | None
) -> list[dict[str, str]]:
    """One button per guess; its payload carries the message's entities (and the order
    it named by product), so choosing it is the message, understood."""
    said = {
        e["entity"]: e.get("value")
        for e in (tracker.latest_message or {}).get("entities") or []
        if e.get("entity") in GUESS_ENTITIES and isinstance(e.get("value"), str)
    }
    if order_id:
        said["order_id"] = order_id
    carried = json.dumps(said, separators=(",", ":")) if said else ""
    return [{"title": MEANINGS[name], "payload": f"/{name}{carried}"} for name in intents]


class ActionRefundProblem(BackendAction):
    """R7: an ended dispute whose refund is missing or wrong goes to a person at once."""

    def name(self) -> str:
        return "action_refund_problem"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        disputes = self.backend.disputes(buyer)
        named = order_meant(tracker, self.backend, buyer)
        if named:
            disputes = [d for d in disputes if d.order_id == named]
            if not disputes:
                dispatcher.utter_message(response="utter_no_dispute_on_order", order_id=named)
                return []
        ended = [d for d in disputes if not d.in_progress]
        refunded = [d for d in ended if d.resolution.get("refund_amount") not in (None, "0.00")]
        if not refunded and (named or any(d.in_progress for d in disputes)):
            # Nothing refunded yet to chase: say where each dispute stands instead.
            lines = "\n".join(f"• {describe_detail(d)}" for d in disputes[:4])
            dispatcher.utter_message(response="utter_refund_not_due", details=lines)
            if any(d.in_progress for d in disputes):
                dispatcher.utter_message(response="utter_refund_paid_when")
            return [SlotSet("last_topic", "refund")]
        if refunded:
            lines = "\n".join(f"• {describe(d)}" for d in refunded[:4])
            dispatcher.utter_message(response="utter_refund_problem_found", details=lines)
        else:
            dispatcher.utter_message(response="utter_refund_problem_none_found")
        dispatcher.utter_message(response="utter_refund_problem_evidence")
        return [SlotSet("handoff_reason", "refund_problem")]


# Intents the channels send for a message they cannot pass on (extensions/inbound.py).
UNREADABLE = {"message_empty": "utter_message_empty", "message_too_long": "utter_message_too_long"}


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


# What a follow-up naming another order ("and the shoes?") repeats, by the last topic.
# A follow-up is answered as the question it stands for ("and the shoes?" after a
# status is a status question about the shoes), through that question's own rule.
FOLLOW_UPS = {
    "status": "check_dispute_status",
    "delivery": "report_not_received",
    "refund": "refund_problem",
    "deadline": "ask_dispute_deadline",
}
EXPIRED_ANSWERS = {"utter_protection_expired", "utter_expired_period_help"}
_WHAT_NOW = re.compile(
    r"\b(?:what (?:can|could|should|do) i do|what now|now what|what are my options|options"
    r"|what else|any other way)\b",
    re.IGNORECASE,
)


def restated(tracker: Tracker, intent: str, **entities: str) -> list[EventType]:
    """The buyer's message, read again as `intent` with `entities`.

    What Rasa's two-stage fallback does once the buyer confirms its guess: the
    message not understood is replaced by the same message with the meaning now
    known, and the next action is predicted from it by that meaning's own rule,
    which ends the turn. (Running the answer as a follow-up action instead leaves
    no rule to end the turn, and the fallback runs again, in a loop.)
    """
    latest = tracker.latest_message or {}
    found = [{"entity": name, "value": value} for name, value in entities.items()]
    message = {
        "event": "user",
        "text": latest.get("text"),
        "parse_data": {
            "text": latest.get("text"),
            "intent": {"name": intent, "confidence": 1.0},
            "entities": found,
        },
        "input_channel": latest.get("input_channel"),
        # The proof of who is writing travels with the message it came with.
        "metadata": latest.get("metadata") or {},
        "message_id": latest.get("message_id"),
    }
    # Slots are filled from a message's entities only when it comes from a channel.
    filled = [SlotSet(name, value) for name, value in entities.items()]
    return [UserUtteranceReverted(), ActionExecuted("action_listen"), message, *filled]


class ActionHandleFallback(UsesBackend, Action):
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
        if intent in UNREADABLE:  # the channel could not pass the text on: say why
            dispatcher.utter_message(response=UNREADABLE[intent])
            return []
        if intent in ("affirm", "deny") and person_just_offered(tracker):
            if intent == "affirm":
                return restated(tracker, "request_human")
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet("handoff_reason", None)]
        if intent in ("affirm", "deny") and not tracker.active_loop_name:
            # A yes or no that answers no open question ("yes" again after the dispute
            # was opened) is understood, it just asks for nothing: no "rephrase" for it.
            dispatcher.utter_message(response="utter_anything_else")
            return []
        if not tracker.active_loop_name:
            followed = self.follow_up(dispatcher, tracker)
            if followed is not None:
                return followed
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
        elif meanings := likely_meanings(tracker):
            buttons = guess_buttons(tracker, meanings, self.order_named(tracker))
            dispatcher.utter_message(response="utter_did_you_mean", buttons=buttons)
        elif intent == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
        else:
            dispatcher.utter_message(response="utter_ask_rephrase", buttons=SUGGESTIONS)
        return []

    def order_named(self, tracker: Tracker) -> str | None:
        """The buyer's order the message names, by number or product; None if none or
        nobody is signed in."""
        return lookup_for_buyer(tracker, lambda buyer: order_meant(tracker, self.backend, buyer))

    def follow_up(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[EventType] | None:
        """A message that only makes sense after the bot's last answer: "so what can I do
        then?" after the protection period ended, "and the shoes?" after a status or a
        parcel's state. None when the message is not one."""
        text = (tracker.latest_message or {}).get("text") or ""
        if previous_answer(tracker) & EXPIRED_ANSWERS and _WHAT_NOW.search(text):
            dispatcher.utter_message(response="utter_expired_period_help")
            return []
        topic = FOLLOW_UPS.get(tracker.get_slot("last_topic") or "")
        order_id = None if topic is None else self.order_named(tracker)
        if topic is None or order_id is None:
            return None
        return restated(tracker, topic, order_id=order_id)


class ActionAnswerCancelQuestion(UsesBackend, Action):
    """ "What happens to my money if I cancel?" (R6, docs/rules.md).

    About one of the buyer's disputes in progress ("if I cancel the speaker dispute, can I
    open another one later?"), the message is read again as the request to cancel it: the
    cancel form's question answers with that order's own dates and asks whether to cancel,
    so "ok then cancel it" does. Otherwise, the general answer.
    """

    def name(self) -> str:
        return "action_answer_cancel_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        order_id = self.dispute_named(tracker)
        if order_id is not None:
            return restated(tracker, "cancel_dispute", order_id=order_id)
        dispatcher.utter_message(response="utter_ask_cancel_consequence")
        return []

    def dispute_named(self, tracker: Tracker) -> str | None:
        """The order whose dispute in progress the message names; None if none does."""

        def lookup(buyer: Credential) -> str | None:
            order_id = order_meant(tracker, self.backend, buyer)
            if order_id is None:
                return None
            disputes = self.backend.disputes(buyer, order_id=order_id)
            return order_id if any(d.in_progress for d in disputes) else None

        return lookup_for_buyer(tracker, lookup)


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
        # Left for a person, "What else can I do for you?" would contradict the handoff
        # message that follows; the buyer is only told that nothing was changed.
        leaving_for_a_person = latest_intent(tracker) == "request_human"
        dispatcher.utter_message(
            response="utter_form_left_for_person" if leaving_for_a_person else "utter_form_stopped"
        )
        return [SlotSet(slot, None) for slot in FORM_SLOTS]
