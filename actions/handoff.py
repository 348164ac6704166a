"""Handing the conversation to a human operator, and keeping it handed off.

While a ticket is open the conversation is paused: Rasa still logs what the
buyer writes (the operator's console reads it from the tracker) but predicts
nothing. The operator's console answers through Rasa's HTTP API and, to give
the conversation back, appends a `resume` event.

Two things would silently end a pause: a new session (Rasa's SessionStarted
resets the tracker, so after `session_expiration_time` of silence the buyer
would be back with the bot) and the `restart` intent (the only one Rasa
handles while paused). `action_session_start` and `action_restart` are
overridden here to ask the backend and pause again while a ticket is open.
"""

from __future__ import annotations

import abc
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    ConversationResumed,
    EventType,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import BackendError, Conflict, HandoffTicket
from actions.common import UsesBackend, buyer_credential, idempotency_key
from actions.parsing import asks_for_contact_details

logger = logging.getLogger(__name__)

DEFAULT_REASON = "user_request"
LISTEN = ActionExecuted("action_listen")


class HandoffAware(UsesBackend, Action, abc.ABC):
    """An action that may ask the backend about the conversation's handoff."""

    @abc.abstractmethod
    def name(self) -> str: ...

    def open_ticket(self, tracker: Tracker) -> HandoffTicket | None:
        """The conversation's open ticket; None when it has none or the backend is down (the
        buyer is then better served by the bot than by a silent conversation)."""
        try:
            return self.backend.active_handoff(tracker.sender_id)
        except BackendError as error:
            logger.warning(
                "%s: cannot check the handoff of %s: %s", self.name(), tracker.sender_id, error
            )
            return None


class ActionRequestHandoff(HandoffAware):
    """Opens (or finds) the conversation's ticket, tells the buyer where they stand, pauses.

    The reason comes from the `handoff_reason` slot (set by whatever decided
    the bot cannot help) or, when the buyer asked, `user_request`. A buyer who asks how
    to reach customer service ("what's the phone number?") gets the ways to, this chat
    among them, and no ticket. If the
    backend cannot be reached the buyer gets an apology and the bot keeps
    helping: no pause, since no one would answer.
    """

    def name(self) -> str:
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = str((tracker.latest_message or {}).get("text") or "")
        if not tracker.get_slot("handoff_reason") and asks_for_contact_details(text):
            # "what's the phone number?": the ways to reach a person, this chat among
            # them (a button), not a place in the queue nobody asked for.
            dispatcher.utter_message(response="utter_contact_options")
            return [FollowupAction("action_listen")]
        reason = tracker.get_slot("handoff_reason") or DEFAULT_REASON
        channel = tracker.get_latest_input_channel() or "unknown"
        try:
            ticket = self.backend.request_handoff(
                tracker.sender_id,
                channel=channel,
                reason=str(reason),
                buyer=buyer_credential(tracker),
                idempotency_key=idempotency_key(tracker, "handoff", reason),
            )
        except BackendError as error:
            logger.warning("handoff for %s (%s) failed: %s", tracker.sender_id, reason, error)
            dispatcher.utter_message(response="utter_handoff_failed")
            # It said what to do instead: nothing more this turn (an event alone
            # would not stop Rasa predicting; a follow-up action_listen does).
            return [FollowupAction("action_listen")]
        logger.info(
            "handoff %s for %s: %s, %s, position %s",
            ticket.ticket_id,
            tracker.sender_id,
            reason,
            ticket.state,
            ticket.position,
        )
        announce(dispatcher, ticket)
        # action_listen closes the turn, as Rasa would after the action: the buyer's messages
        # logged during the pause then read as new turns when the bot takes over again.
        return [SlotSet("handoff_reason", None), ConversationPaused(), LISTEN]


def announce(dispatcher: CollectingDispatcher, ticket: HandoffTicket) -> None:
    """Tell the buyer where they stand: queued, nobody online, or already waiting."""
    if ticket.state == "assigned":
        dispatcher.utter_message(
            response="utter_handoff_operator_joined", operator=ticket.operator_name or "Someone"
        )
    elif not ticket.created:
        dispatcher.utter_message(
            response="utter_handoff_already_waiting", position=ticket.position or 1
        )
    elif ticket.operators_online == 0:
        # The backend always says when (a setting) if no one is online.
        dispatcher.utter_message(
            response="utter_handoff_no_operators", expected_when=ticket.expected_when
        )
    else:
        dispatcher.utter_message(
            response="utter_handoff_queued",
            position=ticket.position or 1,
            wait_minutes=ticket.estimated_wait_minutes,
        )


class ActionStop(HandoffAware):
    """ "Never mind" with no form open.

    While the buyer waits for a person ("never mind, I found it"), it takes them out of the
    queue (the ticket is closed as withdrawn) and the bot is back. Once a person has joined,
    the message is theirs to read and answer: nothing is said and the conversation stays
    with them. With no handoff there is nothing to stop: "anything else?". Rasa runs this
    while the conversation is paused (extensions/handoff.py).
    """

    def name(self) -> str:
        return "action_stop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if not tracker.is_paused():
            dispatcher.utter_message(response="utter_anything_else")
            return []
        try:
            ticket = self.backend.withdraw_handoff(tracker.sender_id)
        except Conflict:
            return []  # an operator has the conversation
        except BackendError as error:
            logger.warning("withdrawal of %s failed: %s", tracker.sender_id, error)
            dispatcher.utter_message(response="utter_handoff_withdraw_failed")
            return []
        logger.info(
            "handoff %s withdrawn by %s",
            ticket.ticket_id if ticket else "(none open)",
            tracker.sender_id,
        )
        dispatcher.utter_message(response="utter_handoff_withdrawn")
        return [ConversationResumed()]


class ActionSessionStart(HandoffAware):
    """Rasa's session start (SessionStarted, the slots carried over as the domain's
    session_config says, then action_listen), paused again while a handoff is open."""

    def name(self) -> str:
        return "action_session_start"

    @staticmethod
    def carried_slots(tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        config = domain.get("session_config") or {}
        if not config.get("carry_over_slots_to_new_session", True):
            return []
        # As Rasa does: replay the previous session's SlotSet events, in order.
        return [
            SlotSet(event["name"], event.get("value"))
            for event in tracker.applied_events()
            if event.get("event") == "slot" and event.get("name")
        ]

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted(), *self.carried_slots(tracker, domain)]
        if self.open_ticket(tracker) is not None:
            logger.info("new session for %s during a handoff: still paused", tracker.sender_id)
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events


class ActionRestart(HandoffAware):
    """Rasa's restart; a restart during a handoff keeps the conversation with the person."""

    def name(self) -> str:
        return "action_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if "utter_restart" in (domain.get("responses") or {}):
            dispatcher.utter_message(response="utter_restart")
        ticket = self.open_ticket(tracker)
        if ticket is None:
            return [Restarted()]
        logger.info("restart of %s during a handoff: still paused", tracker.sender_id)
        if ticket.state == "waiting":
            dispatcher.utter_message(
                response="utter_handoff_already_waiting", position=ticket.position or 1
            )
        return [Restarted(), ConversationPaused(), LISTEN]
