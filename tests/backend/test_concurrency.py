"""Two clients changing the same dispute at once, against committed data and the real
session handling (no shared test transaction): one wins, the other gets a clear conflict."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.models import (
    Buyer,
    Dispute,
    Event,
    IdempotencyRecord,
    Order,
    Proposal,
    Seller,
)
from dispute_backend.settings import Settings

BUYER, SHOP = "race-buyer", "race-shop"


@pytest.fixture
def committed(engine: Engine) -> Iterator[str]:
    with Session(engine) as s:
        f.seller(s, SHOP, key="race-key")
        f.buyer(s, BUYER)
        order = f.order(s, buyer_id=BUYER, seller_id=SHOP)
        s.commit()
        order_id = order.id
    try:
        yield order_id
    finally:
        with Session(engine) as s:
            ids = select(Dispute.id).where(Dispute.buyer_id == BUYER)
            s.execute(delete(Event).where(Event.buyer_id == BUYER))
            s.execute(delete(Proposal).where(Proposal.dispute_id.in_(ids)))
            s.execute(delete(Dispute).where(Dispute.buyer_id == BUYER))
            s.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.principal == f"buyer:{BUYER}")
            )
            s.execute(delete(Order).where(Order.buyer_id == BUYER))
            s.execute(delete(Buyer).where(Buyer.id == BUYER))
            s.execute(delete(Seller).where(Seller.id == SHOP))
            s.commit()


def race(
    calls: list[tuple[str, dict[str, object], dict[str, str]]], settings: Settings
) -> list[object]:
    app = create_app(settings, clock=FrozenClock(f.NOW))
    start = threading.Event()
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        path, body, headers = calls[i]
        with TestClient(app) as client:
            start.wait(5)
            results[i] = client.post(path, json=body, headers=headers)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(30)
    return results


def test_two_clients_modify_the_same_version(
    committed: str, settings: Settings, engine: Engine
) -> None:
    headers = f.buyer_headers(settings, BUYER)
    with TestClient(create_app(settings, clock=FrozenClock(f.NOW))) as c:
        body = {"order_id": committed, "reason": "damaged", "requested_outcome": "full_refund"}
        did = c.post("/api/v1/disputes", json=body, headers=headers | f.key("o")).json()["id"]
    path = f"/api/v1/disputes/{did}/proposal"
    calls = [
        (
            path,
            {"refund_amount": amount, "with_return": False},
            headers | f.key("p") | {"If-Match": '"1"'},
        )
        for amount in ("10.00", "20.00")
    ]
    results = race(calls, settings)
    statuses = sorted(r.status_code for r in results)  # type: ignore[attr-defined]
    assert statuses == [200, 412], [r.text for r in results]  # type: ignore[attr-defined]
    loser = next(r for r in results if r.status_code == 412)  # type: ignore[attr-defined]
    assert loser.json()["type"].endswith("/version-conflict")  # type: ignore[attr-defined]
    winner = next(r for r in results if r.status_code == 200).json()  # type: ignore[attr-defined]
    with Session(engine) as s:
        pending = s.scalars(
            select(Proposal.refund_amount).where(
                Proposal.status == "pending", Proposal.dispute_id == int(did[2:]) - 10000
            )
        ).all()
        assert [str(p) for p in pending] == [winner["proposals"]["buyer"]["refund_amount"]]


def test_same_open_sent_twice_at_once_creates_one_dispute(
    committed: str, settings: Settings, engine: Engine
) -> None:
    headers = f.buyer_headers(settings, BUYER) | {"Idempotency-Key": "same-key"}
    body = {"order_id": committed, "reason": "damaged", "requested_outcome": "full_refund"}
    results = race([("/api/v1/disputes", body, headers)] * 2, settings)
    assert [r.status_code for r in results] == [201, 201]  # type: ignore[attr-defined]
    assert results[0].json() == results[1].json()  # type: ignore[attr-defined]
    with Session(engine) as s:
        assert s.scalar(select(func.count(Dispute.id)).where(Dispute.buyer_id == BUYER)) == 1


def test_different_keys_racing_to_open_on_one_order(
    committed: str, settings: Settings, engine: Engine
) -> None:
    headers = f.buyer_headers(settings, BUYER)
    body = {"order_id": committed, "reason": "damaged", "requested_outcome": "full_refund"}
    results = race(
        [
            ("/api/v1/disputes", body, headers | f.key("a")),
            ("/api/v1/disputes", body, headers | f.key("b")),
        ],
        settings,
    )
    assert sorted(r.status_code for r in results) == [201, 409]  # type: ignore[attr-defined]
    with Session(engine) as s:
        assert s.scalar(select(func.count(Dispute.id)).where(Dispute.buyer_id == BUYER)) == 1
