"""The queue for a person, as the handoff actions see it: asking, and withdrawing."""

from __future__ import annotations

import pytest

from actions.backend_client import Conflict
from tests.contract.worlds import World, conversation


def ask(world: World, chat: str) -> int:
    ticket = world.backend.request_handoff(
        chat, channel="rest", reason="user_request", buyer=None, idempotency_key=f"k-{chat}"
    )
    assert ticket.state == "waiting" and ticket.created
    return ticket.ticket_id


def test_a_waiting_request_is_withdrawn_once(world: World) -> None:
    chat = conversation()
    ticket_id = ask(world, chat)
    withdrawn = world.backend.withdraw_handoff(chat)
    assert withdrawn is not None and withdrawn.ticket_id == ticket_id
    assert withdrawn.state == "closed"
    assert world.backend.active_handoff(chat) is None
    assert world.backend.withdraw_handoff(chat) is None  # nothing open any more
    # The conversation may ask again: a new ticket.
    again = world.backend.request_handoff(
        chat, channel="rest", reason="user_request", buyer=None, idempotency_key="k-again"
    )
    assert again.created and again.ticket_id != ticket_id


def test_a_claimed_request_cannot_be_withdrawn(world: World) -> None:
    chat = conversation()
    ask(world, chat)
    world.claim_handoff(chat)
    with pytest.raises(Conflict) as refused:
        world.backend.withdraw_handoff(chat)
    assert refused.value.problem == "ticket-already-claimed"
    still = world.backend.active_handoff(chat)
    assert still is not None and still.state == "assigned"


def test_a_conversation_without_a_request_has_nothing_to_withdraw(world: World) -> None:
    assert world.backend.withdraw_handoff(conversation()) is None
