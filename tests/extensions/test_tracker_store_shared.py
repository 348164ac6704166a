"""The cached tracker store with several writers (`shared: true`), on the machine's real
PostgreSQL: two stores stand for two Rasa servers on one database. Without the version
check each would answer from its own memory and lose or repeat the other's turns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from extensions import tracker_store
from extensions.testing import PG_ADMIN_URL, scratch_database, session_start, turn
from extensions.tracker_store import CachedSQLTrackerStore, Version

DOMAIN = Domain.from_dict({})
Servers = tuple[CachedSQLTrackerStore, CachedSQLTrackerStore]  # two Rasa servers' stores


def texts(tracker: DialogueStateTracker | None) -> list[str]:
    assert tracker is not None
    return [e.text or "" for e in tracker.events if isinstance(e, UserUttered)]


@pytest.fixture
def db() -> Iterator[dict[str, Any]]:
    with scratch_database(PG_ADMIN_URL, "tracker_shared") as database:
        yield database


@pytest.fixture
def servers(db: dict[str, Any]) -> Servers:
    """The stores of two Rasa servers on the one database."""
    return (
        CachedSQLTrackerStore(DOMAIN, **db, shared=True),
        CachedSQLTrackerStore(DOMAIN, **db, shared=True),
    )


async def say(store: SQLTrackerStore, sender: str, events: list[Event]) -> None:
    """One message: read the conversation, add its events, write it back."""
    tracker = await store.retrieve(sender) or DialogueStateTracker(sender, DOMAIN.slots)
    for event in events:
        tracker.update(event)
    await store.save(tracker)


async def test_a_turn_written_by_another_server_is_seen_and_kept(db: dict[str, Any]) -> None:
    server_a = CachedSQLTrackerStore(DOMAIN, **db, shared=True)
    server_b = CachedSQLTrackerStore(DOMAIN, **db, shared="true")  # as endpoints.yml gives it
    await say(server_a, "alice", [*session_start(), *turn("one")])
    await say(server_a, "alice", turn("two"))
    await say(server_b, "alice", turn("three"))  # the load balancer moved her
    assert texts(await server_a.retrieve("alice")) == ["one", "two", "three"]
    await say(server_a, "alice", turn("four"))  # back on A: nothing of B's is lost
    await say(server_b, "alice", turn("five"))
    expected = ["one", "two", "three", "four", "five"]
    assert texts(await SQLTrackerStore(DOMAIN, **db).retrieve("alice")) == expected
    assert texts(await server_a.retrieve("alice")) == expected
    assert texts(await server_b.retrieve("alice")) == expected


async def test_with_one_writer_the_remembered_conversation_is_used(db: dict[str, Any]) -> None:
    store = CachedSQLTrackerStore(DOMAIN, **db, shared=True)
    await say(store, "bruno", [*session_start(), *turn("hi")])
    await say(store, "bruno", turn("again"))
    remembered = store._recent["bruno"]
    assert remembered.version == Version(9, remembered.version.last_id if remembered.version else 0)
    tracker = await store.retrieve("bruno")
    assert store._recent["bruno"] is remembered  # checked, not reloaded
    assert texts(tracker) == ["hi", "again"]


async def test_a_write_between_the_version_and_the_events_is_reloaded_next_time(
    servers: Servers,
) -> None:
    server_a, server_b = servers
    await say(server_b, "carla", [*session_start(), *turn("one")])
    read_version = server_a._current_version
    landed: list[bool] = []

    def version_then_a_write(sender_id: str) -> Version:
        version = read_version(sender_id)
        if not landed:  # B's turn commits right after A read the version
            landed.append(True)
            with server_b.session_scope() as session:
                data = json.dumps(ActionExecuted("action_listen", timestamp=9e9).as_dict())
                row = {
                    "sender_id": sender_id,
                    "type_name": "action",
                    "timestamp": 9e9,
                    "intent_name": None,
                    "action_name": None,
                    "data": data,
                }
                session.execute(server_b.SQLEvent.__table__.insert(), [row])
                session.commit()
        return version

    server_a._current_version = version_then_a_write  # type: ignore[method-assign]
    first = await server_a.retrieve("carla")
    # From the session start on: 5 events of B's first turn, and B's row that landed.
    assert first is not None and len(first.events) == 6
    second = await server_a.retrieve("carla")  # the older version does not match: reloaded
    assert second is not None and len(second.events) == 6
    assert server_a._recent["carla"].version == server_a._current_version("carla")


async def test_a_save_that_finds_another_writers_rows_forgets_the_conversation(
    db: dict[str, Any], servers: Servers
) -> None:
    server_a, server_b = servers
    await say(server_a, "diego", [*session_start(), *turn("one")])
    tracker = await server_a.retrieve("diego")
    assert tracker is not None
    await say(server_b, "diego", turn("meanwhile"))  # a writer without the lock
    for event in turn("two"):
        tracker.update(event)
    await server_a.save(tracker)
    assert "diego" not in server_a._recent
    stored = texts(await SQLTrackerStore(DOMAIN, **db).retrieve("diego"))
    assert texts(await server_a.retrieve("diego")) == stored == ["one", "meanwhile", "two"]


async def test_connections_dropped_by_the_database_are_replaced(db: dict[str, Any]) -> None:
    store = CachedSQLTrackerStore(DOMAIN, **db, shared=True)
    await say(store, "erin", [*session_start(), *turn("before")])
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # what a restart of PostgreSQL does to the pool
        connection.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": db["db"]},
        )
    admin.dispose()
    await say(store, "erin", turn("after"))
    assert texts(await SQLTrackerStore(DOMAIN, **db).retrieve("erin")) == ["before", "after"]


async def test_a_database_error_fails_the_message_instead_of_starting_it_over(
    db: dict[str, Any],
) -> None:
    """Rasa's FailSafeTrackerStore answers a failed read with "no conversation" and keeps a
    failed write in memory; for a shared store the error goes up to the channel (503)."""
    tracker_store.install()
    shared = Agent._create_tracker_store(CachedSQLTrackerStore(DOMAIN, **db, shared=True), DOMAIN)
    alone = Agent._create_tracker_store(CachedSQLTrackerStore(DOMAIN, **db), DOMAIN)
    await say(shared, "frank", [*session_start(), *turn("before")])
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # the database refuses the stores' connections
        connection.execute(sa.text(f'ALTER DATABASE "{db["db"]}" WITH ALLOW_CONNECTIONS false'))
        connection.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": db["db"]},
        )
    try:
        with pytest.raises(sa.exc.OperationalError):
            await shared.retrieve("frank")
        tracker = DialogueStateTracker.from_events("frank", [*session_start(), *turn("during")])
        with pytest.raises(sa.exc.OperationalError):
            await shared.save(tracker)
        assert await alone.retrieve("frank") is None  # Rasa's way, kept for one server
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{db["db"]}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()
