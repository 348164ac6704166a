"""Writes data/rules/forms.yml from the table below: what every form does with a question
asked in the middle of it, with "stop", with "cancel" and with a request for a person.

    .venv/bin/python scripts/form_rules.py          # rewrite data/rules/forms.yml
    .venv/bin/python scripts/form_rules.py --check  # fail if the file is not the table's

Why a table and not one rule per digression: a Rasa 3.6 rule condition names one loop
(`active_loop: dispute_form`) or none (`active_loop: null`); there is no "any loop".
A rule without the condition does fire inside a form, but only after the form ran and
rejected the message, and the same question gets another answer outside a form
(`ask_dispute_deadline` runs `action_answer_deadline` there). The rules that keep a
form from reading the question as an answer must each name their form, so they are
written out, and this table says them once (tests/actions/test_form_rules.py checks
the file matches).
"""

from __future__ import annotations

import sys
from pathlib import Path

RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "rules" / "forms.yml"

# The forms a question may interrupt, in the file's order.
FORMS = ("dispute_form", "dispute_change_form", "dispute_cancel_form", "order_lookup_form")

# A question inside any form: answered by this response, then the form asks again.
DIGRESSIONS = {
    "ask_dispute_deadline": "utter_ask_dispute_deadline",
    "ask_dispute_limit": "utter_ask_dispute_limit",
    "ask_dispute_ended": "utter_ask_dispute_ended",
    "ask_cancel_consequence": "utter_ask_cancel_consequence",
    "ask_how_disputes_work": "utter_ask_how_disputes_work",
    "contact_seller": "action_contact_seller",
    "request_replacement": "utter_request_replacement",
    "bot_challenge": "utter_iamabot",
}

# "Where is my parcel?" inside a dispute form: where it is, then the form asks again.
# Not inside the order lookup, where naming a parcel answers its question.
DELIVERY_ASIDES = {
    "report_not_received": "action_delivery_aside",
    "package_in_customs": "action_delivery_aside",
}
DISPUTE_FORMS = FORMS[:3]

# "cancel" inside a form, where it means something: (why, what follows stopping the form).
CANCEL = {
    "dispute_form": ('Nothing is open yet, so "cancel" can only mean this: stop opening it.', ()),
    "dispute_change_form": (
        "Changing a dispute, the buyer decides to cancel it instead.",
        ("dispute_cancel_form",),
    ),
}

HEADER = """\
version: "3.1"

# Inside every form: a question is answered and the form resumes;
# "stop" leaves it cleanly; asking for a person leaves it for the handoff.
# Written by scripts/form_rules.py from its table: change the table, not this file.
rules:
"""


def _rule(name: str, form: str, steps: list[str], comment: str = "") -> str:
    lines = [f"  # {comment}"] if comment else []
    lines += [f"  - rule: {name}", "    condition:", f"      - active_loop: {form}", "    steps:"]
    return "\n".join(lines + [f"      - {step}" for step in steps]) + "\n"


def _leave(intent: str) -> list[str]:
    """The steps that end the form without submitting it."""
    return [
        f"intent: {intent}",
        "action: action_deactivate_loop",
        "active_loop: null",
        "action: action_stop_form",
    ]


def rules_of(form: str) -> list[str]:
    rules = [
        _rule(
            f"{intent} inside {form}",
            form,
            [f"intent: {intent}", f"action: {response}", f"action: {form}", f"active_loop: {form}"],
        )
        for intent, response in {
            **DIGRESSIONS,
            **(DELIVERY_ASIDES if form in DISPUTE_FORMS else {}),
        }.items()
    ]
    rules.append(_rule(f"stop {form}", form, _leave("stop")))
    if form in CANCEL:
        why, then = CANCEL[form]
        steps = _leave("cancel_dispute")
        for next_form in then:
            steps += [f"action: {next_form}", f"active_loop: {next_form}"]
        rules.append(_rule(f"cancel inside {form}", form, steps, comment=why))
    rules.append(
        _rule(
            f"ask for a person inside {form}",
            form,
            [*_leave("request_human"), "action: action_request_handoff"],
        )
    )
    return rules


def render() -> str:
    return HEADER + "\n".join(rule for form in FORMS for rule in rules_of(form))


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        if RULES_FILE.read_text(encoding="utf-8") != render():
            print(f"{RULES_FILE} differs from scripts/form_rules.py's table: run it")
            return 1
        return 0
    if argv:
        print(__doc__)
        return 2
    RULES_FILE.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
