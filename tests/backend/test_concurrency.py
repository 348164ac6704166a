"""Two clients changing the same dispute at once, against committed data and the real
session handling (no shared test transaction): one wins, the other gets a clear conflict."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.models import Dispute, Evidence, Proposal
from dispute_backend.settings import Settings

BUYER, SHOP = "race-buyer", "race-shop"


@pytest.fixture
def committed(engine: Engine) -> Iterator[str]:
    with Session(engine) as s:
        f.seller(s, SHOP, key="race-key")
        f.buyer(s, BUYER)
        order_id = f.order(s, buyer_id=BUYER, seller_id=SHOP).id
        s.commit()
    with f.purged_after(engine, buyer_id=BUYER, seller_id=SHOP):
        yield order_id


def headers_of(settings: Settings, engine: Engine) -> dict[str, str]:
    with Session(engine) as s:
        return f.buyer_headers(settings, BUYER, s)


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
    headers = headers_of(settings, engine)
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
    headers = headers_of(settings, engine) | {"Idempotency-Key": "same-key"}
    body = {"order_id": committed, "reason": "damaged", "requested_outcome": "full_refund"}
    results = race([("/api/v1/disputes", body, headers)] * 2, settings)
    assert [r.status_code for r in results] == [201, 201]  # type: ignore[attr-defined]
    assert results[0].json() == results[1].json()  # type: ignore[attr-defined]
    with Session(engine) as s:
        assert s.scalar(select(func.count(Dispute.id)).where(Dispute.buyer_id == BUYER)) == 1


def test_different_keys_racing_to_open_on_one_order(
    committed: str, settings: Settings, engine: Engine
) -> None:
    headers = headers_of(settings, engine)
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


PNG = b"\x89PNG\r\n\x1a\n"


def test_two_uploads_racing_for_the_last_evidence_slot(
    committed: str, settings: Settings, engine: Engine
) -> None:
    """At 19 files of 20, two uploads at once: one is stored, the other refused, with no
    row and no file of its own left behind."""
    app = create_app(settings, clock=FrozenClock(f.NOW))
    headers = headers_of(settings, engine)
    for round_ in range(4):
        with Session(engine) as s:
            order_id = f.order(s, buyer_id=BUYER, seller_id=SHOP).id
            s.commit()
        with TestClient(app) as c:
            body = {"order_id": order_id, "reason": "damaged", "requested_outcome": "full_refund"}
            did = c.post("/api/v1/disputes", json=body, headers=headers | f.key("o")).json()["id"]
            for i in range(19):
                png = PNG + bytes([round_, i])
                files = {"file": (f"{i}.png", png, "image/png")}
                r = c.post(
                    f"/api/v1/disputes/{did}/evidence", files=files, headers=headers | f.key("e")
                )
                assert r.status_code == 201, r.text
        before = _files(settings, did)
        results = _upload_race(
            app, did, headers, [PNG + bytes([round_, 100 + n]) for n in range(2)]
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [201, 409], [r.text for r in results]
        loser = next(r for r in results if r.status_code == 409)
        assert loser.json()["type"].endswith("/evidence-limit-reached")
        with Session(engine) as s:
            pk = int(did[2:]) - 10000
            assert s.scalar(select(func.count(Evidence.id)).where(Evidence.dispute_id == pk)) == 20
        after = _files(settings, did)
        assert len(after) == 20 and before < after, "a refused upload left its file"
        assert not [p for p in (settings.evidence_dir / ".staging").glob("*")], "left staged"


def _files(settings: Settings, did: str) -> set[str]:
    return {p.name for p in (settings.evidence_dir / did).glob("*")}


def _upload_race(
    app: FastAPI, did: str, headers: dict[str, str], contents: list[bytes]
) -> list[Response]:
    start = threading.Barrier(len(contents), timeout=10)
    results: list[Response | None] = [None] * len(contents)

    def run(i: int) -> None:
        with TestClient(app) as client:
            files = {"file": (f"race-{i}.png", contents[i], "image/png")}
            start.wait()
            results[i] = client.post(
                f"/api/v1/disputes/{did}/evidence", files=files, headers=headers | f.key("r")
            )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contents))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None for r in results), "an upload hung"
    return [r for r in results if r is not None]
