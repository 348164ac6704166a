"""Handoff latency against a running stack: `scripts/stack.py exec backend/.venv/bin/python
-m console.bench [--rounds N]` (the stack's environment gives the URLs and tokens).

(a) request -> queue: from the buyer's "/request_human" (REST channel) to the ticket
    arriving in the console's live queue stream (what an operator's page receives);
(b) reply -> buyer: from the operator posting a reply in the console to the text being in
    the conversation's tracker, i.e. sent to the buyer's channel (socket.io emits it in the
    same step; REST users read it from the tracker).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import threading
import time
import uuid

import httpx


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class QueueWatcher(threading.Thread):
    """Reads the console's queue stream; notes when each conversation first appears."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        super().__init__(daemon=True)
        self.client, self.url = client, url
        self.seen: dict[str, tuple[float, int]] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        while True:
            with self.client.stream("GET", self.url, timeout=None) as response:
                self.ready.set()
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "queue":
                        now = time.monotonic()
                        for ticket in json.loads(line[6:])["tickets"]:
                            self.seen.setdefault(ticket["conversation_id"], (now, ticket["id"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--buyer", default="alice")
    args = parser.parse_args()
    env = os.environ
    console = env.get("CONSOLE_URL", f"http://127.0.0.1:{env.get('CONSOLE_PORT', '8090')}")
    rasa, token = env["RASA_URL"], env["RASA_API_TOKEN"]
    backend = env["BACKEND_URL"]

    chat_token = httpx.post(
        f"{backend}/api/v1/storefront/chat-tokens",
        json={"buyer_id": args.buyer},
        headers={"Authorization": f"Bearer {env['STOREFRONT_SERVICE_TOKEN']}"},
    ).json()["token"]

    operator, headers, watcher = _operator_watching(console)

    to_queue, to_buyer = [], []
    for _ in range(args.rounds):
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        started = time.monotonic()
        httpx.post(
            f"{rasa}/webhooks/rest/webhook",
            timeout=30,
            json={
                "sender": sender,
                "message": "/request_human",
                "metadata": {"chat_token": chat_token},
            },
        )
        while sender not in watcher.seen:
            if time.monotonic() - started > 15:
                raise SystemExit(f"{sender}: not in the queue after 15 s")
            time.sleep(0.005)
        seen_at, ticket = watcher.seen[sender]
        to_queue.append((seen_at - started) * 1000)

        operator.post(f"/tickets/{ticket}/claim", headers=headers, data={"key": uuid.uuid4().hex})
        text = f"operator reply {uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        reply = operator.post(
            f"/tickets/{ticket}/reply",
            headers=headers,
            data={"text": text, "key": uuid.uuid4().hex},
        )
        reply.raise_for_status()
        while text not in _bot_texts(rasa, token, sender):
            if time.monotonic() - started > 15:
                raise SystemExit(f"{sender}: reply not delivered after 15 s")
            time.sleep(0.005)
        to_buyer.append((time.monotonic() - started) * 1000)
        operator.post(
            f"/tickets/{ticket}/give-back", headers=headers, data={"key": uuid.uuid4().hex}
        )

    _report(to_queue, to_buyer)
    return 0


def _operator_watching(console: str) -> tuple[httpx.Client, dict[str, str], QueueWatcher]:
    """op-marta signed in to the console, and a watcher on its live queue."""
    operator = httpx.Client(base_url=console, timeout=15)
    csrf = _csrf(operator, "/login")
    operator.post(
        "/login", data={"operator_id": "op-marta", "password": "marta-demo-pass", "csrf": csrf}
    )
    csrf = _csrf(operator, "/")
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    watcher = QueueWatcher(operator, "/events/queue")
    watcher.start()
    watcher.ready.wait(10)
    time.sleep(1.5)
    return operator, headers, watcher


def _report(to_queue: list[float], to_buyer: list[float]) -> None:
    print(f"{'what':<34} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, values in (
        ("(a) request -> console queue", to_queue),
        ("(b) operator reply -> buyer", to_buyer),
    ):
        print(
            f"{name:<34} {len(values):>4} {statistics.median(values):>8.0f} "
            f"{percentile(values, 95):>8.0f} {max(values):>8.0f}"
        )


def _csrf(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text)
    if not found:
        raise SystemExit(f"no CSRF token on {path}: is the console running and signed in?")
    return found.group(1)


def _bot_texts(rasa: str, token: str, sender: str) -> list[str]:
    params = {"token": token, "include_events": "AFTER_RESTART"}
    tracker = httpx.get(f"{rasa}/conversations/{sender}/tracker", params=params).json()
    return [str(e.get("text")) for e in tracker.get("events", []) if e.get("event") == "bot"]


if __name__ == "__main__":
    raise SystemExit(main())
