"""Rasa's SQL tracker store, with the conversations in progress kept in memory.

Rasa's `SQLTrackerStore` answers every message with two reads (the events of
the conversation's latest session, then their count before writing) and a
commit, on a new database connection each time for SQLite. Under load that
was a third of the Rasa server's CPU. This store keeps, for the most recent
conversations, the serialised events of their latest session, so a message
costs one batched insert and one commit; the database stays the record, in Rasa's own
table and format (a plain `SQLTrackerStore` reads it unchanged).

It assumes one Rasa server per tracker database, as `make run` starts it:
another server writing the same conversations would not be seen. SQLite gets
one pooled connection in WAL mode (readers never wait for the writer;
`synchronous=NORMAL` syncs at checkpoints, so a power cut can lose the last
messages but never corrupts the file).
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from typing import Any, NamedTuple

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

SESSION = SessionStarted.type_name


class StoredEvent(NamedTuple):
    timestamp: float
    starts_session: bool
    data: str  # the JSON in the database's `data` column


def latest_session(events: list[StoredEvent]) -> list[StoredEvent]:
    """The events Rasa's SQL store reads back: from the latest session start on, by time."""
    starts = [event.timestamp for event in events if event.starts_session]
    if not starts:
        return events
    return [event for event in events if event.timestamp >= starts[-1]]


def _row(type_name: str, data: dict[str, Any]) -> StoredEvent:
    return StoredEvent(data.get("timestamp", 0.0), type_name == SESSION, json.dumps(data))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class CachedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that remembers the latest session of recent conversations."""

    engine: sa.engine.Engine

    def __init__(
        self,
        domain: Domain | None = None,
        dialect: str = "sqlite",
        host: str | None = None,
        port: int | None = None,
        db: str = "rasa.db",
        username: str | None = None,
        password: str | None = None,
        event_broker: EventBroker | None = None,
        login_db: str | None = None,
        query: dict | None = None,
        cached_conversations: int = 2000,  # ~15 kB each: a few tens of MB at most
        **kwargs: Any,
    ) -> None:
        super().__init__(
            domain, dialect, host, port, db, username, password, event_broker, login_db, query,
            **kwargs,
        )  # fmt: skip
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 opens a new SQLite connection per session by default.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(
                url, poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=4,
                connect_args={"check_same_thread": False},
            )  # fmt: skip
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._recent: OrderedDict[str, list[StoredEvent]] = OrderedDict()
        self._capacity = cached_conversations

    def _remember(self, sender_id: str, events: list[StoredEvent]) -> None:
        self._recent[sender_id] = events
        self._recent.move_to_end(sender_id)
        while len(self._recent) > self._capacity:
            self._recent.popitem(last=False)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        events = self._recent.get(sender_id)
        if events is None or not self.domain:
            tracker = await super().retrieve(sender_id)
            # A conversation not in the database yet is remembered as empty, so
            # its first save is a plain insert too.
            stored = [] if tracker is None else tracker.events
            self._remember(sender_id, [_row(e.type_name, e.as_dict()) for e in stored])
            return tracker
        self._recent.move_to_end(sender_id)
        if not events:
            return None
        return DialogueStateTracker.from_dict(
            sender_id, [json.loads(event.data) for event in events], self.domain.slots
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        stored = self._recent.get(tracker.sender_id)
        if stored is None:
            # Not read through this store (or forgotten since): Rasa's way, which
            # counts the stored events; the next retrieve fills the cache.
            await super().save(tracker)
            return
        await self.stream_events(tracker)
        added, rows = [], []
        for event in itertools.islice(tracker.events, len(stored), None):
            data = event.as_dict()
            row = _row(event.type_name, data)
            intent = data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
            rows.append(
                {
                    "sender_id": tracker.sender_id, "type_name": event.type_name,
                    "timestamp": row.timestamp, "intent_name": intent,
                    "action_name": data.get("name"), "data": row.data,
                }
            )  # fmt: skip
            added.append(row)
        try:
            if rows:
                with self.session_scope() as session:
                    # One executemany, not an ORM object per row.
                    session.execute(self.SQLEvent.__table__.insert(), rows)
                    session.commit()
        except Exception:
            self._recent.pop(tracker.sender_id, None)  # the database decides again
            raise
        self._remember(tracker.sender_id, latest_session([*stored, *added]))
