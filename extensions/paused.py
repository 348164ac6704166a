"""While the buyer waits for a person, "never mind" still reaches the bot.

Rasa predicts nothing for a paused conversation, except after the `restart` intent
(`MessageProcessor._should_handle_message`): the buyer's messages are only logged, for the
operator to read. A buyer waiting in the queue who no longer needs a person says so ("never
mind, I found it": the `stop` intent). This lets Rasa handle that message too, so that
`action_stop` (actions/handoff.py) takes them out of the queue, or, once a person has
joined, leaves the message to them. Every other message while paused is still only logged.
"""

from __future__ import annotations

from rasa.core.processor import MessageProcessor
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from extensions.rasa_patches import replace, require_rasa_version

HANDLED_WHILE_PAUSED = frozenset({"restart", "stop"})


def should_handle_message(tracker: DialogueStateTracker) -> bool:
    """Rasa's rule (a paused conversation predicts nothing but a restart), with `stop`."""
    if not tracker.is_paused():
        return True
    latest = tracker.latest_message
    return latest is not None and latest.intent.get(INTENT_NAME_KEY) in HANDLED_WHILE_PAUSED


def install() -> None:
    require_rasa_version("extensions/paused.py")
    replace(MessageProcessor, "_should_handle_message", staticmethod(should_handle_message))
