"""Two operators claiming the same conversation at once, on committed data and real
sessions (no shared test transaction): exactly one wins, the other gets a 409 problem."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.db import begin_write, make_session_factory
from dispute_backend.enums import TicketState
from dispute_backend.errors import TicketAlreadyClaimed
from dispute_backend.models import HandoffMessage, HandoffTicket, IdempotencyRecord, Operator
from dispute_backend.services import handoff
from dispute_backend.settings import Settings

OPERATORS = ("op-race-1", "op-race-2")
CONVERSATION = "race-conversation"


@pytest.fixture
def waiting_ticket(engine: Engine) -> Iterator[int]:
    with Session(engine) as s:
        for oid in OPERATORS:
            f.operator(s, oid)
        ticket, _ = f.request_handoff(s, CONVERSATION)
        s.commit()
        ticket_id = ticket.id
    try:
        yield ticket_id
    finally:
        with Session(engine) as s:
            ids = select(HandoffTicket.id).where(HandoffTicket.conversation_id == CONVERSATION)
            s.execute(delete(HandoffMessage).where(HandoffMessage.ticket_id.in_(ids)))
            s.execute(delete(HandoffTicket).where(HandoffTicket.conversation_id == CONVERSATION))
            principals = [f"operator:{o}" for o in OPERATORS]
            s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.principal.in_(principals)))
            s.execute(delete(Operator).where(Operator.id.in_(OPERATORS)))
            s.commit()


def test_two_operators_claim_over_http_exactly_one_wins(
    waiting_ticket: int, settings: Settings, engine: Engine
) -> None:
    app = create_app(settings, clock=FrozenClock(f.NOW))
    start = threading.Event()
    results: dict[str, int] = {}

    def claim(operator_id: str) -> None:
        with TestClient(app) as client:
            start.wait(5)
            response = client.post(
                f"/api/v1/operator/handoff/tickets/{waiting_ticket}/claim",
                headers={**f.operator_headers(operator_id), "Idempotency-Key": operator_id},
            )
            results[operator_id] = response.status_code

    threads = [threading.Thread(target=claim, args=(o,)) for o in OPERATORS]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(30)
    assert sorted(results.values()) == [200, 409]
    winner = next(o for o, code in results.items() if code == 200)
    with Session(engine) as s:
        ticket = s.get(HandoffTicket, waiting_ticket)
        assert ticket is not None
        assert ticket.state == TicketState.assigned and ticket.operator_id == winner
        assert ticket.version == 2


def test_two_sessions_claim_at_the_same_moment(waiting_ticket: int, engine: Engine) -> None:
    """The service on two connections, released together by a barrier, repeated: the
    conditional UPDATE lets exactly one through each time."""
    factory = make_session_factory(engine)
    for round_ in range(5):
        barrier = threading.Barrier(2)
        outcome: dict[str, str] = {}

        def claim(operator_id: str, barrier: threading.Barrier, outcome: dict[str, str]) -> None:
            with factory() as s:
                barrier.wait(5)
                begin_write(s)
                op = s.get(Operator, operator_id)
                assert op is not None
                try:
                    handoff.claim(s, ticket_id=waiting_ticket, operator=op, now=f.NOW)
                    s.commit()
                    outcome[operator_id] = "won"
                except TicketAlreadyClaimed:
                    s.rollback()
                    outcome[operator_id] = "lost"

        threads = [threading.Thread(target=claim, args=(o, barrier, outcome)) for o in OPERATORS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcome.values()) == ["lost", "won"], f"round {round_}: {outcome}"
        winner = next(o for o, v in outcome.items() if v == "won")
        with factory() as s:
            begin_write(s)
            op = s.get(Operator, winner)
            assert op is not None
            handoff.release(s, ticket_id=waiting_ticket, operator=op, now=f.NOW)
            s.commit()
