"""Whether a dispute may be opened: every reason, in the backend's order, and the typed
refusal that opening anyway gets."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from actions.backend_client import Conflict, NotFound, Refused
from tests.contract.helpers import assert_refused, buyer_and_dispute, cancel, open_dispute
from tests.contract.worlds import NOW, World

SITUATION_VERDICTS = [
    ("eligible", "eligible"),
    ("no_tracking", "no_tracking_yet"),
    ("expired", "protection_expired"),
    ("in_customs", "eligible"),  # customs stops a not-received dispute only (R8)
    ("in_transit", "eligible"),
]


@pytest.mark.parametrize(("situation", "code"), SITUATION_VERDICTS)
def test_each_situation_reads_as_the_backend_says(world: World, situation: str, code: str) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, situation)
    verdict = world.backend.eligibility(buyer, order_id)
    assert (verdict.eligible, verdict.reason_code) == (code == "eligible", code)
    assert verdict.reason and verdict.active_dispute_id is None
    assert (verdict.window_ends_at is None) == (situation == "no_tracking")


def test_an_open_dispute_is_named_by_the_eligibility_and_the_order(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    verdict = world.backend.eligibility(buyer, opened.order_id)
    assert (verdict.eligible, verdict.reason_code) == (False, "dispute_already_open")
    assert verdict.active_dispute_id == opened.id
    assert world.backend.order(buyer, opened.order_id).active_dispute_id == opened.id


def test_an_order_whose_dispute_ended_with_a_refund_is_resolved(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    world.settle(buyer, opened.id)
    verdict = world.backend.eligibility(buyer, opened.order_id)
    assert (verdict.eligible, verdict.reason_code) == (False, "order_already_resolved")
    assert world.backend.order(buyer, opened.order_id).payment_status == "refunded"
    assert_refused(
        lambda: open_dispute(world, buyer, opened.order_id), Conflict, "order-already-resolved", 409
    )


def test_a_cancelled_dispute_leaves_the_order_open_to_a_new_one(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    cancel(world, buyer, opened.id, opened.version)
    assert world.backend.eligibility(buyer, opened.order_id).eligible
    again = open_dispute(world, buyer, opened.order_id)
    assert again.id != opened.id and again.in_progress


def test_a_closed_account_comes_first(world: World) -> None:
    """account_closed before every other reason: before a dispute in progress and before
    the missing tracking number."""
    buyer, opened = buyer_and_dispute(world)
    no_tracking = world.order(buyer, "no_tracking")
    fine = world.order(buyer, "eligible")
    world.close_account(buyer)
    for order_id in (opened.order_id, no_tracking, fine):
        verdict = world.backend.eligibility(buyer, order_id)
        assert (verdict.eligible, verdict.reason_code) == (False, "account_closed")
    assert_refused(lambda: open_dispute(world, buyer, fine), Refused, "account-closed", 403)


def test_a_dispute_in_progress_comes_before_the_order_being_settled(world: World) -> None:
    buyer, first = buyer_and_dispute(world)
    cancel(world, buyer, first.id, first.version)
    second = open_dispute(world, buyer, first.order_id)
    verdict = world.backend.eligibility(buyer, first.order_id)
    assert (verdict.reason_code, verdict.active_dispute_id) == ("dispute_already_open", second.id)


REFUSED_OPENS = [
    ("no_tracking", "damaged", Refused, "no-tracking-yet", 422),
    ("expired", "damaged", Refused, "protection-expired", 422),
    ("in_customs", "not_received", Refused, "package-in-customs", 422),
]


@pytest.mark.parametrize(("situation", "reason", "kind", "problem", "status"), REFUSED_OPENS)
def test_opening_an_ineligible_order_is_refused_by_its_reason(
    world: World, situation: str, reason: str, kind: type, problem: str, status: int
) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, situation)
    assert_refused(
        lambda: open_dispute(world, buyer, order_id, reason=reason), kind, problem, status
    )
    assert world.backend.disputes(buyer) == []


def test_a_package_in_customs_may_still_be_disputed_for_damage(world: World) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, "in_customs")
    opened = open_dispute(world, buyer, order_id)
    assert opened.in_progress


def test_opening_twice_is_a_conflict(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    error = assert_refused(
        lambda: open_dispute(world, buyer, opened.order_id),
        Conflict,
        "dispute-already-open",
        409,
    )
    assert isinstance(error, Refused)  # a conflict is a refusal too: the actions rely on it
    assert [d.id for d in world.backend.disputes(buyer)] == [opened.id]


def test_an_unknown_or_someone_elses_order_is_not_found(world: World) -> None:
    buyer, other = world.buyer(), world.buyer()
    theirs = world.order(other, "eligible")
    for order_id in (theirs, "7999999999999999"):
        assert_refused(
            lambda o=order_id: world.backend.order(buyer, o), NotFound, "order-not-found", 404
        )
        assert_refused(
            lambda o=order_id: world.backend.eligibility(buyer, o), NotFound, "order-not-found", 404
        )
        assert_refused(
            lambda o=order_id: open_dispute(world, buyer, o), NotFound, "order-not-found", 404
        )


def test_an_opened_dispute_reads_the_same_from_both(world: World) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible", amount="40.00")
    opened = open_dispute(world, buyer, order_id, outcome="partial_refund", amount="12.50")
    assert (opened.order_id, opened.reason, opened.state, opened.status_label, opened.version) == (
        order_id,
        "damaged",
        "negotiation",
        "Dispute in progress",
        1,
    )
    assert (opened.refund_amount, opened.currency, opened.with_return) == (
        Decimal("12.50"),
        "EUR",
        False,
    )
    assert opened.in_progress and opened.resolution == {}
    ends = datetime.fromisoformat(opened.deadlines["negotiation_ends_at"].replace("Z", "+00:00"))
    assert (ends - NOW).days == 5
    assert [d.id for d in world.backend.disputes(buyer)] == [opened.id]
