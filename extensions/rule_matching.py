"""The rule policy reads the states its rules can reach, not the whole conversation's.

To find the rules that apply, Rasa 3.6's `RulePolicy._get_possible_keys` walks back
through every state of the session, checking each candidate rule at each step. A rule
only constrains as many states as it has: further back every rule is applicable
(`_is_rule_applicable` answers True once `turn_index` passes the rule's length). So
the states before the longest rule's reach change nothing, and the walk stops there;
the result is the same set of rules.

It also formatted every state of the session into a text for a debug log line,
on every prediction, whatever the log level. The text is now made only when that
line is logged (`--debug`).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.policies.policy import Policy
from rasa.core.policies.rule_policy import RulePolicy

from extensions.rasa_patches import original, replace, require_rasa_version

_KEYS = "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys"
_FORMAT = "rasa.core.policies.policy:Policy.format_tracker_states"
_RULE_LOGGER = logging.getLogger("rasa.core.policies.rule_policy")


def longest_rule(policy: RulePolicy, lookup: dict[str, str]) -> int:
    """How many states the longest rule of `lookup` has (worked out once per lookup)."""
    known: dict[int, tuple[dict[str, str], int]] = policy.__dict__.setdefault("_longest_rules", {})
    if id(lookup) not in known or known[id(lookup)][0] is not lookup:
        length = max((len(policy._rule_key_to_state(key)) for key in lookup), default=0)
        known[id(lookup)] = (lookup, length)
    return known[id(lookup)][1]


def get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[Any]) -> set[str]:
    """Rasa's `_get_possible_keys` over the states the longest rule reaches."""
    reach = longest_rule(self, lookup)
    keys: set[str] = original(_KEYS)(self, lookup, states[-reach:] if reach else [])
    return keys


def format_tracker_states(states: list[dict]) -> str:
    """Rasa's text of the states, for the debug log line only."""
    if not _RULE_LOGGER.isEnabledFor(logging.DEBUG):
        return ""
    text: str = original(_FORMAT)(states)
    return text


def install() -> None:
    require_rasa_version("extensions/rule_matching.py")
    replace(RulePolicy, "_get_possible_keys", get_possible_keys)
    replace(Policy, "format_tracker_states", staticmethod(format_tracker_states))
