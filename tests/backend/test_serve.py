"""`serve` as `make run` starts it: HTTP worker processes, one scheduler, nothing left behind,
SQLite writers queued across processes, and the bench measuring exactly that command."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispute_backend import bench
from dispute_backend.db import begin_write, make_engine
from dispute_backend.enums import DisputeState
from dispute_backend.models import Dispute

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def _workers(pid: int) -> list[int]:
    return [c for c in _children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _established(pid: int, port: int) -> int:
    """How many TCP connections to `port` the process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


class Served:
    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'serve.db'}"
        self.env = dict(os.environ, DATABASE_URL=self.url, APP_ENV="test")
        self.env["EVIDENCE_DIR"] = str(tmp_path / "evidence")
        self.env["SCHEDULER_INTERVAL_SECONDS"] = "0.2"  # many ticks while a test runs
        for step in (["migrate"], ["seed"]):
            subprocess.run(  # noqa: S603  (our own CLI)
                [sys.executable, "-m", "dispute_backend", *step],
                env=self.env,
                check=True,
                capture_output=True,
            )
        self.engine = make_engine(self.url)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        command = ["serve", "--port", str(self.port), "--workers", "2"]
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "dispute_backend", *command],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health").status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError("serve did not answer /health")

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        output = self.process.communicate(timeout=60)[0].decode()
        self.engine.dispose()
        return output


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path)
    try:
        yield s
    finally:
        if s.process is not None and s.process.poll() is None:
            s.process.kill()
            s.process.wait()


def test_two_workers_and_exactly_one_scheduler_and_nothing_left(served: Served) -> None:
    with Session(served.engine) as s:  # the seed's disputes in negotiation are now overdue
        overdue = list(s.scalars(select(Dispute.id).where(Dispute.state == "negotiation")))
        assert overdue
        past = datetime.now(UTC) - timedelta(hours=1)
        s.execute(update(Dispute).where(Dispute.id.in_(overdue)).values(negotiation_ends_at=past))
        s.commit()
    served.start()
    assert served.process is not None
    deadline = time.monotonic() + 30
    states: set[str] = set()
    while time.monotonic() < deadline and states != {DisputeState.mediation}:
        with Session(served.engine) as s:
            states = set(s.scalars(select(Dispute.state).where(Dispute.id.in_(overdue))))
        time.sleep(0.2)
    assert states == {DisputeState.mediation}, "the scheduler did not run"
    time.sleep(1.0)  # a few more ticks
    children = _children(served.process.pid)
    output = served.stop()

    assert served.process.returncode == 0, output
    assert "Traceback" not in output, output  # a clean stop, nothing failing at exit
    schedulers = re.findall(r"scheduler started in process (\d+)", output)
    workers = set(re.findall(r"Started server process \[(\d+)\]", output))
    assert schedulers == [str(served.process.pid)], output  # once, in the serving process
    assert len(workers) == 2 and str(served.process.pid) not in workers, output
    left = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert not left, f"left behind (even as zombies): {left}"


def test_connections_spread_over_the_workers_and_a_dead_worker_is_replaced(
    served: Served,
) -> None:
    served.start()
    assert served.process is not None
    workers = _workers(served.process.pid)
    assert len(workers) == 2
    # 16 keep-alive connections opened at once, as the bench's clients (or a client's
    # connection pool) do: each worker gets some, none gets all.
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{served.port}") for _ in range(16)]
    try:
        for client in clients:
            assert client.get("/health").status_code == 200
        held = [_established(pid, served.port) for pid in workers]
        assert sum(held) == 16 and min(held) > 0, held
    finally:
        for client in clients:
            client.close()

    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _workers(served.process.pid)
        if len(now) == 2 and workers[0] not in now:
            break
        time.sleep(0.2)
    assert len(now) == 2 and workers[0] not in now, now
    served.wait_healthy()
    output = served.stop()
    assert f"worker {workers[0]} died" in output, output
    assert served.process.returncode == 0, output


def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path) -> None:
    # Only the workers open the database (the scheduler is off): their app cannot be built.
    env = dict(os.environ, APP_ENV="test", DATABASE_URL="nosuchdatabase://x")
    env["SCHEDULER_ENABLED"] = "false"
    result = subprocess.run(
        [sys.executable, "-m", "dispute_backend", "serve", "--port", "0", "--workers", "2"],
        env=env,
        capture_output=True,
        timeout=90,
    )
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 3, output
    assert "failed to start" in output, output


def test_the_workers_end_when_serve_is_killed(served: Served) -> None:
    served.start()
    assert served.process is not None
    workers = _workers(served.process.pid)
    assert len(workers) == 2
    served.process.kill()  # SIGKILL: serve cannot stop anything itself
    served.process.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)
    served.engine.dispose()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sqlite_writers_of_two_processes_queue_on_one_file_lock(tmp_path: Path) -> None:
    # Two engines on one file: each has its own lock file descriptor, as two processes would.
    url = f"sqlite:///{tmp_path / 'w.db'}"
    first, second = make_engine(url), make_engine(url)
    lock_file = tmp_path / "w.db-writer.lock"

    def locked_by_someone() -> bool:
        fd = os.open(lock_file, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's own lock, if it got one
        return False

    began = threading.Event()
    try:
        with Session(first) as a:
            begin_write(a)  # takes the lock until commit
            assert lock_file.exists() and locked_by_someone()

            def second_writer() -> None:
                with Session(second) as b:
                    begin_write(b)
                    began.set()
                    b.commit()

            thread = threading.Thread(target=second_writer)
            thread.start()
            assert not began.wait(0.3), "the second writer did not wait"
            a.commit()
        assert began.wait(5), "the second writer was not let in"
        thread.join(5)
        assert not locked_by_someone()
    finally:
        first.dispose()
        second.dispose()


def test_the_bench_runs_the_backend_as_make_run_does() -> None:
    spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
    assert spec is not None and spec.loader is not None
    stack = importlib.util.module_from_spec(spec)
    sys.modules["stack"] = stack  # dataclasses look their module up while building
    try:
        spec.loader.exec_module(stack)
        service = next(s for s in stack.SERVICES if s.name == "backend")
        command = service.command({"HOST": "127.0.0.1", "BACKEND_PORT": "8123"})
    finally:
        del sys.modules["stack"]
    assert command[1:3] == ["-m", "dispute_backend"]
    assert command[3:] == [*bench.SERVE_ARGS, *bench._where(8123)]


@pytest.mark.parametrize("database", ["", ":memory:"])
def test_no_lock_file_for_a_database_in_memory(database: str) -> None:
    from dispute_backend.db import _lock_path

    assert _lock_path(database) is None
