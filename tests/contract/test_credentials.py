"""Who the buyer is: forged, expired and misplaced proofs, for chat tokens and channels."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from actions.backend_client import BuyerNotIdentified, ChannelAccountNotLinked, Credential
from tests.contract.helpers import assert_refused, open_on
from tests.contract.worlds import CHAT_TOKEN_TTL, World, conversation


def test_a_forged_token_identifies_nobody(world: World) -> None:
    buyer = world.buyer()
    for proof in ("forged", buyer.proof[:-2] + "xx", ""):
        forged = replace(buyer, proof=proof)
        assert_refused(
            lambda f=forged: world.backend.orders(f), BuyerNotIdentified, "buyer-token-invalid", 401
        )


def test_an_expired_token_identifies_nobody(world: World) -> None:
    buyer = world.buyer()
    assert world.backend.orders(buyer) == []
    world.let_time_pass(CHAT_TOKEN_TTL + timedelta(seconds=1))
    assert_refused(
        lambda: world.backend.orders(buyer), BuyerNotIdentified, "buyer-token-invalid", 401
    )
    fresh = world.token_for(buyer)  # signing in again helps
    assert world.backend.orders(fresh) == []


def test_a_token_counts_only_in_its_own_conversation(world: World) -> None:
    buyer = world.buyer()
    order_id = world.order(buyer, "eligible")
    elsewhere = Credential(buyer.proof, conversation())
    assert_refused(
        lambda: world.backend.order(elsewhere, order_id),
        BuyerNotIdentified,
        "buyer-token-invalid",
        401,
    )
    assert world.backend.order(buyer, order_id).id == order_id


def test_another_buyers_token_sees_none_of_this_buyers_disputes(world: World) -> None:
    buyer, other = world.buyer(), world.buyer()
    open_on(world, buyer)
    assert world.backend.disputes(other) == []


def test_a_linked_channel_account_acts_for_its_buyer(world: World) -> None:
    telegram = world.channel_buyer()
    opened = open_on(world, telegram)
    assert [d.id for d in world.backend.disputes(telegram)] == [opened.id]


def test_a_channel_identity_counts_only_in_its_own_conversation(world: World) -> None:
    telegram = world.channel_buyer()
    elsewhere = replace(telegram, conversation_id="telegram:1" + telegram.conversation_id[9:])
    assert_refused(
        lambda: world.backend.orders(elsewhere), BuyerNotIdentified, "channel-identity-invalid", 401
    )


def test_an_unlinked_channel_account_is_asked_to_link(world: World) -> None:
    unlinked = world.unlinked_channel_user()
    error = assert_refused(
        lambda: world.backend.orders(unlinked),
        ChannelAccountNotLinked,
        "channel-account-not-linked",
        401,
    )
    assert isinstance(error, BuyerNotIdentified)
