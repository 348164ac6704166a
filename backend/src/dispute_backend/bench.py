"""`python -m dispute_backend bench`: latency and throughput of eligibility, open and get.

For each database it makes a fresh one (a temp SQLite file, or a uniquely named PostgreSQL
database), migrates and seeds it, and starts the service in its own process(es) with the
command line `make run` uses (`SERVE_ARGS`). This process then drives it with the raw-socket
closed-loop client of `loadgen` at 1 and 16 concurrent clients (bounded in count and time),
and finally stops the service and drops the data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from . import loadgen
from .db import make_engine, make_session_factory
from .enums import ShippingStatus
from .models import Buyer, Dispute, Order, public_dispute_id

PG_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
LEVELS = (1, 16)
OPERATIONS = ("health", "eligibility", "open", "get")
TIME_LIMIT_S = 60.0
WARM_UP = 200  # per operation and level, not counted: every worker process warms its caches
# The orders belong to this many buyers, each with a realistic few dozen, taken in turn: one
# buyer with thousands of orders would make the per-buyer queries (R9's counts) unrealistic.
BUYERS = 50
STOREFRONT = "bench-storefront-token-" + "x" * 16
ASSISTANT = "bench-assistant-token-" + "y" * 16
# What scripts/stack.py runs for `make run`, minus host and port: measure the real thing.
SERVE_ARGS = ("serve",)


@dataclass
class Result:
    database: str
    operation: str
    clients: int
    count: int
    p50_ms: float
    p95_ms: float
    rps: float
    errors: int
    client_us: float  # the load generator's own CPU time per request


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _database(kind: str, workdir: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/bench.db"
        return
    name = f"dispute_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _add_bench_orders(url: str, count: int) -> list[tuple[str, str]]:
    """`count` deliverable orders spread over BUYERS buyers: (buyer id, order id) pairs, in an
    order that takes each buyer in turn."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    pairs = [(f"bench-{i % BUYERS:02d}", f"89{i:014d}") for i in range(count)]
    with make_session_factory(engine)() as session:
        for b in range(BUYERS):
            buyer_id = f"bench-{b:02d}"
            session.add(
                Buyer(
                    id=buyer_id, name="Bench Buyer", email=f"{buyer_id}@example.com", created_at=now
                )
            )
        session.flush()
        for buyer_id, order_id in pairs:
            session.add(
                Order(
                    id=order_id,
                    buyer_id=buyer_id,
                    seller_id="techhub",
                    title="Bench item",
                    amount=Decimal("25.00"),
                    currency="EUR",
                    placed_at=now - timedelta(days=5),
                    tracking_number="LPBENCH",
                    tracking_added_at=now - timedelta(days=4),
                    shipping_deadline=now + timedelta(days=20),
                    receipt_confirmed_at=now - timedelta(days=1),
                    shipping_status=ShippingStatus.delivered,
                    refunded_amount=Decimal("0"),
                )
            )
        session.commit()
    engine.dispose()
    return pairs


def _bench_disputes(url: str) -> list[tuple[str, str]]:
    """(buyer id, public dispute id) of the disputes the bench opened."""
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        stmt = select(Dispute.buyer_id, Dispute.id).where(Dispute.buyer_id.like("bench-%"))
        rows = [(buyer_id, public_dispute_id(pk)) for buyer_id, pk in session.execute(stmt)]
    engine.dispose()
    return rows


def _where(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"the service exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the service did not become healthy in 30 s")


def _bench_one(
    kind: str, per_level: int, operations: tuple[str, ...], levels: tuple[int, ...]
) -> list[Result]:
    workdir = tempfile.mkdtemp(prefix="dispute-bench-")
    results: list[Result] = []
    try:
        with _database(kind, workdir) as url:
            env = dict(os.environ)
            env.update(
                DATABASE_URL=url,
                APP_ENV="development",
                EVIDENCE_DIR=f"{workdir}/evidence",
                STOREFRONT_SERVICE_TOKEN=STOREFRONT,
                ASSISTANT_SERVICE_TOKEN=ASSISTANT,
                CHAT_TOKEN_SECRET=secrets.token_hex(32),
                SCHEDULER_INTERVAL_SECONDS="3600",
            )
            python = sys.executable
            for step in (["migrate"], ["seed"]):
                subprocess.run(  # noqa: S603  (our own CLI, fixed arguments)
                    [python, "-m", "dispute_backend", *step],
                    env=env,
                    check=True,
                    capture_output=True,
                )
            orders = _add_bench_orders(url, (per_level + WARM_UP) * len(levels))
            port = _free_port()
            log_path = os.environ.get("BENCH_SERVER_LOG", os.devnull)
            with open(log_path, "ab") as log:
                server = subprocess.Popen(  # noqa: S603
                    [python, "-m", "dispute_backend", *SERVE_ARGS, *_where(port)],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
                try:
                    _wait_healthy(f"http://127.0.0.1:{port}", server)
                    results = _measure(kind, url, port, orders, per_level, operations, levels)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def _drive(port: int, calls: list[loadgen.Call], clients: int) -> tuple[loadgen.Run, float]:
    """One measurement on a fresh event loop (uvloop when installed, as the server uses)."""
    try:
        import uvloop

        runner: Callable[..., loadgen.Run] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a backend dependency
        runner = asyncio.run
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    run = runner(loadgen.drive("127.0.0.1", port, calls, clients, time_limit_s=TIME_LIMIT_S))
    after = resource.getrusage(resource.RUSAGE_SELF)
    spent = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return run, spent * 1e6 / max(1, run.answered + run.errors)


def _measure(
    kind: str,
    url: str,
    port: int,
    orders: list[tuple[str, str]],
    per_level: int,
    operations: tuple[str, ...],
    levels: tuple[int, ...],
) -> list[Result]:
    auth = _buyer_headers(port, orders)
    disputes: list[tuple[str, str]] = []  # filled just before "get" runs
    makers = _makers(f"127.0.0.1:{port}", orders, auth, disputes)
    results: list[Result] = []
    for name in operations:
        if name == "get":
            disputes[:] = _bench_disputes(url)
            if not disputes:
                raise RuntimeError("get needs disputes: run open before it")
        make = makers[name]
        for clients in levels:
            print(f"  {name} at {clients} client(s)", flush=True)
            warm = [make(i) for i in range(WARM_UP)]
            calls = [make(i) for i in range(per_level)]  # encoded before the clock starts
            _drive(port, warm, clients)
            run, client_us = _drive(port, calls, clients)
            if run.first_error:
                print(f"    {run.errors} error(s), the first: {run.first_error}", flush=True)
            results.append(_result(kind, name, clients, run, client_us))
    return results


def _makers(
    host: str,
    orders: list[tuple[str, str]],
    auth: dict[str, dict[str, str]],
    disputes: list[tuple[str, str]],
) -> dict[str, Callable[[int], loadgen.Call]]:
    """The request of each operation, by its number in the run."""
    unused = iter(orders)

    def health(i: int) -> loadgen.Call:
        return loadgen.encode("GET", "/health", host=host)

    def eligibility(i: int) -> loadgen.Call:
        buyer_id, order_id = orders[i % len(orders)]
        path = f"/api/v1/orders/{order_id}/eligibility"
        return loadgen.encode("GET", path, host=host, headers=auth[buyer_id])

    def open_(i: int) -> loadgen.Call:
        buyer_id, order_id = next(unused)
        body = {
            "order_id": order_id,
            "reason": "damaged",
            "requested_outcome": "full_refund",
            "with_return": False,
            "description": "bench",
        }
        headers = {**auth[buyer_id], "Idempotency-Key": uuid.uuid4().hex}
        return loadgen.encode(
            "POST", "/api/v1/disputes", host=host, headers=headers, body=body, expect=201
        )

    def get(i: int) -> loadgen.Call:
        buyer_id, dispute_id = disputes[i % len(disputes)]
        path = f"/api/v1/disputes/{dispute_id}"
        return loadgen.encode("GET", path, host=host, headers=auth[buyer_id])

    return {
        # "health" (one SELECT 1) is the floor: what the server and client cost with no work.
        "health": health,
        "eligibility": eligibility,
        "open": open_,
        "get": get,
    }


def _buyer_headers(port: int, orders: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """Each buyer's headers, with a chat token of their own."""
    auth: dict[str, dict[str, str]] = {}
    for buyer_id in sorted({buyer_id for buyer_id, _ in orders}):
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/storefront/chat-tokens",
            json={"buyer_id": buyer_id},
            headers={"Authorization": f"Bearer {STOREFRONT}"},
        )
        response.raise_for_status()
        token = response.json()["token"]
        # A chat token counts only in its own conversation (the first one it is shown in).
        auth[buyer_id] = {
            "Authorization": f"Bearer {ASSISTANT}",
            "X-Buyer-Token": token,
            "X-Conversation-Id": f"bench-chat-{buyer_id}",
        }
    return auth


def _result(kind: str, name: str, clients: int, run: loadgen.Run, client_us: float) -> Result:
    return Result(
        database=kind,
        operation=name,
        clients=clients,
        count=run.answered,
        p50_ms=loadgen.percentile(run.latencies_ms, 50) if run.answered else 0.0,
        p95_ms=loadgen.percentile(run.latencies_ms, 95) if run.answered else 0.0,
        rps=run.rps,
        errors=run.errors,
        client_us=client_us,
    )


def run(
    *,
    databases: list[str],
    per_level: int,
    operations: tuple[str, ...] = OPERATIONS,
    levels: tuple[int, ...] = LEVELS,
) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    unknown = [op for op in operations if op not in OPERATIONS]
    if unknown:
        print(f"unknown operation(s) {unknown}", file=sys.stderr)
        return 2
    all_results: list[Result] = []
    for kind in databases:
        kind = kind.strip()
        if kind not in ("sqlite", "postgresql"):
            print(f"unknown database {kind!r}", file=sys.stderr)
            return 2
        print(f"benchmarking {kind} ({per_level} requests per operation and level)...")
        all_results.extend(_bench_one(kind, per_level, operations, levels))
    print()
    print("| database | operation | clients | requests | p50 ms | p95 ms | req/s | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in all_results:
        print(
            f"| {r.database} | {r.operation} | {r.clients} | {r.count} | {r.p50_ms:.1f} | "
            f"{r.p95_ms:.1f} | {r.rps:.0f} | {r.errors} |"
        )
    worst = max((r.client_us for r in all_results), default=0.0)
    print(f"\nthe load generator's own CPU: at most {worst:.0f} µs per request")
    return 1 if any(r.errors for r in all_results) else 0
