"""What every action shares: who the buyer is, the backend, and failing well."""

from __future__ import annotations

import abc
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import (
    CHANNEL_IDENTITY,
    BackendError,
    BackendUnavailable,
    BuyerNotIdentified,
    ChannelAccountNotLinked,
    ChannelBackend,
    Credential,
    DisputeBackend,
    Order,
    default_backend,
)
from actions.parsing import normalise_order_id, order_named_alone

logger = logging.getLogger(__name__)
T = TypeVar("T")

CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (a metadata key, not a secret)
# Metadata only a verified webhook writes (extensions/inbound.py): the channel's signed
# identity of the user, and the files they sent.
VERIFIED_KEY = "verified"
# Messaging channels whose users are known by a linked channel account, not a chat token.
LINKED_CHANNELS = frozenset({"telegram", "facebook"})

REASON_LABELS = {
    "damaged": "the item arrived damaged or doesn't work",
    "not_as_described": "the item is not as described",
    "wrong_item": "a wrong item was sent",
    "counterfeit": "the item is counterfeit",
    "missing_parts": "parts or items are missing",
    "not_received": "the item was not received",
}


def not_identified_response(error: BuyerNotIdentified) -> str:
    """What to tell a buyer the backend does not know: sign in, or link the account."""
    if isinstance(error, ChannelAccountNotLinked):
        return "utter_link_account_needed"
    return "utter_sign_in_needed"


PERSON_PAYLOAD = "/request_human"


def offers_person(event: dict[str, Any]) -> bool:
    """Is this a bot message with the "talk to a person" button?"""
    buttons = (event.get("data") or {}).get("buttons") or []
    return event.get("event") == "bot" and any(b.get("payload") == PERSON_PAYLOAD for b in buttons)


def person_offered_before_message(tracker: Tracker) -> bool:
    """Was the bot's last message before this one an offer of a person?

    Then a "yes" or "no" now answers that offer. An offer followed by another
    question (a form asking again after answering a digression) is not: the
    buyer answers the question they see last.
    """
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "bot":
            return offers_person(event)
    return False


def previous_answer(tracker: Tracker) -> set[str]:
    """The responses (utter_* names) the bot sent just before the current message: what
    the buyer is replying to."""
    names: set[str] = set()
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                break
            seen_user = True
        elif seen_user and event.get("event") == "bot":
            name = (event.get("metadata") or {}).get("utter_action")
            if isinstance(name, str):
                names.add(name)
    return names


def latest_intent(tracker: Tracker) -> str | None:
    """The intent of the latest message as classified (nlu_fallback included)."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    name = intent.get("name")
    return name if isinstance(name, str) else None


def current_metadata(tracker: Tracker) -> dict[str, Any]:
    """The metadata of the message being answered (never of an earlier one)."""
    metadata = (tracker.latest_message or {}).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def verified_facts(tracker: Tracker) -> dict[str, Any]:
    """What the channel verified about the current message (Telegram and Messenger only)."""
    facts = current_metadata(tracker).get(VERIFIED_KEY)
    if not isinstance(facts, dict) or facts.get("channel") not in LINKED_CHANNELS:
        return {}
    return facts


def channel_identity(tracker: Tracker) -> Credential | None:
    """The signed identity of a Telegram or Messenger user, from the current message."""
    proof = verified_facts(tracker).get("identity")
    if not isinstance(proof, str) or not proof:
        return None
    return Credential(proof, tracker.sender_id, kind=CHANNEL_IDENTITY)


def buyer_credential(tracker: Tracker) -> Credential | None:
    """What proves who the buyer is: the current message's chat token (web), or its
    verified channel identity (Telegram, Messenger). Only the message being answered
    counts: an earlier message's token proves nothing about who writes now."""
    token = current_metadata(tracker).get(CHAT_TOKEN_KEY)
    if isinstance(token, str) and token:
        return Credential(token, tracker.sender_id)
    return channel_identity(tracker)


def lookup_for_buyer(tracker: Tracker, lookup: Callable[[Credential], T]) -> T | None:
    """What `lookup` finds for the buyer who writes the current message; None for a visitor,
    or when the backend cannot say. For what only completes an answer (the buyer's own
    dates, the dispute a question is about, an order a form can ask for instead): the
    general answer, or the form's question, still helps, so this never fails the turn."""
    buyer = buyer_credential(tracker)
    if buyer is None:
        return None
    try:
        return lookup(buyer)
    except BackendError as error:
        logger.info("%s: no details from the backend (%s)", tracker.sender_id, type(error).__name__)
        return None


def order_meant(tracker: Tracker, backend: DisputeBackend, buyer: Credential) -> str | None:
    """The order the current message names: its number, or the one product of the buyer's
    it names ("why is my shoes dispute in mediation", "and the speeker?")."""
    message = tracker.latest_message or {}
    for entity in message.get("entities") or []:
        if entity.get("entity") == "order_id":
            found = normalise_order_id(entity.get("value"))
            if found:
                return found
    text = message.get("text") or ""
    if not text or text.startswith("/"):
        return None
    return order_named_alone(backend.orders(buyer), text)


def order_in_question(
    tracker: Tracker, backend: DisputeBackend, *, or_kept: bool = False
) -> Order | None:
    """The buyer's order the message names (`order_meant`), else, with `or_kept`, the one
    the conversation is about (the `order_id` slot). None for a visitor, when no order is
    meant, or when the backend cannot say: the caller's general answer still helps."""

    def lookup(buyer: Credential) -> Order | None:
        order_id = order_meant(tracker, backend, buyer)
        if order_id is None and or_kept:
            order_id = normalise_order_id(tracker.get_slot("order_id"))
        return backend.order(buyer, order_id) if order_id else None

    return lookup_for_buyer(tracker, lookup)


def idempotency_key(tracker: Tracker, *parts: object) -> str:
    """Stable for one request of one conversation turn, so a retry reuses it."""
    latest = tracker.latest_message or {}
    turn = str(latest.get("message_id") or "")
    if not turn:
        user_events = [e for e in tracker.events if e.get("event") == "user"]
        turn = str(user_events[-1].get("timestamp") if user_events else "")
    material = "|".join([tracker.sender_id, turn, *map(str, parts)])
    return hashlib.sha256(material.encode()).hexdigest()


def format_date(value: str | None) -> str:
    if not value:
        return "an unknown date"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value[:10]
    return f"{moment.day} {moment.strftime('%b %Y')}"


def format_money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "the full amount"
    return f"{amount:.2f} {currency}".strip()


class UsesBackend:
    """The dispute backend, given (tests) or the process's default, made on first use (the
    executor builds actions with no arguments)."""

    def __init__(self, backend: DisputeBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> DisputeBackend:
        if self._backend is None:
            self._backend = default_backend()
        return self._backend

    @property
    def channel_backend(self) -> ChannelBackend:
        """The same backend, seen as the messaging channels' calls (linking, evidence)."""
        backend = self.backend
        assert isinstance(backend, ChannelBackend)
        return backend


class BackendAction(UsesBackend, Action, abc.ABC):
    """An action that talks to the backend on the buyer's behalf.

    Subclasses implement `act`. Every backend failure is turned into a
    response here, so no exception escapes `run()` and the turn's events are
    never lost: an outage gets an apology and the offer of a person, a missing
    or expired chat token gets a request to sign in again.
    """

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]: ...

    def when_anonymous(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """Nobody is signed in: what can be said without an account (by default, nothing
        but the way to sign in)."""
        dispatcher.utter_message(response="utter_sign_in_needed")
        return []

    def on_unavailable(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        dispatcher.utter_message(response="utter_backend_unavailable")
        return [SlotSet("handoff_reason", "backend_unavailable")]

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        buyer = buyer_credential(tracker)
        if not buyer:
            return self.when_anonymous(dispatcher, tracker)
        try:
            return self.act(dispatcher, tracker, buyer)
        except ChannelAccountNotLinked:  # Telegram/Messenger: nobody until linked
            dispatcher.utter_message(response="utter_link_account_needed")
            return []
        except BuyerNotIdentified:
            return self.when_anonymous(dispatcher, tracker)
        except BackendUnavailable as error:
            logger.warning("%s: backend unavailable: %s", self.name(), error)
            return self.on_unavailable(dispatcher, tracker)
        except BackendError as error:  # an unexpected refusal: say so, never a trace
            logger.error("%s: unexpected backend answer: %s", self.name(), error)
            dispatcher.utter_message(response="utter_something_went_wrong")
            return []
