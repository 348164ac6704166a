"""Applied events and past states worked out one event at a time (extensions/tracker_history.py)
are exactly Rasa's, worked out from the whole session, at every step of conversations with
forms, rejections, reverts, restarts, follow-ups and rule-only turns."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    Event,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from extensions import tracker_history
from extensions.rasa_patches import original

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, inform, ask, deny]
entities: [order_id]
slots:
  order_id: {type: text, mappings: [{type: from_entity, entity: order_id}]}
  outcome: {type: categorical, values: [full, partial], mappings: [{type: custom}]}
  confirmed: {type: bool, influence_conversation: true, mappings: [{type: custom}]}
forms:
  dispute_form: {required_slots: [order_id, outcome]}
  cancel_form: {required_slots: [confirmed]}
responses:
  utter_greet: [{text: hi}]
  utter_answer: [{text: an answer}]
actions: [action_check]
"""
)
RULE_ONLY = {"rule_only_slots": ["confirmed"], "rule_only_loops": ["cancel_form"]}
RASA_APPLIED = original("rasa.shared.core.trackers:DialogueStateTracker.applied_events")

# What a conversation may do next, with how often.
MOVES: list[tuple[int, Callable[[random.Random], list[Event]]]] = [
    (
        10,
        lambda r: [
            UserUttered(
                r.choice(["hi", "8100", "why?", "no"]),
                {"name": r.choice(["greet", "inform", "ask", "deny"]), "confidence": 1.0},
                [{"entity": "order_id", "value": "8100"}] if r.random() < 0.3 else [],
            )
        ],
    ),
    (8, lambda r: [ActionExecuted("action_listen")]),
    (6, lambda r: [ActionExecuted(r.choice(["utter_answer", "action_check", "utter_greet"]))]),
    (2, lambda r: [ActionExecuted("utter_answer", hide_rule_turn=True)]),
    (
        4,
        lambda r: [
            ActionExecuted(form := r.choice(["dispute_form", "cancel_form"])),
            ActiveLoop(form),
            SlotSet("requested_slot", "order_id"),
        ],
    ),
    (5, lambda r: [ActionExecuted(r.choice(["dispute_form", "cancel_form"]))]),
    (2, lambda r: [ActionExecutionRejected(r.choice(["dispute_form", "cancel_form"]))]),
    (2, lambda r: [ActiveLoop(None), SlotSet("requested_slot", None)]),
    (
        4,
        lambda r: [
            SlotSet(r.choice(["order_id", "outcome", "confirmed"]), r.choice([None, "full", True]))
        ],
    ),
    (1, lambda r: [UserUtteranceReverted()]),
    (1, lambda r: [ActionReverted()]),
    (1, lambda r: [FollowupAction("utter_answer")]),
    (1, lambda r: [r.choice([Restarted(), SessionStarted()])]),
]


def moves(seed: int, count: int) -> list[Event]:
    chooser = random.Random(seed)  # noqa: S311 - a reproducible conversation, not a secret
    weights = [weight for weight, _ in MOVES]
    events: list[Event] = [ActionExecuted("action_session_start"), SessionStarted()]
    for _ in range(count):
        _, move = chooser.choices(MOVES, weights)[0]
        events.extend(move(chooser))
    return events


def rasa_states(tracker: DialogueStateTracker, **options: object) -> list:
    return DOMAIN.states_for_tracker_history(tracker, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(12))
def test_every_step_of_a_conversation_matches_rasa(seed: int) -> None:
    tracker = DialogueStateTracker("buyer", DOMAIN.slots)
    for event in moves(seed, 70):
        tracker.update(event)
        assert tracker_history.applied_events(tracker) == RASA_APPLIED(tracker)
        for options in (
            {},
            {"omit_unset_slots": True},
            {"ignore_rule_only_turns": True, "rule_only_data": RULE_ONLY},
        ):
            ours = tracker_history.past_states(tracker, DOMAIN, **options)  # type: ignore[arg-type]
            assert ours == rasa_states(tracker, **options)


def test_what_a_caller_changes_in_the_states_it_got_does_not_stay() -> None:
    tracker = DialogueStateTracker("buyer", DOMAIN.slots)
    for event in moves(1, 30):
        tracker.update(event)
    first = tracker_history.past_states(tracker, DOMAIN)
    for state in first:
        state.get("prev_action", {}).clear()  # as a featurizer trims the last user input
    assert tracker_history.past_states(tracker, DOMAIN) == rasa_states(tracker)


def test_events_replaced_under_the_tracker_start_it_over() -> None:
    tracker = DialogueStateTracker("buyer", DOMAIN.slots)
    for event in moves(2, 30):
        tracker.update(event)
    tracker_history.past_states(tracker, DOMAIN)
    tracker_history.copy(tracker)
    tracker.events.clear()  # as Rasa's _reset does before a replay
    for event in moves(3, 20):
        tracker.update(event)
    assert tracker_history.applied_events(tracker) == RASA_APPLIED(tracker)
    assert tracker_history.past_states(tracker, DOMAIN) == rasa_states(tracker)
    rasa_copy = original("rasa.shared.core.trackers:DialogueStateTracker.copy")
    assert described(tracker_history.copy(tracker)) == described(rasa_copy(tracker))


def test_a_loop_seen_for_the_first_time_recomputes_the_applied_events() -> None:
    """Rasa collapses a form's happy path only for loops the session has activated, so the
    first activation of a loop changes how its earlier executions read."""
    tracker = DialogueStateTracker("buyer", DOMAIN.slots)
    for event in (
        ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet", "confidence": 1.0}),
        ActionExecuted("dispute_form"),
        ActionExecuted("action_listen"),
        UserUttered("8100", {"name": "inform", "confidence": 1.0}),
    ):
        tracker.update(event)
    before = tracker_history.applied_events(tracker)
    for event in (ActionExecuted("dispute_form"), ActiveLoop("dispute_form")):
        tracker.update(event)
    after = tracker_history.applied_events(tracker)
    assert after == RASA_APPLIED(tracker)
    assert len(after) < len(before) + 2  # the happy path collapsed


def test_other_rule_only_data_or_another_domain_start_over() -> None:
    tracker = DialogueStateTracker("buyer", DOMAIN.slots)
    for event in moves(4, 40):
        tracker.update(event)
    rule_turns = {"ignore_rule_only_turns": True, "rule_only_data": RULE_ONLY}
    tracker_history.past_states(tracker, DOMAIN, **rule_turns)  # type: ignore[arg-type]
    fewer = {"ignore_rule_only_turns": True, "rule_only_data": {"rule_only_slots": []}}
    ours = tracker_history.past_states(tracker, DOMAIN, **fewer)  # type: ignore[arg-type]
    assert ours == rasa_states(tracker, **fewer)
    other = Domain.from_dict({**DOMAIN.as_dict(), "slots": {}, "forms": {}})
    assert tracker_history.past_states(tracker, other) == other.states_for_tracker_history(tracker)


def described(tracker: DialogueStateTracker) -> dict:
    """Everything a copy is: its state, its events (the same objects), its attributes."""
    return {
        **{
            k: v
            for k, v in vars(tracker).items()
            if k not in ("events", "slots", "_applied_kept", "_states_kept", "_replayed_kept")
        },
        "events": [id(event) for event in tracker.events],
        "slots": {name: slot.value for name, slot in tracker.slots.items()},
        "state": tracker.current_state(),
    }


@pytest.mark.parametrize("seed", range(6))
def test_a_copy_at_every_step_is_rasas_copy(seed: int) -> None:
    tracker = DialogueStateTracker("buyer", DOMAIN.slots)
    rasa_copy = original("rasa.shared.core.trackers:DialogueStateTracker.copy")
    for event in moves(seed, 60):
        tracker.update(event)
        ours = tracker_history.copy(tracker)
        assert described(ours) == described(rasa_copy(tracker))
        # What an action does to its copy stays in the copy.
        ours.update(SlotSet("order_id", "changed"))
        if ours.active_loop is not None:
            ours.active_loop.rejected = True  # as a rejected form run does
        ours.update(ActiveLoop("cancel_form"))
        ours.latest_action["action_name"] = "changed"
        assert described(tracker_history.copy(tracker)) == described(rasa_copy(tracker))
