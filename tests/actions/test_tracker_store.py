"""The cached SQL tracker store keeps exactly what Rasa's own SQL store keeps."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.tracker_store import CachedSQLTrackerStore

DOMAIN = Domain.from_dict(
    {"slots": {"order_id": {"type": "text", "mappings": [{"type": "custom"}]}}}
)


def turn(text: str, order_id: str | None = None) -> list[Event]:
    events: list[Event] = [
        UserUttered(text, {"intent": {"name": "inform", "confidence": 0.9}, "entities": []}),
        BotUttered(f"you said {text}"),
        ActionExecuted("action_listen"),
    ]
    if order_id:
        events.insert(1, SlotSet("order_id", order_id))
    return events


def session_start() -> list[Event]:
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]


def dumped(tracker: DialogueStateTracker | None) -> list[dict]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "tracker.db")


async def say(store: CachedSQLTrackerStore, sender: str, events: list[Event]) -> None:
    """One message: read the conversation, add its events, write it back."""
    tracker = await store.retrieve(sender)
    if tracker is None:
        tracker = DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        tracker.update(event)
    await store.save(tracker)


async def test_conversations_read_back_as_rasas_store_reads_them(db: str) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=db)
    await say(store, "alice", session_start())
    await say(store, "alice", turn("hi"))
    await say(store, "bruno", session_start() + turn("hello"))
    await say(store, "alice", turn("my order", order_id="8100000000000011"))

    rasa_store = SQLTrackerStore(DOMAIN, db=db)
    for sender in ("alice", "bruno"):
        expected = dumped(await rasa_store.retrieve(sender))
        assert dumped(await store.retrieve(sender)) == expected
        # and a store started afresh (nothing cached) reads the same
        assert dumped(await CachedSQLTrackerStore(DOMAIN, db=db).retrieve(sender)) == expected
    alice = await store.retrieve("alice")
    assert alice is not None and alice.get_slot("order_id") == "8100000000000011"
    # From the session start's time on: the session start action was logged just before it.
    assert len(alice.events) == 2 + 3 + 4
    assert await store.retrieve("nobody") is None


async def test_a_new_session_reads_from_its_start_and_keeps_the_old_one(db: str) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=db)
    await say(store, "carla", session_start() + turn("first visit"))
    await say(store, "carla", turn("still there"))
    time.sleep(0.01)  # sessions are told apart by time, as in Rasa's store
    await say(store, "carla", session_start() + turn("back the next day"))
    await say(store, "carla", turn("and again"))

    rasa_store = SQLTrackerStore(DOMAIN, db=db)
    latest = dumped(await store.retrieve("carla"))
    assert latest == dumped(await rasa_store.retrieve("carla"))
    texts = [event.get("text") for event in latest if event["event"] == "user"]
    assert texts == ["back the next day", "and again"]
    full = await rasa_store.retrieve_full_tracker("carla")
    assert full is not None and len(full.events) == 2 * 3 + 4 * 3


async def test_only_the_most_recent_conversations_stay_in_memory(db: str) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=db, cached_conversations=1)
    for round_ in range(3):
        for sender in ("diego", "erin"):
            await say(store, sender, turn(f"{sender} {round_}"))
    assert list(store._recent) == ["erin"]
    rasa_store = SQLTrackerStore(DOMAIN, db=db)
    for sender in ("diego", "erin"):
        assert dumped(await store.retrieve(sender)) == dumped(await rasa_store.retrieve(sender))
        assert len((await store.retrieve(sender)).events) == 9  # type: ignore[union-attr]


async def test_sqlite_runs_in_wal_mode(db: str) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=db)
    await say(store, "alice", turn("hi"))
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
