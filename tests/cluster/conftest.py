"""Start the cluster once per test session, as `make run-cluster` starts it, on free ports.

HAProxy in front of two Rasa servers and two action servers, the backend's uvicorn workers
and two schedulers, the web page and the console (scripts/stack.py `cluster_services`), on a
PostgreSQL and a Redis of the session's own (tests/cluster/engines.py), which the fault tests
stop and restart. Fresh secrets, fresh databases, the fake Telegram and Graph APIs of the
end-to-end tests.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cluster.engines import PrivatePostgres, PrivateRedis
from tests.e2e.conftest import (  # noqa: F401  (browser, platforms: pytest fixtures, used by name)
    RunningStack,
    browser,
    free_port,
    fresh_overrides,
    platforms,
    stack_module,
    starting,
)

ROOT = Path(__file__).resolve().parents[2]
PORT_VARS = (
    "RASA_PORT",
    "ACTION_PORT",
    "BACKEND_PORT",
    "WEB_PORT",
    "CONSOLE_PORT",
    "RASA_1_PORT",
    "RASA_2_PORT",
    "ACTION_1_PORT",
    "ACTION_2_PORT",
    "BACKEND_1_PORT",
    "HAPROXY_STATS_PORT",
)


class Engines:
    def __init__(self) -> None:
        self.postgres = PrivatePostgres(free_port())
        self.redis = PrivateRedis(free_port())


class RunningCluster(RunningStack):
    """The cluster, with what the tests need to look inside it and to break it."""

    def replica_url(self, name: str) -> str:
        port_var = {"rasa-1": "RASA_1_PORT", "rasa-2": "RASA_2_PORT"}[name]
        return f"http://{self.env['HOST']}:{self.env[port_var]}"

    def balancer(self, command: str) -> str:
        """One command of HAProxy's runtime API (`disable server rasa/rasa-1`)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(self.env["HAPROXY_ADMIN_SOCKET"])
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, str]:
        """{"rasa/rasa-1": "UP", ...} as the load balancer sees them now."""
        stats = requests.get(
            f"http://{self.env['HOST']}:{self.env['HAPROXY_STATS_PORT']}/stats;csv", timeout=5
        ).text
        states = {}
        for line in stats.splitlines()[1:]:
            cols = line.split(",")
            if len(cols) > 17 and cols[1] not in ("FRONTEND", "BACKEND"):
                states[f"{cols[0]}/{cols[1]}"] = cols[17]
        return states

    def kill(self, name: str) -> None:
        """SIGKILL a service and everything it started: a crash, not a shutdown."""
        process = self.stack.service(name).process
        assert process is not None and process.poll() is None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def restart(self, name: str) -> None:
        self.stack.start_service(name)

    def log(self, name: str) -> str:
        return (Path(self.env["VAR_DIR"]) / "log" / f"{name}.log").read_text(errors="replace")

    def routed(self) -> list[tuple[str, str, str]]:
        """(backend/server, path, conversation routed by) of every request the load
        balancer logged, in order (cluster/haproxy.cfg's log-format)."""
        found = []
        for line in self.log("haproxy").splitlines():
            fields = line.split()
            if len(fields) == 11 and "/" in fields[3]:
                found.append((fields[3], fields[9].strip('"'), fields[10].strip('"')))
        return found

    def served_by(self, conversation: str) -> list[str]:
        """The servers the load balancer sent a conversation's requests to, in order."""
        return [server for server, _, routed_by in self.routed() if routed_by == conversation]

    def open_ticket_of(self, buyer_id: str, channel: str) -> dict[str, Any]:
        tickets = self.operator_api("get", "/handoff/tickets")["tickets"]
        found = [t for t in tickets if t["buyer_id"] == buyer_id and t["channel"] == channel]
        assert len(found) == 1, tickets
        return dict(found[0])

    def add_buyer_with_order(self, buyer_id: str, order_id: str) -> None:
        """A fresh buyer with one delivered order inside its protection period."""
        self.add_buyer(buyer_id)
        self.add_order(order_id, buyer_id)


def turns(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation's turns: a user message, and every event until the next one.

    A message the assistant read again with a meaning it worked out (a rewind, then the
    same message restated: actions/support.py `restated`) is still one turn."""
    found: list[dict[str, Any]] = []
    restating = False
    for event in events:
        if event["event"] == "user" and not restating:
            found.append({"text": event["text"], "start": event["timestamp"], "events": []})
        if event["event"] in ("user", "rewind"):
            restating = event["event"] == "rewind"
        if found:
            found[-1]["events"].append(event)
            found[-1]["end"] = event["timestamp"]
    return found


def cluster_environment(var_dir: Path, engines: Engines) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = stack_module.SECRET_NAMES + stack_module.CLUSTER_SECRET_NAMES
    overrides = fresh_overrides(var_dir, names)
    overrides.update({var: str(free_port()) for var in PORT_VARS})
    overrides.update(
        {
            "POSTGRES_PORT": str(engines.postgres.port),
            "POSTGRES_ADMIN_URL": engines.postgres.admin_url,
            "BACKEND_DB_NAME": f"disputes_{suffix}",
            "RASA_DB_NAME": f"rasa_{suffix}",
            "REDIS_PORT": str(engines.redis.port),
            "REDIS_KEY_PREFIX": f"e2e{suffix}",
            "SCHEDULER_INTERVAL_SECONDS": "5",
            "HAPROXY_ADMIN_SOCKET": str(var_dir / "haproxy.sock"),
        }
    )
    env: dict[str, str] = stack_module.build_cluster_environment(overrides)
    return env


@pytest.fixture(scope="session")
def engines() -> Iterator[Engines]:
    made = Engines()
    made.postgres.start()
    made.redis.start()
    yield made
    made.redis.stop()
    made.postgres.remove()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, engines: Engines) -> Iterator[RunningCluster]:
    env = cluster_environment(tmp_path_factory.mktemp("cluster"), engines)
    stack = stack_module.Stack(env, stack_module.cluster_services(env))
    with starting(stack):
        stack.check_ports()
        stack_module.prepare_cluster(stack)
        stack.start()
        stack_module.wait_for_balancer(env)
    yield RunningCluster(env, stack)
    stack.stop()


def wait_until(check: Any, timeout: float = 20.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true after {timeout} s: {check}")
