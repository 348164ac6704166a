"""A button's title typed instead of clicked works as the click (docs/rasa-patches.md).

Buyers often type what a button says ("yes, cancel it", "gadget bundle #30", "the
earbuds") or a short paraphrase of it ("ok cancel it", "no, leave it"). When the bot's
last message offered buttons, a short answer that names one of them, and no other, is
read as that button's payload: the same intent and entities as a click. The words that
count are each button's own (its distinctive words: "cancel" and "yes" in "Yes, cancel
it", but not "it"), so a sentence that names two of them, negates a positive one ("don't
cancel"), asks a question ("how do I cancel it?") or says much more than a title is left
to the NLU as before. When one button alone was offered ("Open a not-received dispute"),
a plain yes ("ok do that", "sure, go ahead") is that button.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Words that carry no choice: they never decide between buttons.
FILLER = frozenset(
    "a an the it its it's this that these those my me i i'm i'll ill im to of for in on at "
    "please pls plz ok okay k then so just well oh um uh hmm one ones and or is be would "
    "like want wanna do go with".split()
)
NEGATIONS = frozenset("no not don't dont never nope nah nothing neither nor won't wont".split())
QUESTION_WORDS = frozenset(
    "how what why when where which who can could is are do does will would should".split()
)
# How people write yes and no in a chat.
SAME_AS = {
    "nah": "no",
    "nope": "no",
    "naw": "no",
    "yep": "yes",
    "yup": "yes",
    "yea": "yes",
    "yeah": "yes",
    "sure": "yes",
    "ya": "yes",
}
# A typed answer says little more than the title it names.
MAX_EXTRA_WORDS = 4
# What a button does: a typed message that asks for another of these ("cancel the
# speaker dispute" under "Open a dispute") is a request of its own, not that click.
ACTION_WORDS = frozenset(
    "open cancel change modify edit check track upload add withdraw close lower raise"
    " return keep".split()
)


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


def words(text: str) -> list[str]:
    """Lower-case words without accents or punctuation ("Sí, ¡ábrela!" -> si, abrela)."""
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", plain)


def _content(text: str) -> set[str]:
    return {SAME_AS.get(w, w) for w in words(text) if w not in FILLER}


def is_question(text: str) -> bool:
    said = words(text)
    return text.rstrip().endswith("?") or bool(said and said[0] in QUESTION_WORDS)


# A yes to the one thing offered ("ok do that", "sure, go ahead"), once fillers are gone.
YES_WORDS = frozenset("yes ahead fine alright sounds good great perfect cool".split())


_SAYS_YES = re.compile(r"\b(?:do (?:it|that)|go ahead|let'?s do|please do|sounds good)\b")


def is_plain_yes(text: str) -> bool:
    """Does the text only say yes ("ok do that", "yes please", "sure, go ahead")? A bare
    "ok" or "hmm" is no yes: it may only acknowledge."""
    said = words(text)
    if not said or len(said) > 5 or set(said) & NEGATIONS or not _content(text) <= YES_WORDS:
        return False
    return "yes" in {SAME_AS.get(w, w) for w in said} or bool(_SAYS_YES.search(" ".join(said)))


def matching_button(text: str, buttons: Sequence[Button]) -> Button | None:
    """The one button a short typed answer names, or None. With a single button offered
    ("Open a not-received dispute"), a plain yes ("ok do that") is that button."""
    if not buttons or text.lstrip().startswith("/") or is_question(text):
        return None
    if len(buttons) == 1:
        return buttons[0] if is_plain_yes(text) else None
    typed = _content(text)
    if not typed:
        return None
    titles = [_content(b.title) for b in buttons]
    for button, title in zip(buttons, titles, strict=True):
        if typed == title:
            return button
    named = []
    for i, (button, title) in enumerate(zip(buttons, titles, strict=True)):
        others = set().union(*(t for j, t in enumerate(titles) if j != i))
        if (title - others) & typed:
            named.append((button, title))
    if len(named) != 1:
        return None  # none, or words of two buttons ("no, cancel it"): not one choice
    button, title = named[0]
    if typed & NEGATIONS and not title & NEGATIONS:
        return None  # "don't cancel" never clicks "Yes, cancel it"
    if len(typed - title) > MAX_EXTRA_WORDS or (typed - title) & ACTION_WORDS:
        return None
    return button


def offered_buttons(events: Sequence[Any]) -> list[Button]:
    """The buttons of the bot's messages since the buyer last wrote (the question being
    answered now), as Rasa stored them."""
    found: list[Button] = []
    for event in reversed(events):
        kind = getattr(event, "type_name", None)
        if kind == "user":
            break
        if kind != "bot":
            continue
        for raw in (getattr(event, "data", None) or {}).get("buttons") or []:
            title, payload = raw.get("title"), raw.get("payload")
            if isinstance(title, str) and isinstance(payload, str) and payload.startswith("/"):
                found.append(Button(title, payload))
        if found:
            break  # the latest message with buttons is the question
    return found


def as_click(typed: dict[str, Any], clicked: dict[str, Any]) -> dict[str, Any]:
    """The parse of a typed answer read as a click: the click's intent and entities, the
    typed text, and what else the NLU found in it ("the earbuds, they're cracked")."""
    names = {e.get("entity") for e in clicked.get("entities") or []}
    extra = [e for e in typed.get("entities") or [] if e.get("entity") not in names]
    return {
        **clicked,
        "text": typed.get("text"),
        "entities": [*clicked.get("entities", []), *extra],
    }


def install() -> None:
    """Read typed button titles as clicks, in Rasa's message processor."""
    from rasa.core.channels.channel import UserMessage

    from extensions.rasa_patches import require_rasa_version, reread_parses

    require_rasa_version("extensions/typed_buttons.py")

    async def read_click(
        message: UserMessage, tracker: Any, parsed: dict[str, Any], reparse: Any
    ) -> dict[str, Any]:
        button = matching_button(message.text or "", offered_buttons(tracker.events))
        if button is None:
            return parsed
        click = UserMessage(
            button.payload, sender_id=message.sender_id, input_channel=message.input_channel
        )
        return as_click(parsed, await reparse(click))

    reread_parses("reads_typed_buttons", read_click)
