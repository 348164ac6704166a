"""The rule policy matched on the states its longest rule reaches finds exactly the rules
Rasa finds on the whole conversation (extensions/rule_matching.py)."""

from __future__ import annotations

import json
import logging
import random

import pytest
from rasa.core.policies.rule_policy import RulePolicy

from extensions import rule_matching
from extensions.rasa_patches import original

RASA_KEYS = original("rasa.core.policies.rule_policy:RulePolicy._get_possible_keys")
RASA_FORMAT = original("rasa.core.policies.policy:Policy.format_tracker_states")


def a_state(chooser: random.Random) -> dict:
    state: dict = {"prev_action": {"action_name": chooser.choice(["action_listen", "utter_a"])}}
    if chooser.random() < 0.6:
        state["user"] = {"intent": chooser.choice(["greet", "ask", "deny"])}
    if chooser.random() < 0.3:
        state["active_loop"] = {"name": chooser.choice(["dispute_form", "should_not_be_set"])}
    if chooser.random() < 0.1:
        return {}  # a conversation start
    return state


def rules(chooser: random.Random, count: int) -> dict[str, str]:
    lookup = {}
    for number in range(count):
        states = [a_state(chooser) for _ in range(chooser.randint(1, 6))]
        lookup[json.dumps(states, sort_keys=True)] = f"action_{number}"
    return lookup


@pytest.mark.parametrize("seed", range(20))
def test_the_same_rules_apply_as_on_the_whole_conversation(seed: int) -> None:
    chooser = random.Random(seed)  # noqa: S311 - a reproducible conversation, not a secret
    policy = RulePolicy.__new__(RulePolicy)  # matching reads no trained state
    lookup = rules(chooser, 40)
    states = [a_state(chooser) for _ in range(chooser.randint(0, 60))]
    found = rule_matching.get_possible_keys(policy, lookup, states)
    assert found == RASA_KEYS(policy, lookup, states)


def test_rules_that_match_only_far_back_are_still_found_within_their_reach() -> None:
    policy = RulePolicy.__new__(RulePolicy)
    long_rule = [{"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}}]
    long_rule += [{"prev_action": {"action_name": "utter_a"}}] * 4
    lookup = {json.dumps(long_rule): "utter_b", json.dumps(long_rule[-1:]): "utter_c"}
    assert rule_matching.longest_rule(policy, lookup) == 5
    before = [{"prev_action": {"action_name": "utter_a"}}] * 30
    states = before + long_rule
    assert rule_matching.get_possible_keys(policy, lookup, states) == set(lookup)
    # The same, but its first state differs: only the short rule applies.
    other_start = {"user": {"intent": "deny"}, "prev_action": {"action_name": "action_listen"}}
    states = [*before, other_start, *long_rule[1:]]
    found = rule_matching.get_possible_keys(policy, lookup, states)
    assert found == RASA_KEYS(policy, lookup, states) == {json.dumps(long_rule[-1:])}


def test_the_states_text_is_made_only_when_debug_lines_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    states = [{"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}}]
    with caplog.at_level(logging.INFO, logger="rasa.core.policies.rule_policy"):
        assert rule_matching.format_tracker_states(states) == ""
    with caplog.at_level(logging.DEBUG, logger="rasa.core.policies.rule_policy"):
        assert rule_matching.format_tracker_states(states) == RASA_FORMAT(states)
        assert "greet" in rule_matching.format_tracker_states(states)
