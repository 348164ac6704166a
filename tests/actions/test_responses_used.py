"""Every response in domain.yml is used, and every one an action utters is asserted by an
action test: a response nothing says is dead text, and one no test checks can go silently
wrong (a refusal reported as a success)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
RESPONSES = set(DOMAIN["responses"])
# Where a response can be named: the actions, the training rules and stories, the channel
# extensions, and the operator console (it reads some through Rasa's API).
SOURCES = [
    *ROOT.glob("actions/*.py"),
    *ROOT.glob("extensions/*.py"),
    *ROOT.glob("data/rules/*.yml"),
    *ROOT.glob("data/stories/*.yml"),
    *(p for p in ROOT.glob("backend/src/console/**/*") if p.suffix in (".py", ".html", ".js")),
]
# Responses used by nothing in SOURCES, each with the reason it stays.
NOT_NAMED_ANYWHERE = {
    # Rasa's built-in action_default_fallback utters it. The RulePolicy here falls back to
    # action_handle_fallback, but the built-in stays a domain action that Rasa's HTTP API can
    # run (POST /conversations/<id>/execute); without this text it would answer nothing.
    "utter_default": "Rasa's own action_default_fallback",
}
UTTERED_BY_ACTIONS = re.compile(r"""response=["'](utter_\w+)["']|["'](utter_\w+)["']""")


def named(text: str, response: str) -> bool:
    return re.search(rf"\b{re.escape(response)}\b", text) is not None


def form_questions() -> set[str]:
    """Rasa asks a form's slot with utter_ask_<slot> (or action_ask_<slot>)."""
    forms = DOMAIN.get("forms") or {}
    return {f"utter_ask_{slot}" for form in forms.values() for slot in form["required_slots"]}


def test_every_response_in_the_domain_is_used() -> None:
    text = "\n".join(p.read_text() for p in SOURCES)
    unused = {r for r in RESPONSES - form_questions() if not named(text, r)}
    assert unused == set(NOT_NAMED_ANYWHERE), (
        "responses nothing uses (remove them, or name the exception and why): "
        f"{sorted(unused - set(NOT_NAMED_ANYWHERE))}; exceptions now used or gone: "
        f"{sorted(set(NOT_NAMED_ANYWHERE) - unused)}"
    )


def test_the_exceptions_are_still_in_the_domain() -> None:
    assert set(NOT_NAMED_ANYWHERE) <= RESPONSES


def test_every_response_an_action_utters_is_asserted_by_an_action_test() -> None:
    uttered = set()
    for path in ROOT.glob("actions/*.py"):
        for match in UTTERED_BY_ACTIONS.finditer(path.read_text()):
            uttered.add(match.group(1) or match.group(2))
    uttered &= RESPONSES  # not "utter_message", the dispatcher's method
    tests = "\n".join(
        p.read_text() for p in (ROOT / "tests" / "actions").glob("test_*.py") if p != Path(__file__)
    )
    unasserted = {r for r in uttered if f'"{r}"' not in tests}
    assert unasserted == set(), f"no action test expects {sorted(unasserted)}"
    assert len(uttered) > 60
