"""Load-test the whole assistant through the REST channel, against a bare bot.

Starts the stack (as `make run` does, on free ports, with a fresh database),
drives N simultaneous conversations of mixed dispute flows, checks every
answer, and prints p50/p95 response time and messages per second for each N.
Then does the same with a bare `rasa init` bot on this machine, as the
reference. Also prints the stack's memory at rest.

    backend/.venv/bin/python scripts/bench_bot.py [--levels 1,10,50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
assert spec and spec.loader
stack = importlib.util.module_from_spec(spec)
sys.modules["stack"] = stack
spec.loader.exec_module(stack)

# (message, text expected in the reply); {token} flows need a buyer.
Flow = list[tuple[str, str]]
FLOWS: dict[str, tuple[str | None, Flow]] = {
    "faq": (
        "alice",
        [
            ("hi", "dispute assistant"),
            ("how long do I have to open a dispute?", "15 days"),
            ("is there a limit on disputes?", "no limit"),
            ("thanks!", "welcome"),
        ],
    ),
    "status": (
        "carla",
        [("how are my disputes going?", "Dispute in progress"), ("thank you", "welcome")],
    ),
    "customs": (
        "bruno",
        [("my parcel is stuck in customs", "Which order"), ("8200000000000021", "customs")],
    ),
    "open_dispute": (
        "alice",
        [
            ("I want to open a dispute", "Which order"),
            ("8100000000000011", "covered by buyer protection"),
            ("it arrived broken", "full refund or a partial refund"),
            ("full refund", "send the item back"),
            ("no", "describe the problem"),
            ("the left earbud does not charge at all", "Shall I open it"),
            ("no", "haven't opened anything"),
        ],
    ),
}
BARE_FLOW: Flow = [
    ("hello", ""),
    ("I am sad", ""),
    ("yes", ""),
    ("bye", ""),
]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def converse(
    client: httpx.AsyncClient, url: str, flow: Flow, token: str | None, result: Result
) -> None:
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    metadata = {"chat_token": token} if token else {}
    for text, expected in flow:
        began = time.perf_counter()
        try:
            response = await client.post(
                url, json={"sender": sender, "message": text, "metadata": metadata}
            )
            answer = " ".join(m.get("text", "") for m in response.json())
        except (httpx.HTTPError, ValueError) as error:
            result.errors.append(f"{text!r}: {error}")
            return
        result.latencies.append(time.perf_counter() - began)
        if response.status_code != 200 or not answer or expected not in answer:
            result.errors.append(f"{text!r} -> {answer[:80]!r} (expected {expected!r})")
            return


async def drive(
    url: str,
    clients: int,
    seconds: float,
    pick: Callable[[int], tuple[Flow, str | None]],
) -> Result:
    result = Result()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker(index: int) -> None:
            round_ = 0
            while time.perf_counter() < deadline and len(result.errors) < 20:
                flow, token = pick(index + round_)
                await converse(client, url, flow, token, result)
                round_ += 1

        result.started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        result.ended = time.perf_counter()
    return result


def summary(name: str, clients: int, result: Result) -> str:
    values = sorted(result.latencies)
    if not values:
        return f"{name:<14} {clients:>4}  no answers; errors: {result.errors[:3]}"
    p50 = statistics.median(values) * 1000
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))] * 1000
    rate = len(values) / (result.ended - result.started)
    errors = f"  ERRORS {len(result.errors)}: {result.errors[0]}" if result.errors else ""
    return f"{name:<14} {clients:>4} {len(values):>8} {p50:>9.0f} {p95:>9.0f} {rate:>10.1f}{errors}"


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and all their descendants."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(proc.name))
    total, todo = 0, list(pids)
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def token_for(env: dict[str, str], buyer: str) -> str:
    response = httpx.post(
        f"{env['BACKEND_URL']}/api/v1/storefront/chat-tokens",
        json={"buyer_id": buyer},
        headers={"Authorization": f"Bearer {env['STOREFRONT_SERVICE_TOKEN']}"},
    )
    response.raise_for_status()
    return str(response.json()["token"])


def bench_assistant(levels: list[int], seconds: float) -> list[str]:
    var_dir = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    overrides = {name: secrets.token_urlsafe(24) for name in stack.SECRET_NAMES}
    overrides.update({"APP_ENV": "test", "VAR_DIR": str(var_dir)})
    for name in ("BACKEND_PORT", "ACTION_PORT", "RASA_PORT", "WEB_PORT", "CONSOLE_PORT"):
        overrides[name] = str(free_port())
    overrides["DATABASE_URL"] = f"sqlite:///{var_dir / 'backend.db'}"
    overrides["RASA_TRACKER_DB"] = str(var_dir / "rasa" / "tracker.db")
    env = stack.build_environment(overrides)
    running = stack.Stack(env)
    lines = []
    try:
        running.prepare_backend()
        running.start()
        print(f"assistant: Rasa on port {env['RASA_PORT']}", flush=True)
        time.sleep(3)  # let start-up settle before measuring memory at rest
        pids = [s.process.pid for s in running.services if s.process]
        lines.append(f"memory of the whole stack at rest: {rss_mb(pids):.0f} MB")
        tokens = {buyer: token_for(env, buyer) for buyer in ("alice", "bruno", "carla")}
        flows = [(flow, tokens[buyer] if buyer else None) for buyer, flow in FLOWS.values()]
        url = f"{env['RASA_URL']}/webhooks/rest/webhook"
        asyncio.run(drive(url, 2, 5, lambda i: flows[i % len(flows)]))  # warm-up
        for clients in levels:
            result = asyncio.run(drive(url, clients, seconds, lambda i: flows[i % len(flows)]))
            lines.append(summary("assistant", clients, result))
        lines.append(f"memory of the whole stack after the load: {rss_mb(pids):.0f} MB")
    finally:
        running.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    return lines


def bench_bare_bot(levels: list[int], seconds: float) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    rasa = str(ROOT / ".venv" / "bin" / "rasa")
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    lines = []
    process = None
    try:
        print("bare bot: rasa init and training (about two minutes)...", flush=True)
        subprocess.run(
            [rasa, "init", "--no-prompt", "--init-dir", str(folder)],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        log = (folder / "rasa.log").open("wb")
        process = subprocess.Popen(
            [rasa, "run", "--port", str(port), "--interface", "127.0.0.1"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while not stack.http_ok(f"http://127.0.0.1:{port}/"):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the bare bot did not start")
            time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        asyncio.run(drive(url, 2, 5, lambda i: (BARE_FLOW, None)))
        for clients in levels:
            result = asyncio.run(drive(url, clients, seconds, lambda i: (BARE_FLOW, None)))
            lines.append(summary("bare rasa init", clients, result))
    finally:
        if process is not None:
            os.killpg(process.pid, 15)
            process.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skip-bare", action="store_true")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    header = f"{'bot':<14} {'N':>4} {'messages':>8} {'p50 ms':>9} {'p95 ms':>9} {'msgs/s':>10}"
    lines = bench_assistant(levels, args.seconds)
    if not args.skip_bare:
        lines += bench_bare_bot(levels, args.seconds)
    print("\n" + header)
    print("\n".join(lines))
    return 1 if any("ERRORS" in line or "no answers" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
