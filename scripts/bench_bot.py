"""Load-test the whole assistant through the REST channel, against a bare bot.

Starts the stack (as `make run` does, on free ports, with a fresh database),
drives N simultaneous conversations of mixed dispute flows, checks every
answer, and prints p50/p95 response time and messages per second for each N.
Then does the same with a bare `rasa init` bot on this machine, as the
reference. Also prints the stack's memory at rest.

Two workloads, each run on both bots:
- short: the mixed flows below, 2 to 7 messages each;
- long: 30-message conversations that open a dispute and, with the dispute form
  waiting for an answer, ask one question after another before finishing it
  (the bare bot: its own four messages, over and over).
And the cost of one turn as the conversation grows: one long conversation at a
time, the CPU each service spent on the same seven questions (the form open)
asked at messages 4-10 and at messages 54-60.

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
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
assert spec and spec.loader
stack = importlib.util.module_from_spec(spec)
sys.modules["stack"] = stack
spec.loader.exec_module(stack)

# (message, text expected in the reply); flows with a buyer need their chat token.
Flow = list[tuple[str, str]]
# A new conversation's chat token (None: no buyer). A token serves one conversation only.
Signer = Callable[[], "str | None"]
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

# Questions a buyer asks while the dispute form waits for "full or partial refund":
# each is answered, and the form asks its question again.
DIGRESSIONS = [
    "how long do I have to open a dispute?",
    "is there a limit on disputes?",
    "how do disputes work?",
    "how do I contact the seller?",
    "are you a bot?",
    "what happens if I cancel a dispute?",
    "what happens when a dispute ends?",
]
ASKED_AGAIN = "a full refund or a partial refund"


def long_flow(messages: int) -> Flow:
    """Open a dispute, digress until `messages` are reached, then finish (not opened)."""
    opening, closing = FLOWS["open_dispute"][1][:3], FLOWS["open_dispute"][1][3:]
    middle = messages - len(opening) - len(closing)
    digressions = [(DIGRESSIONS[i % len(DIGRESSIONS)], ASKED_AGAIN) for i in range(middle)]
    return [*opening, *digressions, *closing]


def bare_long_flow(messages: int) -> Flow:
    return [BARE_FLOW[i % len(BARE_FLOW)] for i in range(messages)]


LONG_MESSAGES = 30
# The turns whose cost is compared: the same seven questions (one of each), asked with the
# form open, around message 5 and up to message 60; the dispute is finished after both.
EARLY_TURNS, LATE_TURNS, TURN_COST_MESSAGES = range(4, 11), range(54, 61), 64


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
    client: httpx.AsyncClient,
    url: str,
    flow: Flow,
    token: Signer,
    result: Result,
    before: Callable[[int], None] = lambda _number: None,
) -> None:
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    chat_token = token()
    metadata = {"chat_token": chat_token} if chat_token else {}
    for number, (text, expected) in enumerate(flow, 1):
        before(number)
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
    pick: Callable[[int], tuple[Flow, Signer]],
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
    values = result.latencies
    if not values:
        return f"{name:<16} {clients:>4}  no answers; errors: {result.errors[:3]}"
    p50 = statistics.median(values) * 1000
    p95 = percentile(values, 0.95) * 1000
    rate = len(values) / (result.ended - result.started)
    errors = f"  ERRORS {len(result.errors)}: {result.errors[0]}" if result.errors else ""
    return f"{name:<16} {clients:>4} {len(values):>8} {p50:>9.0f} {p95:>9.0f} {rate:>10.1f}{errors}"


def with_descendants(pids: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(proc.name))
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and all their descendants."""
    total = 0
    for pid in with_descendants(pids):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_ms(pids: list[int]) -> float:
    """CPU time these processes and their descendants have used, every thread, in ms
    (the scheduler's nanosecond count, not the 10 ms ticks of /proc/<pid>/stat)."""
    total = 0
    for pid in with_descendants(pids):
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e6


def turn_cost(
    name: str, url: str, services: dict[str, int], flow: Flow, token: Signer, rounds: int = 3
) -> list[str]:
    """CPU per turn around message 5 and around message 60, one conversation at a time,
    for each service (by its process id) and all of them."""
    spent: dict[tuple[str, int], float] = {}
    result = Result()

    def cpu_now() -> dict[str, float]:
        return {service: cpu_ms([pid]) for service, pid in services.items()}

    async def one_conversation() -> None:
        last: dict[str, Any] = {"cpu": cpu_now(), "number": 0}

        def before(number: int) -> None:
            now = cpu_now()
            if last["number"]:
                for service, used in now.items():
                    key = (service, last["number"])
                    spent[key] = spent.get(key, 0.0) + used - last["cpu"][service]
            last.update(cpu=now, number=number)

        async with httpx.AsyncClient(timeout=30) as client:
            await converse(client, url, flow, token, result, before)
        time.sleep(0.3)  # let the last turn's work finish before reading its cost
        before(0)

    for _ in range(rounds):
        asyncio.run(one_conversation())
    if result.errors:
        return [f"{name}: turn cost ERRORS {len(result.errors)}: {result.errors[0]}"]

    def per_turn(service: str | None, turns: range) -> float:
        chosen = [s for s in services if service in (None, s)]
        return sum(spent[s, n] for s in chosen for n in turns) / len(turns) / rounds

    lines = []
    for service in [*services, None]:
        early, late = per_turn(service, EARLY_TURNS), per_turn(service, LATE_TURNS)
        lines.append(
            f"{name} CPU per turn, {service or 'all services'}:"
            f" messages {EARLY_TURNS.start}-{EARLY_TURNS.stop - 1} {early:.1f} ms,"
            f" messages {LATE_TURNS.start}-{LATE_TURNS.stop - 1} {late:.1f} ms"
            f" ({late / early:.2f}x)"
        )
    return lines


class Tokens:
    """Chat tokens for the demo buyers, minted ahead so that minting is not measured."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.ready: dict[str, list[str]] = {}

    def mint(self, buyer: str) -> str:
        response = httpx.post(
            f"{self.env['BACKEND_URL']}/api/v1/storefront/chat-tokens",
            json={"buyer_id": buyer},
            headers={"Authorization": f"Bearer {self.env['STOREFRONT_SERVICE_TOKEN']}"},
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def fill(self, buyer: str, count: int) -> None:
        ready = self.ready.setdefault(buyer, [])
        ready.extend(self.mint(buyer) for _ in range(max(0, count - len(ready))))

    def signer(self, buyer: str | None) -> Signer:
        if buyer is None:
            return lambda: None
        return lambda: self.ready[buyer].pop() if self.ready.get(buyer) else self.mint(buyer)


def load(
    name: str,
    url: str,
    levels: list[int],
    seconds: float,
    flows: list[tuple[Flow, Signer]],
    before: Callable[[], None] = lambda: None,
) -> list[str]:
    asyncio.run(drive(url, 2, 5, lambda i: flows[i % len(flows)]))  # warm-up
    lines = []
    for clients in levels:
        before()
        result = asyncio.run(drive(url, clients, seconds, lambda i: flows[i % len(flows)]))
        lines.append(summary(name, clients, result))
        if result.latencies and not result.errors:
            rate = len(result.latencies) / (result.ended - result.started)
            RATES[name, clients] = (rate, percentile(result.latencies, 0.95) * 1000)
    return lines


# (bot and workload, N) -> (msgs/s, p95 ms), for the comparison printed at the end.
RATES: dict[tuple[str, int], tuple[float, float]] = {}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def against_bare(clients: int) -> list[str]:
    lines = []
    for workload in ("short", "long"):
        ours, bare = (
            RATES.get((f"assistant {workload}", clients)),
            RATES.get((f"bare {workload}", clients)),
        )
        if ours and bare:
            lines.append(
                f"{workload} conversations at N = {clients}: {ours[0] / bare[0]:.2f}x the bare"
                f" bot's msgs/s ({ours[0]:.1f} against {bare[0]:.1f}), p95 {ours[1]:.0f} ms"
            )
    return lines


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
        tokens = Tokens(env)
        buyers = ("alice", "bruno", "carla")

        def enough_tokens() -> None:  # a level's conversations at 100 msgs/s, or more
            for buyer in buyers:
                tokens.fill(buyer, int(seconds * 15))

        short = [(flow, tokens.signer(buyer)) for buyer, flow in FLOWS.values()]
        url = f"{env['RASA_URL']}/webhooks/rest/webhook"
        lines += load("assistant short", url, levels, seconds, short, enough_tokens)
        longer = [(long_flow(LONG_MESSAGES), tokens.signer("alice"))]
        lines += load("assistant long", url, levels, seconds, longer, enough_tokens)
        lines.append(f"memory of the whole stack after the load: {rss_mb(pids):.0f} MB")
        flow = long_flow(TURN_COST_MESSAGES)
        serving = {s.name: s.process.pid for s in running.services if s.process}
        lines += turn_cost("assistant", url, serving, flow, tokens.signer("alice"))
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
        lines += load("bare short", url, levels, seconds, [(BARE_FLOW, lambda: None)])
        lines += load(
            "bare long", url, levels, seconds, [(bare_long_flow(LONG_MESSAGES), lambda: None)]
        )
        lines += turn_cost(
            "bare bot", url, {"rasa": process.pid}, bare_long_flow(TURN_COST_MESSAGES), lambda: None
        )
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
    header = f"{'bot':<16} {'N':>4} {'messages':>8} {'p50 ms':>9} {'p95 ms':>9} {'msgs/s':>10}"
    lines = bench_assistant(levels, args.seconds)
    if not args.skip_bare:
        lines += bench_bare_bot(levels, args.seconds)
    if 10 in levels:
        lines += against_bare(10)
    print("\n" + header)
    print("\n".join(lines))
    return 1 if any("ERRORS" in line or "no answers" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
