"""A conversation's applied events and past states, worked out once per event.

To predict each action, Rasa 3.6 asks the tracker for its applied events (the events
left once reverts, restarts and a form's happy path are taken out) and for its past
states (one per action, replayed from the first event). Both are recomputed from the
whole session on every call, several times per action, so a turn at message 60 cost
twice a turn at message 5. Here each tracker keeps what it worked out, and a call
continues from there with the events added since.

What is kept is used only while it still describes the tracker: the events it was
worked out from are, object for object, the start of the tracker's events now (and the
applied events the start of the applied events now); anything else (an event list reset
or trimmed, a loop seen for the first time, another domain) starts from the beginning, as
Rasa does. The steps below are Rasa 3.6.21's own (`DialogueStateTracker.applied_events`,
`Domain.states_for_tracker_history`), run one event at a time; tests/extensions/
test_tracker_history.py checks every call against Rasa's on conversations of forms,
reverts, restarts and rule turns.

Only the conversations in progress keep this (a tracker lives as long as the tracker
store hands it out: extensions/tracker_store.py), about 1 kB per action of the session.
"""

from __future__ import annotations

import copy as copying
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.rasa_patches import replace, require_rasa_version


def _extends(now: Iterable[Event], before: list[Event]) -> bool:
    """Do the events `now` start with exactly the objects `before`?"""
    count = 0
    for old, new in zip(before, now, strict=False):  # `now` may be longer
        if old is not new:
            return False
        count += 1
    return count == len(before)


@dataclass
class _Applied:
    """Rasa's applied-events loop, stopped after `seen` events."""

    loop_names: frozenset[str]
    seen: list[Event] = field(default_factory=list)
    applied: list[Event] = field(default_factory=list)

    def add(self, tracker: DialogueStateTracker, event: Event) -> None:
        applied = self.applied
        if isinstance(event, (Restarted, SessionStarted)):
            applied.clear()
        elif isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (
            isinstance(event, ActionExecuted)
            and event.action_name in self.loop_names
            and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)
        ):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)
        self.seen.append(event)


def _loop_names(events: Iterable[Event]) -> frozenset[str]:
    return frozenset(event.name for event in events if isinstance(event, ActiveLoop) and event.name)


def _still_fits(kept: _Applied, events: Iterable[Event]) -> bool:
    if not _extends(events, kept.seen):
        return False
    return _loop_names(itertools.islice(events, len(kept.seen), None)) <= kept.loop_names


def applied_events(self: DialogueStateTracker) -> list[Event]:
    """Rasa's `applied_events`, continued from the last call on this tracker. Rasa reads
    every event with the names of all loops the events activate, later ones included: a
    loop activated for the first time among the new events starts it over."""
    kept: _Applied | None = self.__dict__.get("_applied_kept")
    if kept is None or not _still_fits(kept, self.events):
        kept = _Applied(_loop_names(self.events))
        self.__dict__["_applied_kept"] = kept
    for event in itertools.islice(self.events, len(kept.seen), None):
        kept.add(self, event)
    return list(kept.applied)


@dataclass
class _States:
    """Rasa's past-states loop over the prior trackers, stopped after `applied`."""

    domain: Domain
    omit_unset_slots: bool
    ignore_rule_only_turns: bool
    rule_only_data: dict[str, Any] | None
    replay: DialogueStateTracker  # the tracker after `applied`
    applied: list[Event] = field(default_factory=list)
    states: list[State] = field(default_factory=list)
    last_ml_action_sub_state: Any = None
    turn_was_hidden: bool = False

    def fits(self, domain: Domain, rule_only_data: dict[str, Any] | None) -> bool:
        return self.domain is domain and self.rule_only_data == rule_only_data

    def step(self, hide_rule_turn: bool) -> None:
        """One prior tracker (`replay` before an action, or at the end)."""
        domain, tracker = self.domain, self.replay
        if self.ignore_rule_only_turns:
            if not self.turn_was_hidden:
                self.last_ml_action_sub_state = domain._get_prev_action_sub_state(tracker)
            if (
                not tracker.followup_action
                and tracker.latest_action_name != tracker.active_loop_name
            ):
                self.turn_was_hidden = hide_rule_turn
            if self.turn_was_hidden:
                return
        state = domain.get_active_state(tracker, omit_unset_slots=self.omit_unset_slots)
        if self.ignore_rule_only_turns:
            domain._remove_rule_only_features(state, self.rule_only_data)
            if self.states:
                domain._substitute_rule_only_user_input(state, self.states[-1])
            if self.last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = self.last_ml_action_sub_state
        self.states.append(domain._clean_state(state))

    def add(self, event: Event) -> None:
        if isinstance(event, ActionExecuted):
            self.step(event.hide_rule_turn)
        self.replay.update(event)
        self.applied.append(event)

    def with_the_end(self) -> list[State]:
        """The states, and the one of the tracker as it is now; what is kept stays."""
        ahead = _States(**{**self.__dict__, "states": list(self.states)})
        ahead.step(hide_rule_turn=False)
        # Callers change the states they get (the last user input): copies, two levels deep.
        return [{kind: dict(sub) for kind, sub in state.items()} for state in ahead.states]


def past_states(
    self: DialogueStateTracker,
    domain: Domain,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[State]:
    """Rasa's `past_states`, continued from the last call with the same arguments."""
    applied = self.applied_events()
    all_kept: dict[tuple[bool, bool], _States] = self.__dict__.setdefault("_states_kept", {})
    key = (omit_unset_slots, ignore_rule_only_turns)
    kept = all_kept.get(key)
    if kept is None or not kept.fits(domain, rule_only_data) or not _extends(applied, kept.applied):
        kept = _States(
            domain,
            omit_unset_slots,
            ignore_rule_only_turns,
            dict(rule_only_data) if rule_only_data is not None else None,
            replay=self.init_copy(),
        )
        all_kept[key] = kept
    for event in applied[len(kept.applied) :]:
        kept.add(event)
    return kept.with_the_end()


@dataclass
class _Replayed:
    """Rasa's copy, every event replayed on a new tracker, stopped after `seen`."""

    tracker: DialogueStateTracker
    seen: list[Event] = field(default_factory=list)


# What `_twin` leaves out of a copy: what this module keeps on a tracker.
_KEPT = ("_applied_kept", "_states_kept", "_replayed_kept")


def _twin(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """A tracker in the same state that shares nothing a caller could change in place."""
    twin = copying.copy(tracker)
    twin.events = deque(tracker.events, tracker.events.maxlen)
    slots = type(tracker.slots)()
    slots.update((name, copying.copy(slot)) for name, slot in tracker.slots.items())
    twin.slots = slots
    twin.latest_action = dict(tracker.latest_action)
    twin.active_loop = copying.copy(tracker.active_loop)
    for name in _KEPT:
        twin.__dict__.pop(name, None)
    return twin


def copy(self: DialogueStateTracker) -> DialogueStateTracker:
    """Rasa's `copy` (run before every action), continued from the last call."""
    kept: _Replayed | None = self.__dict__.get("_replayed_kept")
    if kept is None or not _extends(self.events, kept.seen):
        kept = _Replayed(self.init_copy())
        self.__dict__["_replayed_kept"] = kept
    for event in itertools.islice(self.events, len(kept.seen), None):
        kept.tracker.update(event)
        kept.seen.append(event)
    return _twin(kept.tracker)


def install() -> None:
    require_rasa_version("extensions/tracker_history.py")
    replace(DialogueStateTracker, "applied_events", applied_events)
    replace(DialogueStateTracker, "past_states", past_states)
    replace(DialogueStateTracker, "copy", copy)
