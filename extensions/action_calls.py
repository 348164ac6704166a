"""What Rasa sends the action server for each custom action: a bounded window of events.

Rasa 3.6 sends every event of the conversation's session with every call to the action
server (`RemoteAction._action_call_format`, `EventVerbosity.ALL`). The request grows with
the conversation: serialising it, sending it and parsing it again on the other side cost
more at every turn, and at about 57 messages the body passed the action server's request
limit (`SANIC_REQUEST_MAX_SIZE`), so every custom action failed and the bot went silent.

The actions need the conversation's state (slots, latest message, active form: all sent in
full, as before) and only its recent events: what the bot just asked, how many messages
in a row it missed, the current message's id (actions/common.py, actions/support.py,
rasa-sdk's form validation). So the call carries the events of the latest RECENT_MESSAGES
user messages; a shorter session goes whole, exactly as Rasa sends it. Actions that read
the whole session (FULL_HISTORY: the session start carries the previous session's slots
over) still get all of it.
"""

from __future__ import annotations

from typing import Any

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from extensions.rasa_patches import original, replace, require_rasa_version

# How many of the latest user messages, with everything after each, an action sees.
RECENT_MESSAGES = 10
# Actions that read the whole session's events.
FULL_HISTORY = frozenset({"action_session_start"})

_FORMAT = "rasa.core.actions.action:RemoteAction._action_call_format"


def recent_events(tracker: DialogueStateTracker, messages: int = RECENT_MESSAGES) -> list[Event]:
    """The events after the user message before the latest `messages` ones (the bot's
    answers to it included); the whole session when it has no more messages than that."""
    window: list[Event] = []
    seen = 0
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            seen += 1
            if seen > messages:
                return window[::-1]
        window.append(event)
    return list(tracker.events)


def action_call_format(
    self: RemoteAction, tracker: DialogueStateTracker, domain: Domain
) -> dict[str, Any]:
    """Rasa's request body for the action server, with the events of recent messages."""
    if self.name() in FULL_HISTORY:
        whole: dict[str, Any] = original(_FORMAT)(self, tracker, domain)
        return whole
    state = tracker.current_state(EventVerbosity.NONE)
    state["events"] = [event.as_dict() for event in recent_events(tracker)]
    body: dict[str, Any] = original(_FORMAT)(self, _Stated(tracker, state), domain)
    return body


class _Stated:
    """A tracker whose `current_state` is already computed: Rasa's format reads only
    `current_state` and `sender_id` of it."""

    def __init__(self, tracker: DialogueStateTracker, state: dict[str, Any]) -> None:
        self.sender_id = tracker.sender_id
        self._state = state

    def current_state(self, _verbosity: EventVerbosity) -> dict[str, Any]:
        return self._state


def install() -> None:
    require_rasa_version("extensions/action_calls.py")
    replace(RemoteAction, "_action_call_format", action_call_format)
