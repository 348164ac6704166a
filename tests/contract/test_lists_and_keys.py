"""The order of lists, and Idempotency-Keys: per buyer, per request, after the proof."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from actions.backend_client import BuyerNotIdentified, Refused
from actions.manage_dispute import find_dispute
from tests.contract.helpers import assert_refused, key, open_on, request
from tests.contract.worlds import World


def test_orders_and_disputes_are_listed_newest_first(world: World) -> None:
    buyer = world.buyer()
    first, second = world.order(buyer, "eligible"), world.order(buyer, "eligible")
    assert [o.id for o in world.backend.orders(buyer)] == [second, first]
    on_first = world.backend.open_dispute(buyer, request(first), idempotency_key=key())
    on_second = world.backend.open_dispute(buyer, request(second), idempotency_key=key())
    assert [d.id for d in world.backend.disputes(buyer)] == [on_second.id, on_first.id]
    assert [d.id for d in world.backend.disputes(buyer, order_id=first)] == [on_first.id]


def test_the_action_picks_an_orders_latest_dispute(world: World) -> None:
    """find_dispute takes the first of the list: the newest, of two that ended."""
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible")
    ended = []
    for _ in range(2):
        opened = world.backend.open_dispute(buyer, request(order_id), idempotency_key=key())
        world.backend.cancel_dispute(
            buyer, opened.id, version=opened.version, idempotency_key=key()
        )
        ended.append(opened.id)
    chosen = find_dispute(world.backend.disputes(buyer, order_id=order_id), order_id)
    assert chosen is not None and chosen.id == ended[-1]


def test_a_replay_with_the_same_body_answers_as_the_first_time(world: World) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible")
    same = key()
    first = world.backend.open_dispute(buyer, request(order_id), idempotency_key=same)
    world.backend.cancel_dispute(buyer, first.id, version=first.version, idempotency_key=key())
    replayed = world.backend.open_dispute(buyer, request(order_id), idempotency_key=same)
    assert (replayed.id, replayed.state, replayed.version) == (first.id, "negotiation", 1)
    assert [d.id for d in world.backend.disputes(buyer)] == [first.id]


def test_a_replay_with_another_body_is_refused(world: World) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible")
    same = key()
    world.backend.open_dispute(buyer, request(order_id), idempotency_key=same)
    assert_refused(
        lambda: world.backend.open_dispute(
            buyer, request(order_id, description="Other words."), idempotency_key=same
        ),
        Refused,
        "idempotency-key-reused",
        422,
    )


def test_a_change_replayed_is_applied_once(world: World) -> None:
    buyer = world.buyer()
    opened = open_on(world, buyer)
    same = key()
    for _ in range(2):
        changed = world.backend.modify_proposal(
            buyer,
            opened.id,
            version=opened.version,
            refund_amount=Decimal("20"),
            with_return=False,
            idempotency_key=same,
        )
        assert changed.version == opened.version + 1
    assert_refused(
        lambda: world.backend.modify_proposal(
            buyer,
            opened.id,
            version=opened.version,
            refund_amount=Decimal("21"),
            with_return=False,
            idempotency_key=same,
        ),
        Refused,
        "idempotency-key-reused",
        422,
    )
    cancelled = world.backend.cancel_dispute(
        buyer, opened.id, version=changed.version, idempotency_key=key()
    )
    assert world.backend.disputes(buyer)[0].version == cancelled.version


def test_a_key_belongs_to_one_buyer(world: World) -> None:
    alice, bob = world.buyer(), world.buyer()
    same = key()
    hers = world.backend.open_dispute(
        alice, request(world.order(alice, "eligible")), idempotency_key=same
    )
    his = world.backend.open_dispute(
        bob, request(world.order(bob, "eligible")), idempotency_key=same
    )
    assert his.id != hers.id
    assert [d.id for d in world.backend.disputes(bob)] == [his.id]


def test_the_proof_is_checked_before_the_key(world: World) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible")
    same = key()
    world.backend.open_dispute(buyer, request(order_id), idempotency_key=same)
    forged = replace(buyer, proof="forged")
    assert_refused(
        lambda: world.backend.open_dispute(forged, request(order_id), idempotency_key=same),
        BuyerNotIdentified,
        "buyer-token-invalid",
        401,
    )


def test_a_refused_request_leaves_its_key_unused(world: World) -> None:
    buyer = world.buyer()
    blocked, fine = world.order(buyer, "no_tracking"), world.order(buyer, "eligible")
    same = key()
    assert_refused(
        lambda: world.backend.open_dispute(buyer, request(blocked), idempotency_key=same),
        Refused,
        "no-tracking-yet",
        422,
    )
    opened = world.backend.open_dispute(buyer, request(fine), idempotency_key=same)
    assert opened.order_id == fine
