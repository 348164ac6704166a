"""Changing and cancelling a dispute: versions, refunds, and disputes that have ended."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actions.backend_client import Conflict, NotFound, Refused
from tests.contract.helpers import (
    assert_refused,
    buyer_and_dispute,
    cancel,
    change,
    open_dispute,
    open_on,
)
from tests.contract.worlds import World


def test_a_change_moves_the_version_and_the_amount(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    changed = change(world, buyer, opened.id, opened.version, "15", with_return=True)
    assert (changed.version, changed.refund_amount, changed.with_return) == (
        opened.version + 1,
        Decimal("15.00"),
        True,
    )
    assert changed.in_progress


def test_a_stale_version_is_a_conflict(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    change(world, buyer, opened.id, opened.version, "15")
    stale = opened.version
    assert_refused(
        lambda: change(world, buyer, opened.id, stale, "10"), Conflict, "version-conflict", 412
    )
    assert_refused(
        lambda: cancel(world, buyer, opened.id, stale), Conflict, "version-conflict", 412
    )
    assert world.backend.disputes(buyer)[0].refund_amount == Decimal("15.00")


def test_a_cancelled_dispute_has_ended(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    ended = cancel(world, buyer, opened.id, opened.version)
    assert (ended.state, ended.status_label, ended.in_progress) == ("ended", "Dispute ended", False)
    assert (ended.resolution["how"], ended.resolution["outcome"]) == ("cancellation", "cancelled")
    assert ended.version == opened.version + 1
    assert world.backend.disputes(buyer)[0].state == "ended"


@pytest.mark.parametrize("ending", ["cancelled", "settled"])
def test_an_ended_dispute_can_be_neither_changed_nor_cancelled(world: World, ending: str) -> None:
    buyer, opened = buyer_and_dispute(world)
    if ending == "cancelled":
        cancel(world, buyer, opened.id, opened.version)
    else:
        world.settle(buyer, opened.id)
    current = world.backend.disputes(buyer)[0]
    assert not current.in_progress
    assert_refused(
        lambda: change(world, buyer, opened.id, current.version, "10"),
        Conflict,
        "transition-not-allowed",
        409,
    )
    assert_refused(
        lambda: cancel(world, buyer, opened.id, current.version),
        Conflict,
        "transition-not-allowed",
        409,
    )


@pytest.mark.parametrize("amount", ["40.01", "0", "-5"])
def test_a_refund_above_the_order_amount_or_not_positive_is_refused(
    world: World, amount: str
) -> None:
    buyer, opened = buyer_and_dispute(world)  # an order of 40.00
    assert_refused(
        lambda: change(world, buyer, opened.id, opened.version, amount),
        Refused,
        "invalid-refund-amount",
        422,
    )
    assert world.backend.disputes(buyer)[0].version == opened.version


def test_the_whole_amount_is_a_valid_change(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    changed = change(world, buyer, opened.id, opened.version, "40.00")
    assert changed.refund_amount == Decimal("40.00")


OPEN_AMOUNTS = [
    ("partial_refund", "40.01"),  # above the order amount
    ("partial_refund", "40.00"),  # a partial refund is less than the whole
    ("partial_refund", None),  # a partial refund names its amount
    ("full_refund", "30.00"),  # a full refund is the whole amount
]


@pytest.mark.parametrize(("outcome", "amount"), OPEN_AMOUNTS)
def test_opening_with_a_wrong_amount_is_refused(
    world: World, outcome: str, amount: str | None
) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible", amount="40.00")
    assert_refused(
        lambda: open_dispute(world, buyer, order_id, outcome=outcome, amount=amount),
        Refused,
        "invalid-refund-amount",
        422,
    )
    assert world.backend.eligibility(buyer, order_id).eligible


def test_the_refund_is_in_the_orders_currency(world: World) -> None:
    """The API takes no currency: an amount is always in the order's (the actions check
    what the buyer typed, see validate_refund_amount); the dispute reports it back."""
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible")
    opened = open_dispute(world, buyer, order_id, outcome="partial_refund", amount="5")
    assert opened.currency == world.backend.order(buyer, order_id).currency == "EUR"


def test_someone_elses_dispute_is_not_found(world: World) -> None:
    buyer, other = world.buyer(), world.buyer()
    theirs = open_on(world, other)
    assert_refused(
        lambda: cancel(world, buyer, theirs.id, theirs.version), NotFound, "dispute-not-found", 404
    )
    assert_refused(
        lambda: change(world, buyer, theirs.id, theirs.version, "1"),
        NotFound,
        "dispute-not-found",
        404,
    )
    assert world.backend.disputes(other)[0].in_progress
