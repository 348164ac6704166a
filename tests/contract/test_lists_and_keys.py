"""The order of lists, and Idempotency-Keys: per buyer, per request, after the proof."""

from __future__ import annotations

from dataclasses import replace

from actions.backend_client import BuyerNotIdentified, Credential, Dispute, Refused
from actions.manage_dispute import find_dispute
from tests.contract.helpers import (
    assert_refused,
    buyer_and_dispute,
    cancel,
    change,
    key,
    open_dispute,
)
from tests.contract.worlds import World


def test_orders_and_disputes_are_listed_newest_first(world: World) -> None:
    buyer = world.buyer()
    first, second = world.order(buyer, "eligible"), world.order(buyer, "eligible")
    assert [o.id for o in world.backend.orders(buyer)] == [second, first]
    on_first = open_dispute(world, buyer, first)
    on_second = open_dispute(world, buyer, second)
    assert [d.id for d in world.backend.disputes(buyer)] == [on_second.id, on_first.id]
    assert [d.id for d in world.backend.disputes(buyer, order_id=first)] == [on_first.id]


def test_the_action_picks_an_orders_latest_dispute(world: World) -> None:
    """find_dispute takes the first of the list: the newest, of two that ended."""
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible")
    ended = []
    for _ in range(2):
        opened = open_dispute(world, buyer, order_id)
        cancel(world, buyer, opened.id, opened.version)
        ended.append(opened.id)
    chosen = find_dispute(world.backend.disputes(buyer, order_id=order_id), order_id)
    assert chosen is not None and chosen.id == ended[-1]


def opened_under_a_key(world: World) -> tuple[Credential, Dispute, str]:
    """A new buyer's dispute on an eligible order, and the Idempotency-Key it was opened
    under."""
    buyer = world.buyer()
    same = key()
    opened = open_dispute(world, buyer, world.order(buyer, "eligible"), idempotency_key=same)
    return buyer, opened, same


def test_a_replay_with_the_same_body_answers_as_the_first_time(world: World) -> None:
    buyer, first, same = opened_under_a_key(world)
    cancel(world, buyer, first.id, first.version)
    replayed = open_dispute(world, buyer, first.order_id, idempotency_key=same)
    assert (replayed.id, replayed.state, replayed.version) == (first.id, "negotiation", 1)
    assert [d.id for d in world.backend.disputes(buyer)] == [first.id]


def test_a_replay_with_another_body_is_refused(world: World) -> None:
    buyer, first, same = opened_under_a_key(world)
    assert_refused(
        lambda: open_dispute(
            world, buyer, first.order_id, idempotency_key=same, description="Other words."
        ),
        Refused,
        "idempotency-key-reused",
        422,
    )


def test_a_change_replayed_is_applied_once(world: World) -> None:
    buyer, opened = buyer_and_dispute(world)
    same = key()
    for _ in range(2):
        changed = change(world, buyer, opened.id, opened.version, "20", idempotency_key=same)
        assert changed.version == opened.version + 1
    assert_refused(
        lambda: change(world, buyer, opened.id, opened.version, "21", idempotency_key=same),
        Refused,
        "idempotency-key-reused",
        422,
    )
    cancelled = cancel(world, buyer, opened.id, changed.version)
    assert world.backend.disputes(buyer)[0].version == cancelled.version


def test_a_key_belongs_to_one_buyer(world: World) -> None:
    alice, bob = world.buyer(), world.buyer()
    same = key()
    hers = open_dispute(world, alice, world.order(alice, "eligible"), idempotency_key=same)
    his = open_dispute(world, bob, world.order(bob, "eligible"), idempotency_key=same)
    assert his.id != hers.id
    assert [d.id for d in world.backend.disputes(bob)] == [his.id]


def test_the_proof_is_checked_before_the_key(world: World) -> None:
    buyer, first, same = opened_under_a_key(world)
    forged = replace(buyer, proof="forged")
    assert_refused(
        lambda: open_dispute(world, forged, first.order_id, idempotency_key=same),
        BuyerNotIdentified,
        "buyer-token-invalid",
        401,
    )


def test_a_refused_request_leaves_its_key_unused(world: World) -> None:
    buyer = world.buyer()
    blocked, fine = world.order(buyer, "no_tracking"), world.order(buyer, "eligible")
    same = key()
    assert_refused(
        lambda: open_dispute(world, buyer, blocked, idempotency_key=same),
        Refused,
        "no-tracking-yet",
        422,
    )
    opened = open_dispute(world, buyer, fine, idempotency_key=same)
    assert opened.order_id == fine
