"""The scheduler racing a buyer at a window's edge, on committed data, with real threads: the
scheduler's run (its own engine, as in `serve`'s process) against the buyer's HTTP request
(the app's engine). Negotiation ending -> mediation races a modify or a cancel; protection
ending -> payment released races an open. Exactly one side wins, the dispute's version moves
once, and no payment is released under a dispute opened in the same instant.

Each round, both sides first read (the scheduler finds the item due, the buyer holds the
version), meet at a barrier, then write. The rounds are "free" (both write at once, as the
threads go) or ordered (one side writes after the other has finished), so both outcomes are
always checked, whatever the machine's timing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.db import WRITE
from dispute_backend.enums import (
    DisputeState,
    PaymentStatus,
    ProposalStatus,
)
from dispute_backend.models import Buyer, Dispute, Event, Order, Proposal
from dispute_backend.rules import RuleSettings
from dispute_backend.scheduler import Backoff, run_once
from dispute_backend.services import transitions
from dispute_backend.settings import Settings

RS = RuleSettings()
BUYER, SHOP = "edge-buyer", "edge-shop"
TICK = timedelta(microseconds=1)
OPENED = f.NOW
NEGOTIATION_END = OPENED + timedelta(days=RS.negotiation_days)
RECEIPT = f.NOW - 2 * f.DAY
PROTECTION_END = RECEIPT + timedelta(days=RS.protection_days)
# Rounds of each order, per test and database; the ordered ones always give the same winner.
ROUNDS = {"free": 12, "scheduler first": 4, "buyer first": 4}


@pytest.fixture
def committed(engine: Engine) -> Iterator[None]:
    with Session(engine) as s:
        f.seller(s, SHOP, key="edge-key")
        f.buyer(s, BUYER)
        s.commit()
    with f.purged_after(engine, buyer_id=BUYER, seller_id=SHOP):
        yield


def _buyer_client(settings: Settings, at: datetime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=FrozenClock(at))) as client:
        yield client


@pytest.fixture
def negotiation_client(settings: Settings, committed: None) -> Iterator[TestClient]:
    yield from _buyer_client(settings, NEGOTIATION_END - TICK)  # the last instant of it


@pytest.fixture
def protection_client(settings: Settings, committed: None) -> Iterator[TestClient]:
    yield from _buyer_client(settings, PROTECTION_END)  # the last instant inside it


def _pausing_factory(engine: Engine, pause: Callable[[], None]) -> sessionmaker[Session]:
    """The scheduler's sessions; the first one that starts writing waits for `pause` first,
    so the scheduler has listed what is due (and read its version) before the buyer writes."""
    fired = threading.Event()

    class PausingSession(Session):
        def connection(self, *args: Any, **kw: Any) -> Any:
            if kw.get("execution_options") == WRITE and not fired.is_set():
                fired.set()
                pause()
            return super().connection(*args, **kw)

    return sessionmaker(engine, class_=PausingSession)


@dataclass
class Round:
    applied: transitions.Applied
    response: Response


def _race(engine: Engine, sched_at: datetime, buyer: Callable[[], Response], order: str) -> Round:
    """Run the scheduler and the buyer's request from one barrier, in the given order."""
    met = threading.Barrier(2, timeout=20)
    scheduler_done, buyer_done = threading.Event(), threading.Event()
    out: dict[str, Any] = {}

    def scheduler_pause() -> None:
        met.wait()
        if order == "buyer first":
            assert buyer_done.wait(20)

    def scheduler() -> None:
        factory = _pausing_factory(engine, scheduler_pause)
        try:
            out["applied"] = run_once(factory, FrozenClock(sched_at), RS, Backoff())
        finally:
            scheduler_done.set()

    def request() -> None:
        met.wait()
        if order == "scheduler first":
            assert scheduler_done.wait(20)
        try:
            out["response"] = buyer()
        finally:
            buyer_done.set()

    threads = [threading.Thread(target=t) for t in (scheduler, request)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert "applied" in out and "response" in out, f"a side failed or hung: {out}"
    return Round(out["applied"], out["response"])


def _dispute_in_negotiation(engine: Engine) -> tuple[int, str]:
    with Session(engine) as s:
        buyer = s.get(Buyer, BUYER)
        assert buyer is not None
        order = f.order(s, buyer_id=BUYER, seller_id=SHOP)
        d = f.dispute(s, buyer, order, now=OPENED)
        s.commit()
        return d.id, d.public_id


@dataclass
class DisputeFacts:
    state: DisputeState
    version: int
    pending: list[str]  # the refund amounts of its pending proposals
    kinds: list[str]  # the kinds of its events


def _dispute_facts(engine: Engine, pk: int) -> DisputeFacts:
    with Session(engine) as s:
        d = s.get(Dispute, pk)
        assert d is not None
        pending = s.scalars(
            select(Proposal.refund_amount).where(
                Proposal.dispute_id == pk, Proposal.status == ProposalStatus.pending
            )
        ).all()
        kinds = s.scalars(select(Event.kind).where(Event.dispute_id == pk)).all()
        return DisputeFacts(d.state, d.version, [str(p) for p in pending], list(kinds))


def _one_side_won(order: str, scheduler_won: bool, race: Round, won: int, lost: int) -> None:
    """Exactly one side won: the buyer's request answered `won`, or `lost` if the scheduler
    won; in an ordered round, the side that wrote first."""
    assert scheduler_won != (race.response.status_code == won), race.response.text
    if scheduler_won:
        assert race.response.status_code == lost, race.response.text
    if order != "free":
        assert scheduler_won == (order == "scheduler first")


def _change_round(
    order: str,
    engine: Engine,
    settings: Settings,
    client: TestClient,
    change: str,
    body: dict[str, object] | None = None,
) -> tuple[int, bool, Round, DisputeFacts]:
    """The buyer changes a fresh dispute (POST `change` with `body`, holding version 1) at the
    last instant of its negotiation, racing the scheduler's escalation; the version moves
    once, whoever wins. The dispute's id, whether the scheduler won, the round, and the
    dispute after it."""
    pk, public_id = _dispute_in_negotiation(engine)
    headers = f.buyer_headers(settings, BUYER, now=NEGOTIATION_END - TICK)

    def request() -> Response:
        return client.post(
            f"/api/v1/disputes/{public_id}/{change}",
            json=body,
            headers=headers | f.key(change) | {"If-Match": '"1"'},
        )

    race = _race(engine, NEGOTIATION_END, request, order)
    facts = _dispute_facts(engine, pk)
    scheduler_won = race.applied.mediations == 1
    _one_side_won(order, scheduler_won, race, won=200, lost=412)
    assert facts.version == 2
    return pk, scheduler_won, race, facts


def _modify_round(order: str, engine: Engine, settings: Settings, client: TestClient) -> None:
    body = {"refund_amount": "10.00", "with_return": False}
    pk, scheduler_won, race, facts = _change_round(
        order, engine, settings, client, "proposal", body
    )
    if scheduler_won:
        assert race.response.json()["type"].endswith("/version-conflict")
        assert (facts.state, facts.pending) == (DisputeState.mediation, ["40.00"])
        assert "proposal.modified" not in facts.kinds
    else:
        assert (facts.state, facts.pending) == (DisputeState.negotiation, ["10.00"])
        assert "dispute.mediation_started" not in facts.kinds
        # Deferred, not lost: the next run escalates the modified dispute.
        assert run_once(sessionmaker(engine), FrozenClock(NEGOTIATION_END), RS).mediations == 1
        after = _dispute_facts(engine, pk)
        assert (after.state, after.version) == (DisputeState.mediation, 3)


def _cancel_round(order: str, engine: Engine, settings: Settings, client: TestClient) -> None:
    _, scheduler_won, _, facts = _change_round(order, engine, settings, client, "cancel")
    if scheduler_won:
        assert facts.state is DisputeState.mediation and "dispute.ended" not in facts.kinds
    else:
        assert facts.state is DisputeState.ended
        assert "dispute.mediation_started" not in facts.kinds
        assert run_once(sessionmaker(engine), FrozenClock(NEGOTIATION_END), RS).total == 0


@pytest.mark.parametrize("order", ROUNDS)
@pytest.mark.parametrize("change_round", [_modify_round, _cancel_round], ids=["modify", "cancel"])
def test_mediation_races_a_change(
    change_round: Callable[[str, Engine, Settings, TestClient], None],
    order: str,
    engine: Engine,
    settings: Settings,
    negotiation_client: TestClient,
) -> None:
    for _ in range(ROUNDS[order]):
        change_round(order, engine, settings, negotiation_client)


@pytest.mark.parametrize("order", ROUNDS)
def test_payment_release_races_an_open(
    order: str, engine: Engine, settings: Settings, protection_client: TestClient
) -> None:
    for _ in range(ROUNDS[order]):
        _open_round(order, engine, settings, protection_client)


def _open_round(order: str, engine: Engine, settings: Settings, client: TestClient) -> None:
    with Session(engine) as s:
        order_id = f.order(s, buyer_id=BUYER, seller_id=SHOP, receipt_at=RECEIPT).id
        s.commit()
    headers = f.buyer_headers(settings, BUYER, now=PROTECTION_END)

    def open_() -> Response:
        body = {"order_id": order_id, "reason": "damaged", "requested_outcome": "full_refund"}
        return client.post("/api/v1/disputes", json=body, headers=headers | f.key("o"))

    race = _race(engine, PROTECTION_END + TICK, open_, order)
    with Session(engine) as s:
        payment = s.scalar(select(Order.payment_status).where(Order.id == order_id))
        opened = s.scalar(select(func.count(Dispute.id)).where(Dispute.order_id == order_id))

    scheduler_won = race.applied.releases == 1
    _one_side_won(order, scheduler_won, race, won=201, lost=422)
    assert not (payment is PaymentStatus.released and opened), "released under a dispute"
    if scheduler_won:
        assert race.response.json()["type"].endswith("/protection-expired")
        assert (payment, opened) == (PaymentStatus.released, 0)
    else:
        assert (payment, opened) == (PaymentStatus.held, 1)
        assert race.response.json()["version"] == 1
