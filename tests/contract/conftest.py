"""Every contract case runs twice: against the in-memory fake and against the real backend.

The real one is the backend app itself (backend/.venv, Python 3.11) on a fresh SQLite file
with a frozen clock, served on a free loopback port by backend_server.py for the whole
session; each case makes buyers of its own there and sets the clock back to NOW.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.contract.worlds import FakeWorld, HttpWorld, World

ROOT = Path(__file__).resolve().parents[2]
BACKEND_PYTHON = ROOT / "backend" / ".venv" / "bin" / "python"
START_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def backend_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not BACKEND_PYTHON.exists():
        pytest.fail("backend/.venv is missing: run `make setup`", pytrace=False)
    directory = tmp_path_factory.mktemp("contract-backend")
    log = (directory / "server.log").open("w")
    server = subprocess.Popen(
        [str(BACKEND_PYTHON), str(Path(__file__).with_name("backend_server.py")), str(directory)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=ROOT,
    )
    try:
        yield wait_until_serving(server, directory)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()


def wait_until_serving(server: subprocess.Popen[str], directory: Path) -> str:
    """The server's URL once its health check answers; the server's log if it never does."""
    assert server.stdout is not None
    line = server.stdout.readline()  # "PORT <n>", printed once the socket is bound
    if not line.startswith("PORT "):
        server.wait(10)
        log = (directory / "server.log").read_text()
        pytest.fail(f"the contract backend did not start:\n{log}", pytrace=False)
    url = f"http://127.0.0.1:{int(line.split()[1])}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=2).ok:
                return url
        except requests.ConnectionError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"no health check:\n{(directory / 'server.log').read_text()}", pytrace=False)


@pytest.fixture(params=["fake", "http"])
def world(request: pytest.FixtureRequest) -> World:
    if request.param == "fake":
        return FakeWorld()
    return HttpWorld(request.getfixturevalue("backend_url"))
