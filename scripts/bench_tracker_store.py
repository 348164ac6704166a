"""What a turn costs in the tracker store on PostgreSQL, per kind of store (docs/scaling.md).

    .venv/bin/python scripts/bench_tracker_store.py [--conversations 20] [--turns 60]

Each turn reads the conversation and writes four events back (the user's message, a slot,
the bot's answer, action_listen), as Rasa does for every message. Three stores on one fresh
database (made and dropped here, on BENCH_POSTGRES_URL's server):

- `rasa`: Rasa's SQLTrackerStore (two queries to read the session, a count and one insert
  per event to write);
- `cached, shared`: extensions/tracker_store.py as the cluster runs it (the version check
  on every read and after every write);
- `cached, one writer`: the same without the check, as `make run` runs it on SQLite (wrong
  with several servers: here for the price of the check).

It prints the milliseconds per turn (wall, which includes the database's work, and this
process's CPU) at the first turns and at the last ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script from anywhere: the project's own packages come from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.testing import scratch_database, session_start
from extensions.tracker_store import CachedSQLTrackerStore

ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DOMAIN = Domain.from_dict(
    {"slots": {"order_id": {"type": "text", "mappings": [{"type": "custom"}]}}}
)
PARSE = {
    "intent": {"name": "inform", "confidence": 0.93},
    "entities": [{"entity": "order_id", "value": "8100000000000011", "start": 6, "end": 22}],
    "intent_ranking": [{"name": f"intent_{i}", "confidence": 0.01} for i in range(10)],
    "text": "order 8100000000000011 arrived broken, the left earbud does not charge",
}
BOT_TEXT = "Order 8100000000000011 (Wireless earbuds) is covered by buyer protection. " * 3


def turn_events(n: int) -> list[Any]:
    return [
        UserUttered(PARSE["text"], PARSE, message_id=uuid.uuid4().hex),
        SlotSet("order_id", f"81000000000{n:05d}"),
        BotUttered(BOT_TEXT, {"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
        ActionExecuted("action_listen"),
    ]


async def one_turn(store: TrackerStore, sender: str, n: int) -> None:
    tracker = await store.retrieve(sender)
    if tracker is None:
        tracker = DialogueStateTracker.from_events(sender, session_start(), DOMAIN.slots)
    for event in turn_events(n):
        tracker.update(event)
    await store.save(tracker)


async def measure(store: TrackerStore, conversations: int, turns: int) -> list[tuple[float, float]]:
    """(wall ms, CPU ms) per turn, by turn number, averaged over the conversations."""
    senders = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(conversations)]
    per_turn = []
    for n in range(turns):
        wall, cpu = time.perf_counter(), time.process_time()
        for sender in senders:  # the conversations take turns, as under load
            await one_turn(store, sender, n)
        per_turn.append(
            (
                (time.perf_counter() - wall) * 1000 / conversations,
                (time.process_time() - cpu) * 1000 / conversations,
            )
        )
    return per_turn


def report(name: str, per_turn: list[tuple[float, float]]) -> None:
    def mean(rows: list[tuple[float, float]], i: int) -> float:
        return sum(r[i] for r in rows) / len(rows)

    first, last = per_turn[1:6], per_turn[-5:]
    print(
        f"  {name:<20} turns 2-6: {mean(first, 0):6.2f} ms ({mean(first, 1):5.2f} CPU)"
        f"   last 5 turns: {mean(last, 0):6.2f} ms ({mean(last, 1):5.2f} CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--turns", type=int, default=60)
    args = parser.parse_args()
    stores: dict[str, Callable[[dict[str, Any]], TrackerStore]] = {
        "rasa": lambda db: SQLTrackerStore(DOMAIN, **db),
        "cached, shared": lambda db: CachedSQLTrackerStore(DOMAIN, **db, shared=True),
        "cached, one writer": lambda db: CachedSQLTrackerStore(DOMAIN, **db),
    }
    print(f"{args.conversations} conversations x {args.turns} turns, per turn:")
    admin_url = ADMIN.replace("postgresql:", "postgresql+psycopg2:", 1)
    with scratch_database(admin_url, "tracker_bench") as db:
        for name, make in stores.items():
            report(name, asyncio.run(measure(make(db), args.conversations, args.turns)))


if __name__ == "__main__":
    main()
