"""Working a conversation in the console: claim, reply, release, transfer, give back, close;
each done right, and each refused with a reason the operator reads, nothing delivered."""

from __future__ import annotations

import json

from conftest import NAMES, Console
from dispute_backend.enums import TicketState

JOINED = "from customer service has joined the chat"


def test_claim_says_who_joined_and_a_second_claim_is_refused(console: Console) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, conversation = backend.open_ticket(rasa, "where is my refund?")
    marta, jordi = console.signed_in("op-marta"), console.signed_in("op-jordi")
    assert "where is my refund?" in marta.page(f"/tickets/{ticket_id}").text

    answer = marta.submit(f"/tickets/{ticket_id}/claim")
    assert answer.status_code == 303 and answer.headers["location"] == f"/tickets/{ticket_id}"
    assert marta.flash(f"/tickets/{ticket_id}") == "You have the conversation."
    ticket = backend.ticket(ticket_id)
    assert (ticket.state, ticket.operator_id) == (TicketState.assigned, "op-marta")
    assert rasa.texts(conversation) == [f"{NAMES['op-marta']} {JOINED}."]

    lost = jordi.fetch(f"/tickets/{ticket_id}/claim")
    assert lost.status_code == 409 and lost.json()["problem"] == "ticket-already-claimed"
    assert "op-marta" in lost.json()["detail"]
    assert backend.ticket(ticket_id).operator_id == "op-marta"
    assert len(rasa.texts(conversation)) == 1  # no second "joined"


def test_reply_is_stored_then_delivered_and_an_empty_one_is_refused(console: Console) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, conversation = backend.open_ticket(rasa)
    backend.claim(ticket_id, "op-marta")
    marta = console.signed_in("op-marta")
    assert 'id="reply-form"' in marta.page(f"/tickets/{ticket_id}").text

    sent = marta.fetch(f"/tickets/{ticket_id}/reply", text="Hello, I'm looking at it.")
    assert sent.status_code == 200 and sent.json()["ok"] is True
    assert ("operator", "Hello, I'm looking at it.") in backend.transcript(ticket_id)
    assert rasa.texts(conversation) == ["Hello, I'm looking at it."]

    before = backend.transcript(ticket_id)
    empty = marta.fetch(f"/tickets/{ticket_id}/reply", text="   ")
    assert empty.status_code == 422 and empty.json()["detail"] == "Write something first."
    assert backend.transcript(ticket_id) == before
    assert rasa.texts(conversation) == ["Hello, I'm looking at it."]


def test_release_puts_it_back_and_releasing_a_waiting_ticket_is_refused(
    console: Console,
) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, _ = backend.open_ticket(rasa)
    backend.claim(ticket_id, "op-marta")
    marta = console.signed_in("op-marta")

    assert marta.submit(f"/tickets/{ticket_id}/release").status_code == 303
    assert marta.flash(f"/tickets/{ticket_id}") == "Back in the queue."
    ticket = backend.ticket(ticket_id)
    assert (ticket.state, ticket.operator_id) == (TicketState.waiting, None)

    again = marta.submit(f"/tickets/{ticket_id}/release")
    assert again.status_code == 303
    assert marta.flash(f"/tickets/{ticket_id}") == f"Ticket {ticket_id} is waiting."
    assert backend.ticket(ticket_id).version == ticket.version
    assert rasa.writes() == []  # releasing tells the buyer nothing


def test_transfer_hands_it_over_and_an_unknown_operator_is_refused(console: Console) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, _ = backend.open_ticket(rasa)
    backend.claim(ticket_id, "op-marta")
    marta = console.signed_in("op-marta")

    unknown = marta.fetch(f"/tickets/{ticket_id}/transfer", operator_id="op-nobody")
    assert unknown.status_code == 422 and "op-nobody" in unknown.json()["detail"]
    assert backend.ticket(ticket_id).operator_id == "op-marta"

    moved = marta.submit(f"/tickets/{ticket_id}/transfer", operator_id="op-jordi")
    assert moved.status_code == 303
    assert marta.flash(f"/tickets/{ticket_id}") == "Transferred to op-jordi."
    assert backend.ticket(ticket_id).operator_id == "op-jordi"
    # Now jordi's: marta has no reply box any more.
    assert 'id="reply-form"' not in marta.page(f"/tickets/{ticket_id}").text


def test_give_back_stores_what_the_buyer_said_and_resumes_the_bot(console: Console) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, conversation = backend.open_ticket(rasa, "the earbuds crackle", "left one")
    backend.claim(ticket_id, "op-marta")
    marta = console.signed_in("op-marta")

    answer = marta.submit(f"/tickets/{ticket_id}/give-back")
    assert answer.status_code == 303
    assert marta.flash(f"/tickets/{ticket_id}") == "The conversation is back with the bot."
    assert backend.ticket(ticket_id).state == TicketState.closed
    said = backend.transcript(ticket_id)
    assert ("user", "the earbuds crackle") in said and ("user", "left one") in said
    assert not rasa.paused(conversation)
    assert rasa.texts(conversation) == [rasa.response_text("utter_handoff_ended")]

    writes = len(rasa.writes())
    again = marta.fetch(f"/tickets/{ticket_id}/give-back")
    assert again.status_code == 409 and again.json()["problem"] == "transition-not-allowed"
    assert len(rasa.writes()) == writes  # nothing said twice


def test_close_a_waiting_ticket_gives_the_conversation_back(console: Console) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, conversation = backend.open_ticket(rasa, "anyone?")
    jordi = console.signed_in("op-jordi")
    assert 'class="close"' in jordi.page(f"/tickets/{ticket_id}").text

    closed = jordi.fetch(f"/tickets/{ticket_id}/close")
    assert closed.status_code == 200, closed.text
    assert backend.ticket(ticket_id).state == TicketState.closed
    assert not rasa.paused(conversation)
    assert rasa.texts(conversation) == [rasa.response_text("utter_handoff_ended")]

    again = jordi.submit(f"/tickets/{ticket_id}/close")
    assert again.status_code == 303
    assert jordi.flash(f"/tickets/{ticket_id}") == f"Ticket {ticket_id} is closed."


def test_an_operator_cannot_act_on_another_operators_ticket(console: Console) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, conversation = backend.open_ticket(rasa, "my order 8300")
    backend.claim(ticket_id, "op-marta")
    jordi = console.signed_in("op-jordi")
    page = jordi.page(f"/tickets/{ticket_id}").text
    assert 'id="reply-form"' not in page and 'class="give-back"' not in page
    before, said = backend.ticket(ticket_id), backend.transcript(ticket_id)
    rasa.requests.clear()

    for action, fields in (
        ("reply", {"text": "I'm jordi"}),
        ("release", {}),
        ("transfer", {"operator_id": "op-jordi"}),
        ("give-back", {}),
        ("close", {}),
        ("claim", {}),
    ):
        refused = jordi.fetch(f"/tickets/{ticket_id}/{action}", **fields)
        assert refused.status_code == 409, (action, refused.text)
        assert refused.json()["problem"] in (
            "ticket-not-assigned-to-you",
            "ticket-already-claimed",
        ), action
        assert "op-marta" in refused.json()["detail"], action

    after = backend.ticket(ticket_id)
    assert (after.state, after.operator_id, after.version) == (
        before.state,
        before.operator_id,
        before.version,
    )
    assert backend.transcript(ticket_id) == said  # not even the buyer's lines, as jordi's
    assert rasa.writes() == [] and rasa.paused(conversation)  # nothing reached the buyer


def test_the_buyer_is_shown_whatever_the_channel(console: Console) -> None:
    backend, rasa = console.backend, console.rasa
    linked, _ = backend.open_ticket(rasa, buyer_id="carla", channel="telegram")
    unknown, _ = backend.open_ticket(rasa, buyer_id=None, channel="facebook")
    marta = console.signed_in("op-marta")

    page = marta.page(f"/tickets/{linked}").text
    assert '<p class="buyer-name">Carla Diaz (carla, carla@example.com)</p>' in page
    assert "<dd>telegram</dd>" in page
    assert "No orders." not in page and "(mediation)" in page  # carla's orders and disputes
    queue = marta.page("/").text
    row = queue[queue.index(f'data-ticket="{linked}"') :].split("</tr>", 1)[0]
    assert "Carla Diaz" in row and "telegram" in row

    page = marta.page(f"/tickets/{unknown}").text
    assert "no buyer is attached to this conversation" in page
    row = queue[queue.index(f'data-ticket="{unknown}"') :].split("</tr>", 1)[0]
    assert "not signed in" in row


def test_the_live_transcript_streams_new_lines_and_refuses_bad_requests(
    console: Console,
) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, _ = backend.open_ticket(rasa, "first", "second")
    marta = console.signed_in("op-marta")
    with marta.http.stream("GET", f"/events/tickets/{ticket_id}?seen=1") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        event = next(x for x in lines if x.startswith("event: "))
        data = json.loads(next(lines).removeprefix("data: "))
    assert event == "event: lines"
    assert [x["text"] for x in data["lines"]] == ["handed to a person", "first", "second"]
    assert data["seen"] == 4

    unknown = marta.http.get("/events/tickets/999999")
    assert unknown.status_code == 404
    assert unknown.json()["problem"] == "handoff-ticket-not-found"
    assert marta.http.get(f"/events/tickets/{ticket_id}?seen=abc").status_code == 422
    assert console.browser().http.get(f"/events/tickets/{ticket_id}").status_code == 401
