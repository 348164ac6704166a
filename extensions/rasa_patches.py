"""Every change this project makes to Rasa's own code, installed in one named place.

Nothing here or in the modules it names patches Rasa when imported: `install()` does, and
only `python -m extensions.server` (the Rasa server's start, extensions/server.py) calls
it, once, before Rasa parses its arguments. Each patch replaces an internal of one Rasa
release, RASA_VERSION; on another release every install refuses, with a log line saying
which release was expected, rather than patch code it was not written for.

PATCHED lists each replaced internal with the signature it had when the patch was
written; tests/actions/test_rasa_patches.py fails when Rasa's own function disappears or
changes its signature. docs/rasa-patches.md says what each patch does, why, what it
gains (scripts/bench_rasa_patches.py measures it) and how to remove it.
"""

from __future__ import annotations

import importlib
import logging
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# The Rasa release whose internals the patches replace: another release must be checked
# against each of them (docs/rasa-patches.md) before this is changed.
RASA_VERSION = "3.6.21"


@dataclass(frozen=True)
class Patched:
    """One internal of Rasa a patch replaces or wraps."""

    internal: str  # module:qualified.name
    signature: str  # as `str(inspect.signature(...))` showed it in RASA_VERSION
    by: str  # the module that patches it


PATCHED = (
    Patched(
        "rasa.core.actions.action:RemoteAction._validate_action_result",
        "(self, result: Dict[str, Any]) -> bool",
        "extensions.speedups",
    ),
    Patched(
        "rasa.shared.core.events:Event.resolve_by_type",
        "(type_name: str, default: Optional[Type[ForwardRef('Event')]] = None)"
        " -> Optional[Type[ForwardRef('Event')]]",
        "extensions.speedups",
    ),
    Patched(
        "rasa.utils.endpoints:EndpointConfig.session",
        "(self) -> aiohttp.client.ClientSession",
        "extensions.speedups",
    ),
    Patched(
        "rasa.core.processor:MessageProcessor._parse_message_with_graph",
        "(self, message: rasa.core.channels.channel.UserMessage, tracker: "
        "rasa.shared.core.trackers.DialogueStateTracker, only_output_properties: bool"
        " = True) -> Dict[str, Any]",
        "extensions.speedups",
    ),
    Patched(
        "rasa.core.processor:MessageProcessor.parse_message",
        "(self, message: rasa.core.channels.channel.UserMessage, tracker: "
        "Optional[rasa.shared.core.trackers.DialogueStateTracker] = None, "
        "only_output_properties: bool = True) -> Dict[str, Any]",
        "extensions.speedups, extensions.typed_buttons, extensions.follow_ups",
    ),
    Patched(
        "rasa.core.actions.action:RemoteAction._action_call_format",
        "(self, tracker: 'DialogueStateTracker', domain: 'Domain') -> Dict[str, Any]",
        "extensions.action_calls",
    ),
    Patched(
        "rasa.shared.core.trackers:DialogueStateTracker.applied_events",
        "(self) -> List[rasa.shared.core.events.Event]",
        "extensions.tracker_history",
    ),
    Patched(
        "rasa.shared.core.trackers:DialogueStateTracker.past_states",
        "(self, domain: rasa.shared.core.domain.Domain, omit_unset_slots: bool = False, "
        "ignore_rule_only_turns: bool = False, rule_only_data: Optional[Dict[str, Any]] = None)"
        " -> List[Dict[str, MutableMapping[str, Union[str, Tuple[Union[float, str], ...]]]]]",
        "extensions.tracker_history",
    ),
    Patched(
        "rasa.shared.core.trackers:DialogueStateTracker.copy",
        "(self) -> 'DialogueStateTracker'",
        "extensions.tracker_history",
    ),
    Patched(
        "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys",
        "(self, lookup: 'Dict[Text, Text]', states: 'List[State]') -> 'Set[Text]'",
        "extensions.rule_matching",
    ),
    Patched(
        "rasa.core.policies.policy:Policy.format_tracker_states",
        "(states: 'List[Dict]') -> 'Text'",
        "extensions.rule_matching",
    ),
    Patched(
        "rasa.core.agent:Agent._create_tracker_store",
        "(store: 'Optional[TrackerStore]', domain: 'Domain') -> 'TrackerStore'",
        "extensions.tracker_store",
    ),
    Patched(
        "rasa.core.processor:MessageProcessor._should_handle_message",
        "(tracker: rasa.shared.core.trackers.DialogueStateTracker) -> bool",
        "extensions.paused",
    ),
    Patched(
        "rasa.__main__:configure_structlog",
        "(log_level: 'Optional[int]' = None) -> 'None'",
        "extensions.rasa_patches",
    ),
)


class WrongRasaVersion(RuntimeError):
    """The installed Rasa is not the one the patches were written for."""


def require_rasa_version(patch: str) -> None:
    """Refuse, with a clear log line, to patch another Rasa release than RASA_VERSION."""
    import rasa

    if rasa.__version__ != RASA_VERSION:
        message = (
            f"{patch} patches Rasa {RASA_VERSION} internals; found Rasa {rasa.__version__}: "
            "check each patch against it (docs/rasa-patches.md) before changing RASA_VERSION"
        )
        logger.error(message)
        raise WrongRasaVersion(message)


# Rasa's own objects that a patch replaced, by PATCHED's `internal` (the first replaced).
_originals: dict[str, Any] = {}


def _internal(owner: type | types.ModuleType, name: str) -> str:
    if isinstance(owner, types.ModuleType):
        return f"{owner.__name__}:{name}"
    return f"{owner.__module__}:{owner.__qualname__}.{name}"


def replace(owner: type | types.ModuleType, name: str, new: Any) -> None:
    """Set `owner.name` to `new`, remembering Rasa's own (tests check its signature)."""
    internal = _internal(owner, name)
    if internal not in {p.internal for p in PATCHED}:
        raise KeyError(f"{internal} is not in extensions/rasa_patches.py's PATCHED")
    _originals.setdefault(internal, getattr(owner, name))
    setattr(owner, name, new)


def original(internal: str) -> Any:
    """Rasa's own object at `internal` ("module:Class.name"), patched or not."""
    if internal in _originals:
        return _originals[internal]
    module, _, path = internal.partition(":")
    found: Any = importlib.import_module(module)
    for part in path.split("."):
        found = getattr(found, part)
    return found


# A rereading of a typed message's parse: (message, tracker, parse, reparse) -> the parse
# to use. `reparse` parses another message in the same conversation (a button's payload).
Parse = dict[str, Any]
Reread = Callable[[Any, Any, Parse, Callable[[Any], Awaitable[Parse]]], Awaitable[Parse]]


def reread_parses(marker: str, reread: Reread) -> None:
    """Wrap `MessageProcessor.parse_message` as patched so far: every typed message of a
    conversation gets its parse read again by `reread`. Once per `marker`."""
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.trackers import DialogueStateTracker

    parse = MessageProcessor.parse_message
    if getattr(parse, marker, False):
        return

    async def parse_message(
        self: MessageProcessor,
        message: UserMessage,
        tracker: DialogueStateTracker | None = None,
        only_output_properties: bool = True,
    ) -> dict[str, Any]:
        parsed: dict[str, Any] = await parse(self, message, tracker, only_output_properties)
        if tracker is None or not isinstance(message.text, str):
            return parsed

        async def reparse(other: UserMessage) -> dict[str, Any]:
            again: dict[str, Any] = await parse(self, other, tracker, only_output_properties)
            return again

        return await reread(message, tracker, parsed, reparse)

    setattr(parse_message, marker, True)
    replace(MessageProcessor, "parse_message", parse_message)


def install() -> None:
    """Install every patch, in the order they build on each other."""
    import rasa.__main__ as cli

    from extensions import (
        action_calls,
        follow_ups,
        paused,
        redaction,
        rule_matching,
        speedups,
        tracker_history,
        tracker_store,
        typed_buttons,
    )

    require_rasa_version("extensions/rasa_patches.py")
    redaction.install_record_factory()  # the standard library's logging, not Rasa
    configure = cli.configure_structlog

    def configure_quietly(*args: Any, **kwargs: Any) -> None:
        configure(*args, **kwargs)
        redaction.quiet_structlog()

    replace(cli, "configure_structlog", configure_quietly)
    speedups.install()
    typed_buttons.install()  # after the speed-ups: it reads their parse
    follow_ups.install()  # after the buttons: a typed title is a click first
    tracker_store.install()  # a shared tracker store's errors fail the message (503)
    paused.install()  # "never mind" while waiting for a person leaves the queue
    action_calls.install()  # the action server gets the recent events, not the session's
    tracker_history.install()  # applied events and past states continue, not restart
    rule_matching.install()  # rules are matched on the states they can reach
