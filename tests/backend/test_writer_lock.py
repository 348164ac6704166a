"""SQLite's write lock has a timeout: while another writer holds it, a POST answers 503 with
Retry-After instead of waiting forever, and writes go through again once it is released."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.db import begin_write, make_engine, writer_lock_timeout
from dispute_backend.settings import Settings
from live import serving

TIMEOUT = 0.5
BURST = 12  # more POSTs than the server's 8 worker threads


def _orders(settings: Settings, n: int) -> list[str]:
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        ids = [f.order(s).id for _ in range(n)]
        s.commit()
    engine.dispose()
    return ids


class Holder:
    """A writer that holds the lock: another process's engine (its own lock file descriptor),
    or a session of the app's own engine (another thread of this process)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._session = factory()
        begin_write(self._session)

    def release(self) -> None:
        self._session.rollback()
        self._session.close()


@pytest.fixture(params=["another process", "this process"])
def holder_factory(
    request: pytest.FixtureRequest, sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FastAPI, sessionmaker[Session]]]:
    monkeypatch.setenv("WRITER_LOCK_TIMEOUT_SECONDS", str(TIMEOUT))
    app = create_app(sqlite_settings, clock=FrozenClock(f.NOW))
    if request.param == "this process":
        yield app, app.state.session_factory
        return
    other = make_engine(sqlite_settings.database_url)
    yield app, sessionmaker(other)
    other.dispose()


def _open(base: str, headers: dict[str, str], order_id: str) -> httpx.Response:
    body = {"order_id": order_id, "reason": "damaged", "requested_outcome": "full_refund"}
    return httpx.post(
        f"{base}/api/v1/disputes", json=body, headers=headers | f.key("o"), timeout=TIMEOUT + 5
    )


def _burst(base: str, headers: dict[str, str], orders: list[str]) -> list[httpx.Response | None]:
    results: list[httpx.Response | None] = [None] * len(orders)
    start = threading.Barrier(len(orders))

    def run(i: int) -> None:
        start.wait(10)
        results[i] = _open(base, headers, orders[i])

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(orders))]
    for t in threads:
        t.start()
    for t in threads:  # without a timeout these would wait forever: bounded here
        t.join(BURST * TIMEOUT + 10)
    return results


def test_a_post_answers_503_while_another_writer_holds_the_lock_then_succeeds(
    holder_factory: tuple[FastAPI, sessionmaker[Session]], sqlite_settings: Settings
) -> None:
    app, factory = holder_factory
    headers = f.buyer_headers(sqlite_settings, "alice")
    orders = _orders(sqlite_settings, BURST + 2)
    with serving(app) as base:
        holder = Holder(factory)
        try:
            began = time.monotonic()
            one = _open(base, headers, orders[0])
            took = time.monotonic() - began
            assert httpx.get(f"{base}/health").status_code == 200  # reads never wait
            burst = _burst(base, headers, orders[1:-1])
            burst_took = time.monotonic() - began - took
        finally:
            holder.release()
        after = _open(base, headers, orders[-1])

    assert one.status_code == 503, one.text
    assert one.headers["content-type"] == "application/problem+json"
    assert one.headers["retry-after"] == "1"
    assert one.json()["type"].endswith("/database-busy")
    # It waited for the lock, then gave up (the bound only guards against a hang).
    assert TIMEOUT * 0.9 <= took < TIMEOUT + 10.0, took
    assert all(r is not None for r in burst), "a request hung"
    assert [r.status_code for r in burst if r is not None] == [503] * BURST
    # 12 requests on 8 threads: two rounds of waits at most, never an endless one.
    assert burst_took < 2 * TIMEOUT + 20.0, burst_took
    assert after.status_code == 201, after.text


def test_writer_lock_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITER_LOCK_TIMEOUT_SECONDS", "2.5")
    assert writer_lock_timeout() == 2.5
    monkeypatch.delenv("WRITER_LOCK_TIMEOUT_SECONDS")
    assert writer_lock_timeout() == 1.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv("WRITER_LOCK_TIMEOUT_SECONDS", bad)
        with pytest.raises(ValueError):
            writer_lock_timeout()
