import pytest

from actions.backend_client import BackendUnavailable, Credential
from actions.common import (
    buyer_credential,
    format_date,
    idempotency_key,
    lookup_for_buyer,
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
    [
        ("$12.50 back", "12.50", "USD"),
        ("refund 20 eur", "20", "EUR"),
        ("15 dollars please", "15", "USD"),
        ("€7,5", "7.5", "EUR"),
        ("£3", "3", "GBP"),
    ],
)
def test_amounts_with_a_currency_are_extracted(text: str, amount: str, currency: str) -> None:
    found = {e["entity"]: e["value"] for e in extract(text)}
    assert found == {"amount": amount, "currency": currency}


def test_a_bare_number_is_not_an_amount() -> None:
    assert extract("it has been 10 days") == []


def test_order_number_digits_are_not_read_as_an_amount() -> None:
    found = [(e["entity"], e["value"]) for e in extract("order 8123456789012345 20 usd")]
    assert found == [("order_id", "8123456789012345"), ("amount", "20"), ("currency", "USD")]


def test_only_the_current_message_proves_who_writes() -> None:
    """A token sent with an earlier message of the conversation does not carry over: a
    message without one, from whoever knows the conversation id, identifies nobody."""
    tracker = make_tracker(token=None, events=[user_event("hi", token="older-token")])
    assert buyer_credential(tracker) is None
    assert buyer_credential(make_tracker(token="current")) == Credential(
        "current", "conversation-1"
    )


def test_idempotency_key_is_stable_per_turn_and_request() -> None:
    tracker = make_tracker()
    assert idempotency_key(tracker, "open", "1") == idempotency_key(tracker, "open", "1")
    assert idempotency_key(tracker, "open", "1") != idempotency_key(tracker, "open", "2")


def test_format_date() -> None:
    assert format_date("2026-12-06T10:00:00+00:00") == "6 Dec 2026"
    assert format_date(None) == "an unknown date"


def test_a_lookup_for_the_buyer_is_made_only_for_a_buyer_and_never_fails_the_turn() -> None:
    asked: list[Credential] = []

    def lookup(buyer: Credential) -> str:
        asked.append(buyer)
        return "found"

    assert lookup_for_buyer(make_tracker(token=None), lookup) is None
    assert asked == []  # a visitor: nothing asked
    assert lookup_for_buyer(make_tracker(), lookup) == "found"
    assert asked == [Credential("token-alice", "conversation-1")]

    def down(buyer: Credential) -> str:
        raise BackendUnavailable("down")

    assert lookup_for_buyer(make_tracker(), down) is None


def test_a_bug_in_a_lookup_is_not_taken_for_the_backend_saying_nothing() -> None:
    def broken(buyer: Credential) -> str:
        raise KeyError("title")

    with pytest.raises(KeyError):
        lookup_for_buyer(make_tracker(), broken)
