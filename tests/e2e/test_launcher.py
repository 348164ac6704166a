"""`make run`'s launcher: busy ports, failing services, and a clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, free_port, process_stats, stack_environment, stack_module


def test_a_busy_port_is_named_with_the_process_using_it(tmp_path: Path) -> None:
    env = stack_environment(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["RASA_PORT"])))
        squatter.listen()
        with pytest.raises(stack_module.StackError) as error:
            stack_module.Stack(env).check_ports()
    message = str(error.value)
    assert f"port {env['RASA_PORT']}" in message
    assert "RASA_PORT" in message
    assert f"pid {os.getpid()}" in message


def test_a_service_that_fails_to_start_is_named_with_its_log_and_the_others_stop(
    tmp_path: Path,
) -> None:
    env = stack_environment(tmp_path)
    Service = stack_module.Service
    sleeper = Service(
        "sleeper",
        "BACKEND_PORT",
        lambda e: [sys.executable, "-c", "import time; time.sleep(600)"],
        lambda e: "http://127.0.0.1:9/never",
    )
    crasher = Service(
        "crasher",
        "ACTION_PORT",
        lambda e: [sys.executable, "-c", "import sys; print('boom: no config'); sys.exit(3)"],
        lambda e: "http://127.0.0.1:9/never",
        startup_seconds=10,
    )
    stack = stack_module.Stack(env, services=(crasher, sleeper))
    with pytest.raises(stack_module.StackError) as error:
        stack.start()
    stack.stop()
    assert "crasher exited during start-up" in str(error.value)
    assert "boom: no config" in str(error.value)
    assert all(s.process is not None and s.process.poll() is not None for s in stack.services)


def _descendants(pid: int) -> set[int]:
    children: set[int] = set()
    for child, stat in process_stats():
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            children.add(child)
            children |= _descendants(child)
    return children


def test_run_starts_everything_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    env = stack_environment(tmp_path)
    launcher = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "stack.py"), "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert launcher.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 240
    children: set[int] = set()
    try:
        for line in launcher.stdout:
            output.append(line)
            if "Press Ctrl-C" in line:
                break
            assert time.monotonic() < deadline, "".join(output)
        assert "The dispute assistant is running" in "".join(output), "".join(output)
        assert f"http://localhost:{env['WEB_PORT']}/" in "".join(output)
        children = _descendants(launcher.pid)
        assert len(children) >= 4
        launcher.send_signal(signal.SIGINT)
        rest, _ = launcher.communicate(timeout=60)
        output.append(rest)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, "".join(output)
    assert "all services stopped" in "".join(output)
    survivors = {pid for pid in children if Path(f"/proc/{pid}").exists()}
    assert not survivors, f"left running: {survivors}"
    for name in ("BACKEND_PORT", "ACTION_PORT", "RASA_PORT", "WEB_PORT"):
        assert stack_module.port_is_free("127.0.0.1", int(env[name])), name
    assert free_port()  # the machine still hands out ports
