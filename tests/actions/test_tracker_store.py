"""The cached SQL tracker store keeps exactly what Rasa's own SQL store keeps."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import (
    Event,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.testing import DOMAIN, PG_ADMIN_URL, dumped, scratch_database, session_start, turn
from extensions.tracker_store import CachedSQLTrackerStore

DATABASES = [
    d.strip()
    for d in os.environ.get("BACKEND_TEST_DATABASES", "sqlite,postgresql").split(",")
    if d.strip()
]


@pytest.fixture(params=DATABASES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Where the stores keep conversations: keyword arguments as endpoints.yml gives them."""
    if request.param == "sqlite":
        yield {"dialect": "sqlite", "db": str(tmp_path / "tracker.db")}
        return
    with contextlib.ExitStack() as stack:
        try:
            database = stack.enter_context(scratch_database(PG_ADMIN_URL, "tracker_test"))
        except Exception as error:
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}", pytrace=False)
        yield database


async def say(store: CachedSQLTrackerStore, sender: str, events: list[Event]) -> None:
    """One message: read the conversation, add its events, write it back."""
    tracker = await store.retrieve(sender)
    if tracker is None:
        tracker = DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        tracker.update(event)
    await store.save(tracker)


async def test_conversations_read_back_as_rasas_store_reads_them(db: dict[str, Any]) -> None:
    store = CachedSQLTrackerStore(DOMAIN, **db)
    await say(store, "alice", session_start())
    await say(store, "alice", turn("hi"))
    await say(store, "bruno", session_start() + turn("hello"))
    await say(store, "alice", turn("my order", order_id="8100000000000011"))

    rasa_store = SQLTrackerStore(DOMAIN, **db)
    for sender in ("alice", "bruno"):
        expected = dumped(await rasa_store.retrieve(sender))
        assert dumped(await store.retrieve(sender)) == expected
        # and a store started afresh (nothing cached) reads the same
        assert dumped(await CachedSQLTrackerStore(DOMAIN, **db).retrieve(sender)) == expected
    alice = await store.retrieve("alice")
    assert alice is not None and alice.get_slot("order_id") == "8100000000000011"
    # From the session start's time on: the session start action was logged just before it.
    assert len(alice.events) == 2 + 3 + 4
    assert await store.retrieve("nobody") is None


async def test_a_new_session_reads_from_its_start_and_keeps_the_old_one(db: dict[str, Any]) -> None:
    store = CachedSQLTrackerStore(DOMAIN, **db)
    await say(store, "carla", session_start() + turn("first visit"))
    await say(store, "carla", turn("still there"))
    time.sleep(0.01)  # sessions are told apart by time, as in Rasa's store
    await say(store, "carla", session_start() + turn("back the next day"))
    await say(store, "carla", turn("and again"))

    rasa_store = SQLTrackerStore(DOMAIN, **db)
    latest = dumped(await store.retrieve("carla"))
    assert latest == dumped(await rasa_store.retrieve("carla"))
    texts = [event.get("text") for event in latest if event["event"] == "user"]
    assert texts == ["back the next day", "and again"]
    full = await rasa_store.retrieve_full_tracker("carla")
    assert full is not None and len(full.events) == 2 * 3 + 4 * 3


async def test_only_the_most_recent_conversations_stay_in_memory(db: dict[str, Any]) -> None:
    store = CachedSQLTrackerStore(DOMAIN, **db, cached_conversations=1)
    for round_ in range(3):
        for sender in ("diego", "erin"):
            await say(store, sender, turn(f"{sender} {round_}"))
    assert list(store._recent) == ["erin"]
    rasa_store = SQLTrackerStore(DOMAIN, **db)
    for sender in ("diego", "erin"):
        assert dumped(await store.retrieve(sender)) == dumped(await rasa_store.retrieve(sender))
        assert len((await store.retrieve(sender)).events) == 9  # type: ignore[union-attr]


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=str(tmp_path / "tracker.db"))
    await say(store, "alice", turn("hi"))
    with sqlite3.connect(tmp_path / "tracker.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_proofs_of_identity_are_never_written(db: dict[str, Any]) -> None:
    """The chat token and a channel's signed identity serve the turn, then are dropped."""
    store = CachedSQLTrackerStore(DOMAIN, **db)
    started = session_start()  # before the messages: events are read from the session's start
    proof = {"chat_token": "eyJ.secret.token", "lang": "en"}
    greet = {"name": "greet", "confidence": 1.0}
    web = UserUttered(
        "hi",
        greet,
        # Rasa's parse data carries its own copy of the message's metadata.
        parse_data={"intent": greet, "metadata": dict(proof)},  # type: ignore[typeddict-item]
        metadata=dict(proof),
    )
    # Rasa keeps the first message's metadata of a session in a slot.
    session_metadata = SlotSet("session_started_metadata", dict(proof))
    telegram = UserUttered(
        "hi",
        {"intent": {"name": "greet", "confidence": 1.0}},
        metadata={"verified": {"channel": "telegram", "identity": "eyJ.id.x", "update_id": 7}},
    )
    # A client that nests a replayed proof in what it sends (socket.io's customData).
    nested = UserUttered(
        "hi",
        greet,
        metadata={"customData": {"verified": {"identity": "eyJ.stolen"}, "chat_token": "eyJ.t"}},
    )
    # A signed token under another name, and one pasted into the text.
    jwt = "eyJhbGciOi.eyJzdWIiOiJj.c2lnbmF0dXJl"
    elsewhere = UserUttered(f"my token is {jwt}", greet, metadata={"token": jwt})
    await say(store, "web", [*started, session_metadata, web])
    await say(store, "telegram:1", [*started, telegram])
    await say(store, "nested", [*started, nested])
    await say(store, "elsewhere", [*started, elsewhere])
    rasa_store = SQLTrackerStore(DOMAIN, **db)
    stored_web = dumped(await rasa_store.retrieve("web"))[-1]
    assert stored_web["metadata"] == {"lang": "en"}
    assert stored_web["parse_data"]["metadata"] == {"lang": "en"}
    stored_slot = dumped(await rasa_store.retrieve("web"))[-2]
    assert stored_slot["name"] == "session_started_metadata"
    assert stored_slot["value"] == {"lang": "en"}
    stored_tg = dumped(await rasa_store.retrieve("telegram:1"))[-1]
    assert stored_tg["metadata"] == {"verified": {"channel": "telegram", "update_id": 7}}
    with rasa_store.session_scope() as session:
        rows = session.execute(sa.text("SELECT data FROM events")).scalars().all()
    assert [row for row in rows if "eyJ" in row] == []
