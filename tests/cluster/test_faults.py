"""Faults under load. Buyers open disputes through the load balancer (tests/cluster/load.py)
while one piece is killed or restarted. Every message gets its answer, or an error the
client may retry and whose retry is then answered; each conversation goes on from where it
was (the script's answers depend on the turns before); no retry does anything twice (one
dispute and one `dispute.opened` per conversation, each message once in the tracker); and
the piece comes back into service by itself.

The numbers of each run go to var/results/cluster-faults.json (docs/scaling.md)."""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.cluster.conftest import Engines, RunningCluster, turns, wait_until
from tests.cluster.load import SCRIPT, BuyerLoad, Stats, retrying

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "var" / "results" / "cluster-faults.json"
WARM_UP = 4.0  # seconds of load before the fault
AFTER = 6.0  # seconds of load after the piece is back (or was replaced)


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, Any]]:
    found: dict[str, Any] = {}
    yield found
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(found, indent=2) + "\n")


def summary(stats: Stats, **facts: Any) -> dict[str, Any]:
    latencies = sorted(stats.latencies) or [0.0]
    return {
        "conversations": len(stats.conversations),
        "messages": stats.messages,
        "messages_retried": stats.retried,
        "failed_attempts": stats.attempts_failed,
        "longest_retry_s": round(stats.longest_retry, 2),
        "p50_ms": round(statistics.median(latencies) * 1000),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000),
        **facts,
    }


def check_nothing_lost_or_doubled(cluster: RunningCluster, stats: Stats) -> None:
    assert not stats.errors, stats.errors[:5]
    assert len(stats.conversations) >= 2, "the load did not get through"
    from dispute_backend.db import make_engine
    from dispute_backend.models import Dispute, Event

    engine = make_engine(cluster.env["DATABASE_URL"])
    try:
        with engine.connect() as db:
            for _, order, sender in stats.conversations:
                disputes = db.scalar(select(func.count()).where(Dispute.order_id == order))
                opened = db.scalar(
                    select(func.count()).where(
                        Event.order_id == order, Event.kind == "dispute.opened"
                    )
                )
                assert (disputes, opened) == (1, 1), f"order {order}: {disputes}, {opened}"
                said = turns(cluster.tracker_events(sender))
                assert len(said) == len(SCRIPT), f"{sender}: {len(said)} user messages"
    finally:
        engine.dispose()


def seconds_until(cluster: RunningCluster, server: str, state: str, since: float) -> float:
    wait_until(lambda: cluster.server_states().get(server, "").startswith(state), 60, 0.1)
    return round(time.monotonic() - since, 2)


def backend_workers(cluster: RunningCluster) -> set[int]:
    """The uvicorn worker processes of the backend node (its supervisor's children)."""
    process = cluster.stack.service("backend-1").process
    assert process is not None
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if (
            parent == process.pid
            and b"spawn_main" in cmdline
            and b"resource_tracker" not in cmdline
        ):
            children.add(int(entry.name))
    return children


def test_a_backend_worker_killed_under_load(
    cluster: RunningCluster, results: dict[str, Any]
) -> None:
    workers = wait_until(
        lambda: (
            backend_workers(cluster)
            if len(backend_workers(cluster)) == int(cluster.env["BACKEND_WORKERS"])
            else None
        )
    )
    victim = sorted(workers)[0]
    with BuyerLoad(cluster) as load:
        time.sleep(WARM_UP)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: len(backend_workers(cluster) - {victim}) == len(workers), 30, 0.1)
        replaced = round(time.monotonic() - killed, 2)
        time.sleep(AFTER)
    check_nothing_lost_or_doubled(cluster, load.stats)
    results["backend worker killed"] = summary(load.stats, worker_replaced_after_s=replaced)


def test_an_action_server_killed_under_load(
    cluster: RunningCluster, results: dict[str, Any]
) -> None:
    with BuyerLoad(cluster) as load:
        time.sleep(WARM_UP)
        cluster.kill("actions-1")
        killed = time.monotonic()
        down = seconds_until(cluster, "actions/actions-1", "DOWN", killed)
        time.sleep(AFTER)
        cluster.restart("actions-1")
        restarted = time.monotonic()
        up = seconds_until(cluster, "actions/actions-1", "UP", restarted)
        time.sleep(2)
    check_nothing_lost_or_doubled(cluster, load.stats)
    results["action server killed"] = summary(
        load.stats, marked_down_after_s=down, back_in_service_after_restart_s=up
    )


def test_redis_restarted_under_load(
    cluster: RunningCluster, engines: Engines, results: dict[str, Any]
) -> None:
    with BuyerLoad(cluster) as load:
        time.sleep(WARM_UP)
        engines.redis.stop()
        time.sleep(3)
        engines.redis.start()
        time.sleep(AFTER)
    check_nothing_lost_or_doubled(cluster, load.stats)
    results["redis restarted (3 s down)"] = summary(load.stats)


def test_postgresql_restarted_under_load(
    cluster: RunningCluster, engines: Engines, results: dict[str, Any]
) -> None:
    # The backend's database is down too: a turn that reaches the backend in that moment
    # is answered with the bot's apology ("I can't reach our dispute system...").
    with BuyerLoad(cluster, backend_may_fail=True) as load:
        time.sleep(WARM_UP)
        committed = list(load.stats.conversations)
        engines.postgres.stop()
        time.sleep(3)
        engines.postgres.start()
        time.sleep(AFTER)
    check_nothing_lost_or_doubled(cluster, load.stats)
    assert set(committed) <= set(load.stats.conversations)  # checked again, after the restart
    assert load.stats.apologies <= 3  # one per buyer at most: those caught at that moment
    for name in ("scheduler-1", "scheduler-2", "backend-1", "rasa-1", "rasa-2"):
        assert cluster.stack.service(name).process.poll() is None, f"{name} died"  # type: ignore[union-attr]
    results["postgresql restarted (3 s down)"] = summary(
        load.stats, conversations_told_backend_unreachable=load.stats.apologies
    )


def test_a_rasa_server_killed_under_load_and_its_conversations_go_on(
    cluster: RunningCluster, results: dict[str, Any]
) -> None:
    witness, order = on_server(cluster, "rasa/rasa-1")
    with BuyerLoad(cluster) as load:
        time.sleep(WARM_UP)
        cluster.kill("rasa-1")
        killed = time.monotonic()
        down = seconds_until(cluster, "rasa/rasa-1", "DOWN", killed)
        time.sleep(1.0)  # the answers in flight at the kill are logged by now
        seen_down = len(cluster.routed())
        # The witness was in the middle of the form on rasa-1: it goes on on rasa-2.
        for text, expected in SCRIPT[3:]:
            assert expected in witness.say(text.format(order=order))
        time.sleep(AFTER)
    stats = load.stats
    check_nothing_lost_or_doubled(cluster, stats)
    served = cluster.served_by(witness.sender)
    assert served[:3] == ["rasa/rasa-1"] * 3 and set(served[3:]) == {"rasa/rasa-2"}, served
    late = [s for s, _, _ in cluster.routed()[seen_down:] if s.endswith("/rasa-1")]
    assert not late, "the balancer still sent requests to the dead server"
    cluster.restart("rasa-1")
    up = seconds_until(cluster, "rasa/rasa-1", "UP", time.monotonic())
    results["rasa server killed"] = summary(
        stats, marked_down_after_s=down, back_in_service_after_restart_s=up
    )


class Witness:
    """One conversation, driven by the test itself, with the load's retrying client."""

    def __init__(self, cluster: RunningCluster, sender: str, token: str) -> None:
        self.sender, self.token = sender, token
        self._load = BuyerLoad(cluster, users=0)

    def say(self, text: str) -> str:
        return self._load.say(self.sender, text, self.token)


def on_server(cluster: RunningCluster, server: str) -> tuple[Witness, str]:
    """A conversation that the balancer sends to `server`, three turns into the form."""
    for _ in range(40):
        buyer, order = f"wit{uuid.uuid4().hex[:10]}", f"86{uuid.uuid4().int % 10**14:014d}"
        sender = f"witness-{uuid.uuid4().hex[:10]}"
        retrying(lambda b=buyer, o=order: cluster.add_buyer_with_order(b, o))
        witness = Witness(cluster, sender, cluster.chat_token(buyer))
        assert SCRIPT[0][1] in witness.say(SCRIPT[0][0])
        if wait_until(lambda s=sender: cluster.served_by(s)) != [server]:
            continue
        for text, expected in SCRIPT[1:3]:
            assert expected in witness.say(text.format(order=order))
        return witness, order
    raise AssertionError(f"no conversation went to {server}")
