"""`serve` as `make run` starts it: HTTP worker processes, one scheduler, nothing left behind,
SQLite writers queued across processes, and the bench measuring exactly that command."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispute_backend import bench
from dispute_backend.db import begin_write, make_engine
from dispute_backend.models import Dispute, DisputeState

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def test_two_workers_and_exactly_one_scheduler(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    env = dict(os.environ, DATABASE_URL=url, APP_ENV="test", EVIDENCE_DIR=str(tmp_path / "ev"))
    env["SCHEDULER_INTERVAL_SECONDS"] = "0.2"  # many ticks while the test runs
    for step in (["migrate"], ["seed"]):
        subprocess.run(  # noqa: S603  (our own CLI)
            [sys.executable, "-m", "dispute_backend", *step],
            env=env,
            check=True,
            capture_output=True,
        )
    engine = make_engine(url)
    with Session(engine) as s:  # the seed's disputes in negotiation are now overdue
        overdue = list(s.scalars(select(Dispute.id).where(Dispute.state == "negotiation")))
        assert overdue
        past = datetime.now(UTC) - timedelta(hours=1)
        s.execute(update(Dispute).where(Dispute.id.in_(overdue)).values(negotiation_ends_at=past))
        s.commit()

    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "dispute_backend", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        states: set[str] = set()
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    with Session(engine) as s:
                        rows = s.scalars(select(Dispute.state).where(Dispute.id.in_(overdue)))
                        states = set(rows)
                    if states == {DisputeState.mediation}:
                        break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert states == {DisputeState.mediation}, "the scheduler did not run"
        time.sleep(1.0)  # a few more ticks
        children = _children(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
        engine.dispose()
    assert server.returncode == 0, output
    assert len(children) >= 2
    left = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert not left, f"left behind (even as zombies): {left}"

    schedulers = re.findall(r"scheduler started in process (\d+)", output)
    workers = re.findall(r"Started server process \[(\d+)\]", output)
    assert schedulers == [str(server.pid)], output  # once, in the serving process
    assert len(set(workers)) == 2 and str(server.pid) not in workers, output


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
