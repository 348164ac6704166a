"""Closing a handoff with Rasa down never leaves the chat paused without a way out: the ticket
stays open (closing again retries), and a pass gives back conversations found paused with no
open ticket, whatever left them so."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from conftest import CONSOLE_TOKEN, RASA_TOKEN, Backend, Console, Served, console_settings
from console.app import create_app
from console.clients import ConsoleBackend, RasaApi, Unavailable
from console.reconcile import reconcile_once
from dispute_backend.enums import TicketState
from dispute_backend.models import Operator
from dispute_backend.services import handoff
from rasa_stub import RasaStub

NOT_DELIVERED = "Not delivered: try again."


def test_closing_with_rasa_down_keeps_the_ticket_open_and_closing_again_works(
    console: Console,
) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, conversation = backend.open_ticket(rasa, "hello? anyone?")
    backend.claim(ticket_id, "op-marta")
    marta = console.signed_in("op-marta")

    rasa.stop()
    for action in ("close", "give-back"):
        refused = marta.fetch(f"/tickets/{ticket_id}/{action}")
        assert refused.status_code == 503 and refused.json()["detail"] == NOT_DELIVERED
    ticket = backend.ticket(ticket_id)
    assert (ticket.state, ticket.operator_id) == (TicketState.assigned, "op-marta")
    page = marta.page(f"/tickets/{ticket_id}").text  # the buttons to try again are there
    assert 'class="close"' in page and 'class="give-back"' in page

    rasa.start()
    assert rasa.paused(conversation)
    assert marta.submit(f"/tickets/{ticket_id}/close").status_code == 303
    assert marta.flash(f"/tickets/{ticket_id}") == "The conversation is back with the bot."
    assert backend.ticket(ticket_id).state == TicketState.closed
    assert not rasa.paused(conversation)
    assert rasa.texts(conversation) == [rasa.response_text("utter_handoff_ended")]
    assert backend.transcript(ticket_id).count(("user", "hello? anyone?")) == 1


def left_paused(backend: Backend, rasa: RasaStub) -> str:
    """A conversation whose ticket was closed while Rasa kept it paused (what closing before
    resuming left when Rasa was down)."""
    ticket_id, conversation = backend.open_ticket(rasa, "still there?")
    backend.clock.advance(timedelta(minutes=1))  # the close comes after the pause
    with backend.session() as s:
        operator = s.get(Operator, "op-jordi")
        assert operator is not None
        handoff.close(s, ticket_id=ticket_id, operator=operator, now=backend.clock.now())
        s.commit()
    return conversation


async def one_pass(backend: Backend, rasa: RasaStub) -> list[str]:
    console_backend = ConsoleBackend(backend.url, CONSOLE_TOKEN)
    console_rasa = RasaApi(rasa.url, RASA_TOKEN)
    try:
        return await reconcile_once(console_backend, console_rasa, within_seconds=3600)
    finally:
        await console_backend.close()
        await console_rasa.close()


def test_a_pass_gives_back_paused_conversations_with_no_open_ticket(
    backend: Backend, rasa: RasaStub
) -> None:
    stale = left_paused(backend, rasa)
    # Asked again after the close: a new open ticket, rightly paused.
    asked_again = left_paused(backend, rasa)
    with backend.session() as s:
        handoff.request_handoff(
            s,
            conversation_id=asked_again,
            channel="socketio",
            reason="user_request",
            buyer_id=None,
            now=backend.clock.now(),
        )
        s.commit()
    # Paused again after the close, by a handoff the pass's list did not see yet.
    racing = left_paused(backend, rasa)
    later = backend.clock.now().timestamp() + 1
    rasa.append(racing, [{"event": "pause", "timestamp": later}])

    rasa.stop()
    try:
        asyncio.run(one_pass(backend, rasa))
        raise AssertionError("a pass with Rasa down must say so")
    except Unavailable:
        pass
    assert rasa.paused(stale)

    rasa.start()
    assert asyncio.run(one_pass(backend, rasa)) == [stale]
    assert not rasa.paused(stale)
    assert rasa.texts(stale) == [rasa.response_text("utter_handoff_ended")]
    assert rasa.paused(asked_again) and rasa.paused(racing)
    assert asyncio.run(one_pass(backend, rasa)) == []  # nothing left to do, nothing said twice
    assert len(rasa.texts(stale)) == 1


def test_the_console_runs_the_pass_by_itself(backend: Backend, rasa: RasaStub) -> None:
    stale = left_paused(backend, rasa)
    rasa.stop()
    settings = console_settings(backend.url, rasa.url).model_copy(
        update={"reconcile_interval_seconds": 0.2}
    )
    with Served(create_app(settings)):
        time.sleep(0.5)  # passes fail while Rasa is down, and the console keeps trying
        rasa.start()
        deadline = time.monotonic() + 10
        while rasa.paused(stale):
            assert time.monotonic() < deadline, "the console never gave the conversation back"
            time.sleep(0.1)
    assert rasa.texts(stale) == [rasa.response_text("utter_handoff_ended")]
