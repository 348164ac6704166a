"""The dispute forms' shared validation (actions/forms.py): slots from domain.yml, and each
form has the validators of what it asks, no more."""

from __future__ import annotations

import inspect

import pytest
import yaml

from actions.forms import (
    DOMAIN_FILE,
    FORM_SLOTS,
    DisputeFormValidation,
    RefundProposal,
    form_slots,
)
from actions.manage_dispute import ValidateDisputeCancelForm, ValidateDisputeChangeForm
from actions.open_dispute import ValidateDisputeForm
from tests.actions.conftest import DISPUTE_FORM_QUESTIONS

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
