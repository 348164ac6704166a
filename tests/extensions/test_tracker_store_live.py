"""The cached tracker store hands the next message the very tracker it last saved, instead of
rebuilding it from the session's events (extensions/tracker_store.py): the rebuild was the
part of a turn that grew most with the conversation. Whatever it hands out must be what
Rasa's own SQL store would read from the database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from extensions.testing import DOMAIN, dumped, turn
from extensions.tracker_store import CachedSQLTrackerStore


def stored(path: Path) -> list[dict[str, Any]]:
    """What Rasa's own SQL store reads back."""
    return dumped(asyncio.run(SQLTrackerStore(DOMAIN, db=str(path)).retrieve("buyer")))


def answered(store: CachedSQLTrackerStore, text: str) -> DialogueStateTracker:
    """One message: retrieve (or create), the turn's events, save."""
    tracker = asyncio.run(store.retrieve("buyer")) or DialogueStateTracker("buyer", DOMAIN.slots)
    for event in turn(text, order_id=text):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    return tracker


def test_the_next_message_gets_the_tracker_the_last_one_saved(tmp_path: Path) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"))
    first = answered(store, "one")
    second = answered(store, "two")
    assert second is first  # not rebuilt
    assert second.get_slot("order_id") == "two"
    assert dumped(second) == stored(tmp_path / "t.db")


def test_a_second_reader_in_the_same_turn_gets_what_is_stored(tmp_path: Path) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"))
    answered(store, "one")
    handling = asyncio.run(store.retrieve("buyer"))
    assert handling is not None
    handling.update(UserUttered("not saved yet"))
    reader = asyncio.run(store.retrieve("buyer"))  # the HTTP API, while the turn runs
    assert reader is not handling
    assert dumped(reader) == stored(tmp_path / "t.db")


def test_a_tracker_changed_after_its_save_is_not_handed_out(tmp_path: Path) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"))
    saved = answered(store, "one")
    saved.update(UserUttered("changed after the save"))  # a failed turn, never saved
    again = asyncio.run(store.retrieve("buyer"))
    assert again is not saved
    assert dumped(again) == stored(tmp_path / "t.db")
    assert again is not None and again.latest_message.text == "one"


def test_a_new_session_hands_out_the_latest_session_only(tmp_path: Path) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"))
    tracker = answered(store, "one")
    tracker = asyncio.run(store.retrieve("buyer"))
    assert tracker is not None
    new_session = [ActionExecuted("action_session_start"), SessionStarted()]
    for event in (*new_session, *turn("two", order_id="two")):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    again = asyncio.run(store.retrieve("buyer"))
    assert dumped(again) == stored(tmp_path / "t.db")
    assert [e["text"] for e in dumped(again) if e["event"] == "user"] == ["two"]


def test_a_forgotten_conversation_is_read_again(tmp_path: Path) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"), cached_conversations=1)
    answered(store, "one")
    other = DialogueStateTracker("someone else", DOMAIN.slots)
    other.update(UserUttered("hello"))
    asyncio.run(store.save(other))
    asyncio.run(store.retrieve("someone else"))  # pushes "buyer" out of the cache
    again = asyncio.run(store.retrieve("buyer"))
    assert dumped(again) == stored(tmp_path / "t.db")


def test_with_another_writer_the_database_wins_over_the_tracker_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    here = CachedSQLTrackerStore(DOMAIN, db=path, shared=True)
    there = CachedSQLTrackerStore(DOMAIN, db=path, shared=True)
    kept = answered(here, "one")
    answered(there, "two")  # the next message landed on the other server
    again = asyncio.run(here.retrieve("buyer"))
    assert again is not kept
    assert dumped(again) == stored(tmp_path / "t.db")
    assert again is not None and again.get_slot("order_id") == "two"


def test_only_the_latest_conversations_are_kept_whole(tmp_path: Path) -> None:
    store = CachedSQLTrackerStore(DOMAIN, db=str(tmp_path / "t.db"), live_conversations=2)
    kept = {}
    for sender in ("a", "b", "c"):
        tracker = DialogueStateTracker(sender, DOMAIN.slots)
        tracker.update(UserUttered("hello"))
        asyncio.run(store.save(tracker))
        kept[sender] = asyncio.run(store.retrieve(sender))
        asyncio.run(store.save(kept[sender]))
    assert asyncio.run(store.retrieve("a")) is not kept["a"]  # the oldest: rebuilt
    assert asyncio.run(store.retrieve("c")) is kept["c"]
