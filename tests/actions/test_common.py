from decimal import Decimal

import pytest

from actions.common import (
    buyer_credential,
    format_date,
    idempotency_key,
    normalise_order_id,
    parse_amount,
    reason_from_text,
    return_choice_from_text,
)
from extensions.entities import extract
from tests.actions.conftest import make_tracker, user_event


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#8123456789012345", "8123456789012345"),
        ("order 8123 4567 8901 2345 is broken", "8123456789012345"),
        ("its 8123-4567-8901-2345", "8123456789012345"),
        ("my order number is 8123456789012345.", "8123456789012345"),
    ],
)
def test_order_numbers_are_extracted_in_any_shape(text: str, expected: str) -> None:
    values = [e["value"] for e in extract(text) if e["entity"] == "order_id"]
    assert values == [expected]


@pytest.mark.parametrize(
    "text", ["call +34 93 437 58 79", "it took 10 days", "12345678901234567890", "8123 4567"]
)
def test_other_numbers_are_not_order_numbers(text: str) -> None:
    assert [e for e in extract(text) if e["entity"] == "order_id"] == []


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [("$12.50 back", "12.50", "USD"), ("refund 20 eur", "20", "EUR"),
     ("15 dollars please", "15", "USD"), ("€7,5", "7.5", "EUR"), ("£3", "3", "GBP")],
)  # fmt: skip
def test_amounts_with_a_currency_are_extracted(text: str, amount: str, currency: str) -> None:
    found = {e["entity"]: e["value"] for e in extract(text)}
    assert found == {"amount": amount, "currency": currency}


def test_a_bare_number_is_not_an_amount() -> None:
    assert extract("it has been 10 days") == []


def test_order_number_digits_are_not_read_as_an_amount() -> None:
    found = [(e["entity"], e["value"]) for e in extract("order 8123456789012345 20 usd")]
    assert found == [("order_id", "8123456789012345"), ("amount", "20"), ("currency", "USD")]


def test_the_buyer_is_the_latest_message_carrying_a_token() -> None:
    tracker = make_tracker(token=None, events=[user_event("hi", token="older-token")])
    assert buyer_credential(tracker) == "older-token"
    assert buyer_credential(make_tracker(token=None)) is None


def test_idempotency_key_is_stable_per_turn_and_request() -> None:
    tracker = make_tracker()
    assert idempotency_key(tracker, "open", "1") == idempotency_key(tracker, "open", "1")
    assert idempotency_key(tracker, "open", "1") != idempotency_key(tracker, "open", "2")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.5", Decimal("12.50")), ("$12", Decimal("12.00")), ("12,50", Decimal("12.50")),
     ("abc", None), ("1.2.3", None), (None, None), ("15 dollars", Decimal("15.00")),
     ("10 euros, yes 10", Decimal("10.00")),
     ("somewhere between 5 and 8", None), ("3 or 4 euros", None)],
)  # fmt: skip
def test_parse_amount(value: object, expected: Decimal | None) -> None:
    assert parse_amount(value) == expected


def test_normalise_order_id() -> None:
    assert normalise_order_id("8123 4567 8901 2345") == "8123456789012345"
    assert normalise_order_id("812345") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [("it arrived cracked", "damaged"), ("this is a fake", "counterfeit"),
     ("the charger is missing", "missing_parts"), ("they sent the wrong colour", "wrong_item"),
     ("it never arrived", "not_received"), ("looks nothing like the photo", "not_as_described"),
     ("hmm", None)],
)  # fmt: skip
def test_reason_from_free_text(text: str, reason: str | None) -> None:
    assert reason_from_text(text) == reason


@pytest.mark.parametrize(
    ("text", "returns_item"),
    [("yes, i'll return them", True), ("I can send it back", True), ("ok, shipping it back", True),
     ("I don't want to keep it", True), ("i'll keep it", False), ("no return please", False),
     ("no, I keep them", False), ("i prefer not to return it", False),
     ("I won't send anything back", False), ("no need to post it back", False),
     ("no problem, I'll return it", True), ("i don't mind sending them back", True),
     ("not a problem, i can ship it", True), ("no, i don't mind keeping it", False),
     ("15 euros", None), ("hmm", None)],
)  # fmt: skip
def test_return_choice_from_free_text(text: str, returns_item: bool | None) -> None:
    assert return_choice_from_text(text) is returns_item


def test_format_date() -> None:
    assert format_date("2026-12-06T10:00:00+00:00") == "6 Dec 2026"
    assert format_date(None) == "an unknown date"
