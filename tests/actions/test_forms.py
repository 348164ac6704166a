"""The dispute forms' shared validation (actions/forms.py): slots from domain.yml, and each
form has the validators of what it asks, no more."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import (
    DOMAIN_FILE,
    FORM_SLOTS,
    DisputeFormValidation,
    RefundProposal,
    form_slots,
    validates_answer,
    validates_any_value,
)
from actions.manage_dispute import ValidateDisputeCancelForm, ValidateDisputeChangeForm
from actions.open_dispute import ValidateDisputeForm
from tests.actions.conftest import DISPUTE_FORM_QUESTIONS, make_tracker

FORMS = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))["forms"]


@pytest.mark.parametrize("form", ["dispute_form", "dispute_change_form", "dispute_cancel_form"])
def test_a_forms_slots_are_its_questions_in_domain_order_then_blocked(form: str) -> None:
    assert form_slots(form) == (*FORMS[form]["required_slots"], "dispute_blocked")


def test_stop_forgets_every_dispute_forms_slot_once() -> None:
    assert (
        *DISPUTE_FORM_QUESTIONS,
        "change_confirmed",
        "cancel_confirmed",
        "dispute_blocked",
        "delivery_topic",
    ) == FORM_SLOTS


@pytest.mark.parametrize(
    ("validator", "form"),
    [
        (ValidateDisputeForm, "dispute_form"),
        (ValidateDisputeChangeForm, "dispute_change_form"),
        (ValidateDisputeCancelForm, "dispute_cancel_form"),
    ],
)
def test_a_form_validates_only_slots_it_asks_for(
    validator: type[DisputeFormValidation], form: str
) -> None:
    assert validator.name(validator.__new__(validator)) == f"validate_{form}"
    validated = {
        name.removeprefix("validate_")
        for name, _ in inspect.getmembers(validator, inspect.isfunction)
        if name.startswith("validate_")
    }
    assert validated <= set(FORMS[form]["required_slots"])


def test_the_refund_proposal_is_shared_by_the_forms_that_ask_it_only() -> None:
    assert issubclass(ValidateDisputeForm, RefundProposal)
    assert issubclass(ValidateDisputeChangeForm, RefundProposal)
    assert not issubclass(ValidateDisputeCancelForm, RefundProposal)
    assert all(inspect.isabstract(c) for c in (DisputeFormValidation, RefundProposal))


class Checked:
    """A form with one validated slot, recording the values its check is given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    @validates_answer
    def validate_colour(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        self.seen.append(slot_value)
        return {"colour": str(slot_value).lower()}

    @validates_any_value
    def validate_size(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        self.seen.append(slot_value)
        return {"size": slot_value}


def test_a_validator_is_called_as_rasa_calls_it_and_checks_the_answer() -> None:
    form, tracker = Checked(), make_tracker()
    assert form.validate_colour("Red", CollectingDispatcher(), tracker, {}) == {"colour": "red"}
    assert form.validate_colour.__name__ == "validate_colour"
    assert form.seen == ["Red"]


def test_an_answer_a_correction_forgot_is_asked_again_unchecked() -> None:
    form, dispatcher = Checked(), CollectingDispatcher()
    assert form.validate_colour(None, dispatcher, make_tracker(), {}) == {"colour": None}
    assert form.seen == [] and dispatcher.messages == []
    assert form.validate_size(None, dispatcher, make_tracker(), {}) == {"size": None}
    assert form.seen == [None]  # checked like any value
