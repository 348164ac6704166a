"""data/rules/forms.yml is what scripts/form_rules.py's table says, and the table names
real forms, intents and responses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("form_rules", ROOT / "scripts" / "form_rules.py")
assert _spec and _spec.loader
form_rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(form_rules)

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def test_the_rules_file_is_the_tables() -> None:
    assert form_rules.main(["--check"]) == 0, "run: .venv/bin/python scripts/form_rules.py"


def test_the_table_names_forms_intents_and_responses_of_the_domain() -> None:
    assert set(form_rules.FORMS) <= set(DOMAIN["forms"])
    assert set(form_rules.CANCEL) <= set(form_rules.FORMS)
    answers = {**form_rules.DIGRESSIONS, **form_rules.DELIVERY_ASIDES}
    assert set(answers) <= set(DOMAIN["intents"])
    assert set(answers.values()) <= {*DOMAIN["responses"], *DOMAIN["actions"]}


def test_every_form_answers_every_digression_and_can_be_left() -> None:
    rules = yaml.safe_load(form_rules.render())["rules"]
    for form in form_rules.FORMS:
        inside = [r for r in rules if r["condition"] == [{"active_loop": form}]]
        intents = {r["steps"][0]["intent"] for r in inside}
        assert intents >= {*form_rules.DIGRESSIONS, "stop", "request_human"}
