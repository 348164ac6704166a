"""CPU per turn of each service of the cluster, under the fault tests' load (docs/scaling.md).

    backend/.venv/bin/python scripts/bench_cluster.py [--users 4] [--seconds 40]

Starts the cluster as the cluster tests do (tests/cluster/conftest.py: its own PostgreSQL
and Redis, free ports), warms it up, then runs `--users` buyers opening disputes through
the load balancer (tests/cluster/load.py: seven turns a conversation, each with action calls
and backend reads, one with the write) for `--seconds`. It reads every process's CPU time
(/proc) before and after, and prints, per service, the CPU milliseconds per turn; then the
turns per second, their latency, and turns per second per core of CPU used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cluster.conftest import Engines, RunningCluster, cluster_environment  # noqa: E402
from tests.cluster.load import BuyerLoad  # noqa: E402
from tests.e2e.conftest import process_stats, stack_module  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (process group, CPU ticks used, command name) of every process readable."""
    found = {}
    for pid, stat in process_stats():
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime, stime, and the waited-for children's cutime, cstime (a dead worker's share)
        ticks = sum(int(f) for f in fields[11:15])
        found[pid] = (int(fields[2]), ticks, name)
    return found


def cpu_by_service(cluster: RunningCluster, engines: Engines) -> dict[str, float]:
    """CPU seconds used so far by each service's process group, PostgreSQL and Redis."""
    groups = {}
    for service in cluster.stack.services:
        if service.process is not None:
            groups[service.process.pid] = service.name
    pg_pid = int((engines.postgres.data / "postmaster.pid").read_text().split()[0])
    redis_pid = engines.redis.process.pid if engines.redis.process else -1
    used: dict[str, float] = defaultdict(float)
    table = processes()
    for pid, (group, ticks, _) in table.items():
        if group in groups:
            used[groups[group]] += ticks / TICKS
        elif pid == redis_pid:
            used["redis"] += ticks / TICKS
        elif pid == pg_pid or _parent(pid) == pg_pid:
            used["postgresql"] += ticks / TICKS
    return used


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def kind(service: str) -> str:
    return service.rsplit("-", 1)[0] if service[-1].isdigit() else service


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    engines = Engines()
    engines.postgres.start()
    engines.redis.start()
    env = cluster_environment(Path(tempfile.mkdtemp(prefix="bench-cluster-")), engines)
    stack = stack_module.Stack(env, stack_module.cluster_services(env))
    try:
        stack_module.prepare_cluster(stack)
        stack.start()
        stack_module.wait_for_balancer(env)
        cluster = RunningCluster(env, stack)
        with BuyerLoad(cluster, users=args.users):
            time.sleep(15)  # warm-up: every process has loaded and served
        before, began = cpu_by_service(cluster, engines), time.monotonic()
        with BuyerLoad(cluster, users=args.users) as load:
            time.sleep(args.seconds)
        stats = load.stats
        wall = time.monotonic() - began
        after = cpu_by_service(cluster, engines)
    finally:
        stack.stop()
        engines.redis.stop()
        engines.postgres.remove()
    turns = stats.messages
    per_kind: dict[str, float] = defaultdict(float)
    for name in after:
        per_kind[kind(name)] += after[name] - before.get(name, 0.0)
    total = sum(per_kind.values())
    load_avg = os.getloadavg()[0]
    print(f"{args.users} buyers, {wall:.0f} s, {turns} turns, load average {load_avg:.1f}")
    print(f"{'service':<12} CPU ms/turn")
    for name, seconds in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"{name:<12} {seconds * 1000 / max(turns, 1):8.1f}")
    print(f"{'total':<12} {total * 1000 / max(turns, 1):8.1f}")
    latencies = sorted(stats.latencies)
    print(
        f"turns/s {turns / wall:.1f}; p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms; "
        f"{turns / max(total, 1e-9):.1f} turns/s per core of CPU used"
    )
    return 1 if stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())
