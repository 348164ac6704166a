"""A short follow-up asks the bot's last question again, about another item.

Right after the bot answered about one dispute or parcel, buyers ask about the next one in
a few words: "and the shoes?", "what about the usb hub one?", "how about order 8300 0000
0000 0031". On their own those words say nothing of what is wanted, and the NLU reads them
as whatever the item's words suggest (often opening a dispute). Here such a message is
read as the same request as the turn before, about the item it names: the intent of the
topic the bot's last answer set (`last_topic`, set by the actions), with the entities the
NLU found. The action then finds the item by number or product name.

It applies only when every one of these holds, so anything else is left to the NLU:

- the bot's answer to the previous message set `last_topic` (the follow-up is to the turn
  before, not to something said long ago);
- no form is asking a question (an answer to a form's question is the form's);
- the message starts with a follow-up lead ("and", "also", "what about", "how about") and
  says little else: at most MAX_WORDS words, none of them a verb of a new request
  ("and cancel it", "what about opening a dispute?") or a question word ("and when will
  it come?": the NLU reads that one whole).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# What the bot's last answer was about (the `last_topic` slot) -> the request it answered.
TOPIC_INTENTS = {
    "status": "check_dispute_status",
    "delivery": "report_not_received",
    "refund": "refund_problem",
    "deadline": "ask_dispute_deadline",
}
_LEAD = re.compile(
    r"^\s*(?:and\s+)?(?:what\s+about|how\s+about|what\s+of|same\s+(?:for|with)|also|plus|and)"
    r"\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)


# Words that make the rest a request or a question of its own, not just an item.
def _forms(verb: str) -> list[str]:
    """A verb's forms, as patterns: change -> change, changes, changed, changing."""
    if verb.endswith("y"):
        return [verb, verb[:-1] + "ies", verb[:-1] + "ied", verb + "ing"]
    stem = verb[:-1] if verb.endswith("e") else verb
    return [verb, verb + "s", verb + "es", stem + "ed", stem + "ing"]


_VERBS = (
    "open cancel change modify lower raise increase reduce add send upload attach talk speak"
    " call withdraw close stop want need help refund return keep"
).split()
_OWN_REQUEST = re.compile(
    r"\b(?:"
    + "|".join(form for verb in _VERBS for form in _forms(verb))
    + r"|stopping|stopped|wanna|can|could|would|will|should|shall|how|why|when"
    r"|where|who|which|is|are|was|were|do|does|did|has|have|had|thanks?|ok|okay|yes|no|bye)\b",
    re.IGNORECASE,
)
MAX_WORDS = 6


def follow_up_item(text: str) -> str | None:
    """The item a follow-up names ("the shoes" in "and the shoes?"), or None when the text
    is not a short follow-up."""
    found = _LEAD.match(text)
    if found is None:
        return None
    rest = found.group("rest").strip(" \t\n?!.,;:")
    words = rest.split()
    if not words or len(words) > MAX_WORDS or _OWN_REQUEST.search(rest):
        return None
    return rest


def topic_just_answered(events: Sequence[Any]) -> str | None:
    """The `last_topic` the bot set while answering the buyer's previous message."""
    for event in reversed(events):
        kind = getattr(event, "type_name", None)
        if kind == "user":
            return None
        if kind == "slot" and getattr(event, "key", None) == "last_topic":
            value = getattr(event, "value", None)
            return value if isinstance(value, str) else None
    return None


def as_follow_up(parsed: dict[str, Any], intent: str) -> dict[str, Any]:
    """The parse read as `intent`, with the entities the NLU found."""
    meant = {"name": intent, "confidence": 1.0}
    return {**parsed, "intent": meant, "intent_ranking": [meant]}


def install() -> None:
    """Read short follow-ups as the previous request, in Rasa's message processor."""
    from extensions.rasa_patches import require_rasa_version, reread_parses

    require_rasa_version("extensions/follow_ups.py")

    async def read_follow_up(
        message: Any, tracker: Any, parsed: dict[str, Any], reparse: Any
    ) -> dict[str, Any]:
        if tracker.active_loop_name or follow_up_item(message.text or "") is None:
            return parsed
        intent = TOPIC_INTENTS.get(topic_just_answered(tracker.events) or "")
        return parsed if intent is None else as_follow_up(parsed, intent)

    reread_parses("reads_follow_ups", read_follow_up)
