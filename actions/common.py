"""What every action shares: who the buyer is, the backend, and failing well."""

from __future__ import annotations

import abc
import hashlib
import logging
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import (
    CHANNEL_ACCOUNT_PREFIX,
    BackendError,
    BackendUnavailable,
    BuyerNotIdentified,
    ChannelAccountNotLinked,
    DisputeBackend,
    default_backend,
)

logger = logging.getLogger(__name__)

CHAT_TOKEN_KEY = "chat_token"  # noqa: S105 (a metadata key, not a secret)
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

# Words buyers use for each reason, for answers typed instead of clicked.
REASON_WORDS = {
    "damaged": ("damag", "broke", "crack", "smash", "shatter", "defect", "not work",
                "doesnt work", "doesn't work", "dead", "faulty", "scratch", "torn", "leak",
                "dent", "charge", "turn on", "stopped", "no sound", "burn"),
    "not_as_described": ("describ", "photo", "picture", "quality", "different", "fake photo",
                         "not like", "looks nothing", "cheap", "material", "size"),
    "wrong_item": ("wrong", "another item", "not what i ordered", "different item",
                   "colour", "color", "model"),
    "counterfeit": ("counterfeit", "fake", "replica", "knock", "copy", "not original",
                    "not genuine", "imitation"),
    "missing_parts": ("missing", "incomplete", "only one", "parts", "not all", "without the",
                      "no charger", "no cable", "empty"),
    "not_received": ("not receiv", "never arriv", "didnt arriv", "didn't arriv", "not arriv",
                     "never came", "never got", "lost", "haven't got", "havent got",
                     "not delivered", "never delivered"),
}  # fmt: skip


def not_identified_response(error: BuyerNotIdentified) -> str:
    """What to tell a buyer the backend does not know: sign in, or link the account."""
    if isinstance(error, ChannelAccountNotLinked):
        return "utter_link_account_needed"
    return "utter_sign_in_needed"


PERSON_PAYLOAD = "/request_human"

# Every slot a dispute form fills: what "stop" or a handoff forgets.
FORM_SLOTS = (
    "order_id", "dispute_reason", "requested_outcome", "refund_amount", "with_return",
    "dispute_description", "dispute_confirmed", "change_confirmed", "cancel_confirmed",
    "dispute_blocked", "delivery_topic",
)  # fmt: skip


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


def latest_intent(tracker: Tracker) -> str | None:
    """The intent of the latest message as classified (nlu_fallback included)."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    name = intent.get("name")
    return name if isinstance(name, str) else None


def channel_account(tracker: Tracker) -> str | None:
    """The channel account, e.g. "telegram:<user id>", of a Telegram or Messenger chat."""
    channel = tracker.get_latest_input_channel()
    if channel in LINKED_CHANNELS and tracker.sender_id:
        return f"{channel}:{tracker.sender_id}"
    return None


def buyer_credential(tracker: Tracker) -> str | None:
    """The signed chat token of the conversation's most recent message carrying one; on
    Telegram and Messenger, the channel account (the backend resolves its linked buyer)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        metadata = event.get("metadata") or {}
        token = metadata.get(CHAT_TOKEN_KEY)
        if isinstance(token, str) and token:
            return token
    account = channel_account(tracker)
    return CHANNEL_ACCOUNT_PREFIX + account if account else None


def idempotency_key(tracker: Tracker, *parts: object) -> str:
    """Stable for one request of one conversation turn, so a retry reuses it."""
    latest = tracker.latest_message or {}
    turn = str(latest.get("message_id") or "")
    if not turn:
        user_events = [e for e in tracker.events if e.get("event") == "user"]
        turn = str(user_events[-1].get("timestamp") if user_events else "")
    material = "|".join([tracker.sender_id, turn, *map(str, parts)])
    return hashlib.sha256(material.encode()).hexdigest()


def normalise_order_id(value: Any) -> str | None:
    if value is None:
        return None
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return digits if len(digits) == 16 else None


_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d{1,2})?(?!\d|[.,]\d)")


def parse_amount(value: Any) -> Decimal | None:
    """'12.50', '12,5', '$12', '15 dollars' -> Decimal; anything else -> None.

    Two different numbers ("between 5 and 8", "3 or 4 euros") are no amount:
    the buyer is asked for one.
    """
    if value is None:
        return None
    numbers = {n.replace(",", ".") for n in _NUMBER.findall(str(value))}
    if len(numbers) != 1:
        return None
    try:
        amount = Decimal(numbers.pop()).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return amount


# Checked in this order: "never arrived" must not read as a damaged item, and
# "fake" as counterfeit before "not as described".
_REASON_ORDER = (
    "not_received", "counterfeit", "missing_parts", "wrong_item", "damaged", "not_as_described",
)  # fmt: skip


def reason_from_text(text: str) -> str | None:
    lowered = text.lower()
    for reason in _REASON_ORDER:
        if any(word in lowered for word in REASON_WORDS[reason]):
            return reason
    return None


_NEGATION = (
    r"\b(?:no need to|no(?!,)|not|never|without|don'?t|do not|won'?t|will not|can'?t|cannot"
    r"|rather not)\b"
)
# "no, I keep it" says no to the question, not to keeping; so "no" negates only a return.
_VERB_NEGATION = r"\b(?:not|never|don'?t|do not|won'?t|will not|can'?t|cannot)\b"
_WITHIN_A_FEW_WORDS = r"(?:\W+\w+'?\w*){0,4}?\W+"
_SEND_BACK = r"(?:return\w*|send\w*|ship\w*|post\w*|mail\w*)\b"
# Ordered: the first pattern that matches decides; None means "not about the return".
_RETURN_CHOICES = (
    (re.compile(_VERB_NEGATION + _WITHIN_A_FEW_WORDS + r"keep", re.IGNORECASE), True),
    (re.compile(r"\bkeep\w*\b", re.IGNORECASE), False),
    (re.compile(_NEGATION + _WITHIN_A_FEW_WORDS + _SEND_BACK, re.IGNORECASE), False),
    (re.compile(r"\b" + _SEND_BACK, re.IGNORECASE), True),
)


# Negative words that say yes: "no problem, I'll return it", "I don't mind sending it".
_NOT_A_NEGATION = re.compile(
    r"\b(?:no (?:problem|prob|worries|issue)s?|not a problem|(?:don'?t|do not) mind)\b",
    re.IGNORECASE,
)


def return_choice_from_text(text: str) -> bool | None:
    """Whether a typed answer sends the item back (True), keeps it (False), or says neither.

    For answers typed instead of clicked at "Will you send the item back?":
    "yes, I'll return them", "I'd rather keep it", "I won't ship it back".
    """
    text = _NOT_A_NEGATION.sub("fine", text)
    for pattern, returns_item in _RETURN_CHOICES:
        if pattern.search(text):
            return returns_item
    return None


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
    """The dispute backend, given (tests) or the process's default, made on first use."""

    def __init__(self, backend: DisputeBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> DisputeBackend:
        if self._backend is None:
            self._backend = default_backend()
        return self._backend


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
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
    ) -> list[EventType]: ...

    def on_unavailable(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        dispatcher.utter_message(response="utter_backend_unavailable")
        return [SlotSet("handoff_reason", "backend_unavailable")]

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        buyer = buyer_credential(tracker)
        if not buyer:
            dispatcher.utter_message(response="utter_sign_in_needed")
            return []
        try:
            return self.act(dispatcher, tracker, buyer)
        except ChannelAccountNotLinked:  # Telegram/Messenger: nobody until linked
            dispatcher.utter_message(response="utter_link_account_needed")
            return []
        except BuyerNotIdentified:
            dispatcher.utter_message(response="utter_sign_in_needed")
            return []
        except BackendUnavailable as error:
            logger.warning("%s: backend unavailable: %s", self.name(), error)
            return self.on_unavailable(dispatcher, tracker)
        except BackendError as error:  # an unexpected refusal: say so, never a trace
            logger.error("%s: unexpected backend answer: %s", self.name(), error)
            dispatcher.utter_message(response="utter_something_went_wrong")
            return []
