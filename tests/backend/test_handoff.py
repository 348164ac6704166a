"""The handoff queue: positions, wait estimates, transitions, the transcript and who may call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import factories as f
from dispute_backend import errors
from dispute_backend.clock import FrozenClock
from dispute_backend.enums import TicketState
from dispute_backend.services import handoff
from dispute_backend.settings import Settings

QS = handoff.QueueSettings(minutes_per_conversation=6, presence_seconds=60)
TICKETS = "/api/v1/handoff/tickets"
QUEUE = "/api/v1/operator/handoff/tickets"


def assistant() -> dict[str, str]:
    return {"Authorization": f"Bearer {f.ASSISTANT_TOKEN}"}


def open_(client: TestClient, conversation: str, **extra: object) -> dict[str, object]:
    body = {"conversation_id": conversation, "channel": "rest", "reason": "user_request", **extra}
    response = client.post(TICKETS, json=body, headers={**assistant(), **f.key("open")})
    assert response.status_code in (200, 201), response.text
    data: dict[str, object] = response.json()
    return data


def with_password(session: Session, operator_id: str, password: str) -> None:
    op = f.operator(session, operator_id)
    op.password_hash = handoff.hash_password(password)
    session.flush()


# --- pure figures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "online", "minutes"),
    [(1, 0, 6), (1, 1, 6), (3, 1, 18), (3, 2, 9), (1, 4, 2), (5, 3, 10), (None, 2, 0)],
)
def test_wait_is_position_times_minutes_over_operators_online(
    position: int | None, online: int, minutes: int
) -> None:
    assert handoff.estimated_wait_minutes(position, online, QS) == minutes


# --- services ------------------------------------------------------------------------------


def test_positions_follow_creation_order_and_skip_assigned(
    session: Session, clock: FrozenClock
) -> None:
    op = f.operator(session, "op-pos")
    tickets = []
    for i in range(3):
        t, created = f.request_handoff(session, f"pos-{i}", now=clock.now() + timedelta(seconds=i))
        assert created
        tickets.append(t)
    assert [handoff.position(session, ticket=t) for t in tickets] == [1, 2, 3]
    handoff.claim(session, ticket_id=tickets[0].id, operator=op, now=clock.now())
    tickets = [handoff.get(session, ticket_id=t.id) for t in tickets]
    assert [handoff.position(session, ticket=t) for t in tickets] == [None, 1, 2]
    # Released, it takes its original place again (position is by creation time).
    handoff.release(session, ticket_id=tickets[0].id, operator=op, now=clock.now())
    assert handoff.position(session, ticket=handoff.get(session, ticket_id=tickets[0].id)) == 1


def test_one_open_ticket_per_conversation(session: Session, clock: FrozenClock) -> None:
    first, created = f.request_handoff(
        session, "same", channel="socketio", reason="refund_problem", now=clock.now()
    )
    again, created_again = f.request_handoff(
        session, "same", channel="socketio", reason="user_request", now=clock.now()
    )
    assert created and not created_again and again.id == first.id
    assert again.reason == "refund_problem"


def test_transitions_and_who_may_make_them(session: Session, clock: FrozenClock) -> None:
    marta, jordi = f.operator(session, "op-m"), f.operator(session, "op-j")
    t, _ = f.request_handoff(session, "flow", now=clock.now())
    with pytest.raises(errors.TransitionNotAllowed):
        handoff.release(session, ticket_id=t.id, operator=marta, now=clock.now())
    handoff.claim(session, ticket_id=t.id, operator=marta, now=clock.now())
    # Claiming one's own ticket again is harmless; another operator loses.
    assert (
        handoff.claim(session, ticket_id=t.id, operator=marta, now=clock.now()).state == "assigned"
    )
    with pytest.raises(errors.TicketAlreadyClaimed):
        handoff.claim(session, ticket_id=t.id, operator=jordi, now=clock.now())
    with pytest.raises(errors.TicketNotYours):
        handoff.operator_message(
            session, ticket_id=t.id, operator=jordi, body="hi", now=clock.now()
        )
    handoff.operator_message(session, ticket_id=t.id, operator=marta, body="Hello", now=clock.now())
    moved = handoff.transfer(session, ticket_id=t.id, operator=marta, to=jordi, now=clock.now())
    assert moved.operator_id == "op-j" and moved.state == TicketState.assigned
    with pytest.raises(errors.TicketNotYours):
        handoff.close(session, ticket_id=t.id, operator=marta, now=clock.now())
    closed = handoff.close(session, ticket_id=t.id, operator=jordi, now=clock.now())
    assert closed.state == TicketState.closed and closed.closed_at == clock.now()
    assert closed.version == 4  # 1, then claim, transfer, close; the re-claim bumped nothing
    with pytest.raises(errors.TransitionNotAllowed):
        handoff.claim(session, ticket_id=t.id, operator=marta, now=clock.now())
    parties = [(m.party.value, m.body) for m in handoff.transcript(session, ticket_id=t.id)]
    assert parties[0] == ("system", "Handoff requested: user_request")
    assert ("operator", "Hello") in parties
    assert parties[-1][0] == "system" and "closed" in parties[-1][1]
    # A closed conversation may ask again: a new ticket.
    new, created = f.request_handoff(session, "flow", now=clock.now())
    assert created and new.id != t.id


def test_presence_counts_recent_heartbeats(session: Session, clock: FrozenClock) -> None:
    a, b = f.operator(session, "op-a1"), f.operator(session, "op-b1")
    base = handoff.operators_online(session, now=clock.now(), qs=QS)
    handoff.set_presence(session, operator=a, online=True, now=clock.now())
    handoff.set_presence(session, operator=b, online=True, now=clock.now() - timedelta(seconds=61))
    session.flush()
    assert handoff.operators_online(session, now=clock.now(), qs=QS) == base + 1
    handoff.set_presence(session, operator=a, online=False, now=clock.now())
    session.flush()
    assert handoff.operators_online(session, now=clock.now(), qs=QS) == base


def test_passwords_are_argon2_and_checked(session: Session) -> None:
    with_password(session, "op-pw", "right-password")
    stored = session.get(f.Operator, "op-pw")
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert handoff.verify_password(session, operator_id="op-pw", password="right-password")
    for operator_id, password in (("op-pw", "wrong"), ("nobody", "right-password")):
        with pytest.raises(errors.InvalidCredentials):
            handoff.verify_password(session, operator_id=operator_id, password=password)


# --- the API -------------------------------------------------------------------------------


def test_assistant_opens_a_ticket_and_reads_it_back(
    client: TestClient, session: Session, settings: Settings
) -> None:
    f.buyer(session, "hbuyer")
    f.operator(session, "op-ana")
    token = f.buyer_headers(settings, "hbuyer", session, conversation="conv-1")["X-Buyer-Token"]
    body = {"conversation_id": "conv-1", "channel": "socketio", "reason": "refund_problem"}
    headers = {
        **assistant(),
        "X-Buyer-Token": token,
        "X-Conversation-Id": "conv-1",
        "Idempotency-Key": "k1",
    }
    first = client.post(TICKETS, json=body, headers=headers)
    assert first.status_code == 201, first.text
    data = first.json()
    assert data["state"] == "waiting" and data["created"] is True
    assert data["position"] >= 1
    assert data["operators_online"] == 0 and data["expected_when"] == "within 24 hours"
    # A retry replays; a second request (new key) gets the same ticket, not a new one.
    assert client.post(TICKETS, json=body, headers=headers).json()["ticket_id"] == data["ticket_id"]
    again = client.post(TICKETS, json=body, headers={**headers, "Idempotency-Key": "k2"})
    assert again.status_code == 200 and again.json()["created"] is False
    active = client.get("/api/v1/handoff/conversations/conv-1/ticket", headers=assistant())
    assert active.status_code == 200 and active.json()["ticket_id"] == data["ticket_id"]
    missing = client.get("/api/v1/handoff/conversations/nobody/ticket", headers=assistant())
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/handoff-ticket-not-found")
    # The console sees the buyer, their orders and disputes, and the reason.
    detail = client.get(f"{QUEUE}/{data['ticket_id']}", headers=f.operator_headers()).json()
    assert detail["buyer"]["id"] == "hbuyer" and detail["reason"] == "refund_problem"
    assert detail["channel"] == "socketio" and detail["orders"] == [] and detail["disputes"] == []


def test_an_expired_chat_token_still_gets_a_person(
    client: TestClient, session: Session, settings: Settings
) -> None:
    f.buyer(session, "late")
    old = f.buyer_headers(settings, "late", session, now=f.NOW - timedelta(days=3))["X-Buyer-Token"]
    response = client.post(
        TICKETS,
        json={"conversation_id": "conv-late"},
        headers={**assistant(), "X-Buyer-Token": old, "Idempotency-Key": "late"},
    )
    assert response.status_code == 201
    assert response.json()["state"] == "waiting"


def test_wait_estimate_uses_operators_online(
    client: TestClient, session: Session, clock: FrozenClock
) -> None:
    with_password(session, "op-ana", "pw-ana-123")
    login = client.post(
        "/api/v1/operator/verify-password",
        json={"operator_id": "op-ana", "password": "pw-ana-123"},
        headers={"Authorization": f"Bearer {f.CONSOLE_TOKEN}"},
    )
    assert login.status_code == 200 and login.json()["online"] is True
    queue = client.get(QUEUE, headers=f.operator_headers()).json()
    before = sum(1 for t in queue["tickets"] if t["state"] == "waiting")
    data = open_(client, "conv-wait")
    assert data["position"] == before + 1
    assert data["operators_online"] >= 1 and data["expected_when"] is None
    assert data["estimated_wait_minutes"] == handoff.estimated_wait_minutes(
        before + 1, data["operators_online"], QS
    )
    # After logout (presence off) and no heartbeat, no one is online.
    client.post("/api/v1/operator/presence", json={"online": False}, headers=f.operator_headers())
    clock.advance(timedelta(minutes=5))
    later = client.get("/api/v1/handoff/conversations/conv-wait/ticket", headers=assistant())
    assert later.json()["expected_when"] == "within 24 hours"


def test_console_works_a_ticket_over_http(client: TestClient, session: Session) -> None:
    f.operator(session, "op-ana")
    f.operator(session, "op-bo")
    ticket = open_(client, "conv-http")["ticket_id"]
    ana, bo = f.operator_headers("op-ana"), f.operator_headers("op-bo")
    claimed = client.post(f"{QUEUE}/{ticket}/claim", headers={**ana, **f.key("c")})
    assert claimed.status_code == 200 and claimed.json()["operator_id"] == "op-ana"
    lost = client.post(f"{QUEUE}/{ticket}/claim", headers={**bo, **f.key("c")})
    assert lost.status_code == 409
    assert lost.headers["content-type"].startswith("application/problem+json")
    assert lost.json()["type"].endswith("/ticket-already-claimed")
    reply = client.post(
        f"{QUEUE}/{ticket}/messages", json={"body": "Hi, I'm Ana"}, headers={**ana, **f.key("m")}
    )
    assert reply.status_code == 201 and reply.json()["party"] == "operator"
    users = [{"body": "my refund", "at": f.NOW.isoformat()}]
    for _ in range(2):  # sent twice (two keys), stored once
        stored = client.post(
            f"{QUEUE}/{ticket}/user-messages",
            json={"messages": users},
            headers={**ana, **f.key("u")},
        )
        assert stored.status_code == 200
    released = client.post(f"{QUEUE}/{ticket}/release", headers={**ana, **f.key("r")})
    assert released.json()["state"] == "waiting" and released.json()["operator_id"] is None
    client.post(f"{QUEUE}/{ticket}/claim", headers={**bo, **f.key("c")})
    moved = client.post(
        f"{QUEUE}/{ticket}/transfer", json={"operator_id": "op-ana"}, headers={**bo, **f.key("t")}
    )
    assert moved.json()["operator_id"] == "op-ana"
    closed = client.post(f"{QUEUE}/{ticket}/close", headers={**ana, **f.key("x")})
    assert closed.json()["state"] == "closed"
    detail = client.get(f"{QUEUE}/{ticket}", headers=ana).json()
    parties = [m["party"] for m in detail["transcript"]]
    assert parties.count("user") == 1 and parties.count("operator") == 1
    gone = client.get("/api/v1/handoff/conversations/conv-http/ticket", headers=assistant())
    assert gone.status_code == 404


def withdraw(client: TestClient, conversation: str) -> object:
    path = f"/api/v1/handoff/conversations/{conversation}/ticket/withdraw"
    return client.post(path, headers=assistant())


def test_a_buyer_withdraws_a_waiting_request_and_leaves_the_queue(
    client: TestClient, session: Session
) -> None:
    f.operator(session, "op-ana")
    first = open_(client, "conv-early")["ticket_id"]
    mine = open_(client, "conv-mine")["ticket_id"]
    later = open_(client, "conv-later")
    assert later["position"] == 3
    answer = withdraw(client, "conv-mine")
    assert answer.status_code == 200, answer.text
    assert answer.json()["ticket_id"] == mine and answer.json()["state"] == "closed"
    # Out of the queue: the one behind moves up; the ticket says why it closed.
    queue = client.get(QUEUE, headers=f.operator_headers()).json()["tickets"]
    assert [t["id"] for t in queue] == [first, later["ticket_id"]]
    detail = client.get(f"{QUEUE}/{mine}", headers=f.operator_headers()).json()
    assert detail["state"] == "closed" and detail["outcome"] == "withdrawn"
    assert "withdrew" in detail["transcript"][-1]["body"]
    again = client.get("/api/v1/handoff/conversations/conv-later/ticket", headers=assistant())
    assert again.json()["position"] == 2
    # Nothing left to withdraw: 404, and the conversation can ask for a person again.
    twice = withdraw(client, "conv-mine")
    assert twice.status_code == 404
    assert twice.json()["type"].endswith("/handoff-ticket-not-found")
    assert open_(client, "conv-mine")["created"] is True


def test_a_claimed_request_is_the_operators_to_close_not_withdrawn(
    client: TestClient, session: Session
) -> None:
    f.operator(session, "op-ana")
    ana = f.operator_headers("op-ana")
    ticket = open_(client, "conv-claimed")["ticket_id"]
    client.post(f"{QUEUE}/{ticket}/claim", headers={**ana, **f.key("c")})
    refused = withdraw(client, "conv-claimed")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/ticket-already-claimed")
    assert client.get(f"{QUEUE}/{ticket}", headers=ana).json()["state"] == "assigned"
    closed = client.post(f"{QUEUE}/{ticket}/close", headers={**ana, **f.key("x")})
    assert closed.json()["outcome"] == "handled"
    # Only the assistant may withdraw: not a buyer, not the console.
    path = "/api/v1/handoff/conversations/conv-claimed/ticket/withdraw"
    assert client.post(path).status_code == 401
    assert client.post(path, headers=f.operator_headers()).status_code in (401, 403)


def test_only_the_holder_stores_the_buyers_messages_and_a_retry_stores_nothing_more(
    client: TestClient, session: Session
) -> None:
    f.operator(session, "op-ana")
    f.operator(session, "op-bo")
    ana, bo = f.operator_headers("op-ana"), f.operator_headers("op-bo")
    ticket = open_(client, "conv-users")["ticket_id"]
    path = f"{QUEUE}/{ticket}/user-messages"
    said = {"messages": [{"body": "is anyone there?", "at": f.NOW.isoformat()}]}
    # While it waits anyone may close it, so anyone may store what the buyer said.
    assert client.post(path, json={"messages": []}, headers={**bo, **f.key("w")}).status_code == 200
    client.post(f"{QUEUE}/{ticket}/claim", headers={**ana, **f.key("c")})

    other = client.post(path, json=said, headers={**bo, **f.key("b")})
    assert other.status_code == 409
    assert other.json()["type"].endswith("/ticket-not-assigned-to-you")
    missing = client.post(path, json=said, headers=ana)
    assert missing.status_code == 400
    assert missing.json()["type"].endswith("/idempotency-key-missing")

    key = f.key("a")
    first = client.post(path, json=said, headers={**ana, **key})
    retry = client.post(path, json=said, headers={**ana, **key})
    assert first.status_code == retry.status_code == 200
    assert retry.headers.get("idempotent-replayed") == "true" and retry.json() == first.json()
    assert [m["body"] for m in first.json()] == ["is anyone there?"]
    reused = client.post(path, json={"messages": []}, headers={**ana, **key})
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("/idempotency-key-reused")

    client.post(f"{QUEUE}/{ticket}/close", headers={**ana, **f.key("x")})
    late = client.post(path, json=said, headers={**ana, **f.key("l")})
    assert late.status_code == 409 and late.json()["type"].endswith("/transition-not-allowed")
    detail = client.get(f"{QUEUE}/{ticket}", headers=ana).json()
    assert [m["body"] for m in detail["transcript"] if m["party"] == "user"] == ["is anyone there?"]


def test_who_may_call(client: TestClient, session: Session) -> None:
    with_password(session, "op-ana", "pw-ana-123")
    body = {"conversation_id": "conv-auth"}
    assert client.post(TICKETS, json=body, headers=f.key("a")).status_code == 401
    console_as_assistant = {"Authorization": f"Bearer {f.CONSOLE_TOKEN}", **f.key("a")}
    assert client.post(TICKETS, json=body, headers=console_as_assistant).status_code == 401
    assert client.post(TICKETS, json=body, headers=assistant()).status_code == 400  # no key
    assert client.get(QUEUE, headers=assistant()).status_code == 401
    assert client.get(QUEUE, headers=f.operator_headers("op-ghost")).status_code == 401
    wrong = client.post(
        "/api/v1/operator/verify-password",
        json={"operator_id": "op-ana", "password": "nope"},
        headers={"Authorization": f"Bearer {f.CONSOLE_TOKEN}"},
    )
    assert wrong.status_code == 401 and wrong.json()["type"].endswith("/invalid-credentials")
    as_assistant = client.post(
        "/api/v1/operator/verify-password",
        json={"operator_id": "op-ana", "password": "pw-ana-123"},
        headers=assistant(),
    )
    assert as_assistant.status_code == 401
