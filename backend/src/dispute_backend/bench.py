"""`python -m dispute_backend bench`: latency and throughput of eligibility, open and get.

For each database it makes a fresh one (a temp SQLite file, or a uniquely named PostgreSQL
database), migrates and seeds it, starts the service on a free port, drives it with httpx at
1 and 16 concurrent clients (bounded in count and time), then stops it and drops the data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import statistics
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
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .db import make_engine, make_session_factory
from .models import Buyer, Order, ShippingStatus

PG_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
LEVELS = (1, 16)
TIME_LIMIT_S = 60.0
STOREFRONT = "bench-storefront-token-" + "x" * 16
ASSISTANT = "bench-assistant-token-" + "y" * 16


Call = tuple[str, str, dict[str, object] | None, dict[str, str]]


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


def _add_bench_orders(url: str, count: int) -> list[str]:
    engine = make_engine(url)
    now = datetime.now(UTC)
    ids = [f"89{i:014d}" for i in range(count)]
    with make_session_factory(engine)() as session:
        session.add(
            Buyer(id="bench", name="Bench Buyer", email="bench@example.com", created_at=now)
        )
        session.flush()
        for order_id in ids:
            session.add(
                Order(
                    id=order_id,
                    buyer_id="bench",
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
    return ids


async def _drive(
    base: str,
    headers: dict[str, str],
    count: int,
    clients: int,
    make: Callable[[int], Call],
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    next_index = 0
    deadline = time.perf_counter() + TIME_LIMIT_S
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < count and time.perf_counter() < deadline:
                i = next_index
                next_index += 1
                method, path, body, extra = make(i)
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, json=body, headers=extra)
                except httpx.TransportError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return latencies, errors, wall


def _bench_one(kind: str, per_level: int) -> list[Result]:
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
            orders = _add_bench_orders(url, (per_level + 20) * len(LEVELS))
            port = _free_port()
            log = open(f"{workdir}/server.log", "wb")  # noqa: SIM115  (closed below)
            server = subprocess.Popen(  # noqa: S603
                [python, "-m", "dispute_backend", "serve", "--port", str(port), "--no-access-log"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                results = asyncio.run(_measure(kind, f"http://127.0.0.1:{port}", orders, per_level))
            finally:
                server.terminate()
                server.wait(timeout=15)
                log.close()
                if os.environ.get("BENCH_KEEP_LOG"):
                    shutil.copy(f"{workdir}/server.log", os.environ["BENCH_KEEP_LOG"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


async def _measure(kind: str, base: str, orders: list[str], per_level: int) -> list[Result]:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(100):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        response = await client.post(
            "/api/v1/storefront/chat-tokens",
            json={"buyer_id": "bench"},
            headers={"Authorization": f"Bearer {STOREFRONT}"},
        )
        response.raise_for_status()
        token = response.json()["token"]
    headers = {"Authorization": f"Bearer {ASSISTANT}", "X-Buyer-Token": token}
    warm = min(20, per_level)
    unused = iter(orders)
    dispute_ids: list[str] = []

    def health(i: int) -> Call:
        return "GET", "/health", None, {}

    def eligibility(i: int) -> Call:
        return "GET", f"/api/v1/orders/{orders[i % len(orders)]}/eligibility", None, {}

    def open_(i: int) -> Call:
        body: dict[str, object] = {
            "order_id": next(unused),
            "reason": "damaged",
            "requested_outcome": "full_refund",
            "with_return": False,
            "description": "bench",
        }
        return "POST", "/api/v1/disputes", body, {"Idempotency-Key": uuid.uuid4().hex}

    def get(i: int) -> Call:
        return "GET", f"/api/v1/disputes/{dispute_ids[i % len(dispute_ids)]}", None, {}

    results: list[Result] = []
    # "health" (one SELECT 1) is the floor: what the server and client cost with no work.
    operations = (("health", health), ("eligibility", eligibility), ("open", open_), ("get", get))
    for name, make in operations:
        if name == "get":
            async with httpx.AsyncClient(base_url=base, headers=headers) as client:
                listed = await client.get("/api/v1/disputes")
                dispute_ids.extend(d["id"] for d in listed.json())
        for clients in LEVELS:
            print(f"  {name} at {clients} client(s)", flush=True)
            await _drive(base, headers, warm, clients, make)  # warm-up, not counted
            latencies, errors, wall = await _drive(base, headers, per_level, clients, make)
            results.append(
                Result(
                    database=kind,
                    operation=name,
                    clients=clients,
                    count=len(latencies),
                    p50_ms=statistics.median(latencies),
                    p95_ms=statistics.quantiles(latencies, n=20)[18],
                    rps=len(latencies) / wall,
                    errors=errors,
                )
            )
    return results


def run(*, databases: list[str], per_level: int) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    all_results: list[Result] = []
    for kind in databases:
        kind = kind.strip()
        if kind not in ("sqlite", "postgresql"):
            print(f"unknown database {kind!r}", file=sys.stderr)
            return 2
        print(f"benchmarking {kind} ({per_level} requests per operation and level)...")
        all_results.extend(_bench_one(kind, per_level))
    print()
    print("| database | operation | clients | requests | p50 ms | p95 ms | req/s | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in all_results:
        print(
            f"| {r.database} | {r.operation} | {r.clients} | {r.count} | {r.p50_ms:.1f} | "
            f"{r.p95_ms:.1f} | {r.rps:.0f} | {r.errors} |"
        )
    return 1 if any(r.errors for r in all_results) else 0
