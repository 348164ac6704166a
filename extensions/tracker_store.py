"""Rasa's SQL tracker store, with the conversations in progress kept in memory.

Rasa's `SQLTrackerStore` answers every message with two reads (the events of
the conversation's latest session, then their count before writing) and a
commit, on a new database connection each time for SQLite. Under load that
was a third of the Rasa server's CPU. This store keeps, for the most recent
conversations, the serialised events of their latest session, so a message
costs one batched insert and one commit; the database stays the record, in Rasa's own
table and format (a plain `SQLTrackerStore` reads it unchanged).

The proofs of identity a message carried (the web chat's token, a channel's signed
identity) serve the turn that answers it and are then dropped: they are never written to
the database, where anyone reading conversations later would find them
(docs/security.md).

It also keeps the tracker object it last saved for a conversation and hands that very
object to the conversation's next message, instead of rebuilding it from the session's
events (the part of a turn that grew most with the conversation: 32 ms at 500 events).
The object is handed out once ("checked out") and only while it still has exactly the
events stored, so a reader in the middle of a turn, or a turn that failed after
changing its tracker, gets one rebuilt from the stored events, as before.

By default it assumes one Rasa server per tracker database, as `make run` starts
it: another server writing the same conversations would not be seen. SQLite gets
one pooled connection in WAL mode (readers never wait for the writer;
`synchronous=NORMAL` syncs at checkpoints, so a power cut can lose the last
messages but never corrupts the file).

With `shared: true` (`make run-cluster`: several Rasa servers on one PostgreSQL
database) a remembered conversation is used only if the database still has exactly
what it remembers. Each conversation's version is the count and the highest id of
its rows, one indexed query: it is read before the events it describes (so a write
landing in between makes the version older than the events, never newer, and the
next look reloads), and re-read after each insert in the same transaction (a count
that is not the remembered one plus the rows just written means someone else wrote:
the conversation is forgotten). Connections are checked before use, so a restarted
database costs a reconnect, not a failed message. docs/scaling.md has what the check
costs.

Rasa wraps every tracker store in a `FailSafeTrackerStore`, which hides a database
error: `retrieve` answers None (the conversation silently starts over) and `save` keeps
the turn in that server's memory (answered, then lost for every other server). A shared
store must fail the message instead, so that the channel answers "retry" (503) and
nothing is answered that is not stored: `install()` (called by extensions/server.py at
start-up) gives the wrapper of a shared store Rasa's own `on_tracker_store_error`
callback, one that raises the error again.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from typing import Any, NamedTuple

import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    TrackerStore,
    create_engine_kwargs,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from extensions.rasa_patches import replace, require_rasa_version
from extensions.redaction import redact

SESSION = SessionStarted.type_name


# Metadata of a user message that proves who sent it: for the turn, never for the record.
PROOF_KEYS = ("chat_token",)
VERIFIED_PROOF_KEYS = ("identity",)


# Rasa's slot holding the metadata of the message that started the session.
SESSION_METADATA_SLOT = "session_started_metadata"


def _without_proofs(metadata: Any) -> None:
    """Drop the proofs from metadata, at any depth: a client may nest what it sends
    (socket.io's `customData`), and a proof it replays is no less a proof."""
    if not isinstance(metadata, dict):
        return
    for key in PROOF_KEYS:
        metadata.pop(key, None)
    verified = metadata.get("verified")
    if isinstance(verified, dict):
        for key in VERIFIED_PROOF_KEYS:
            verified.pop(key, None)
    for key, value in metadata.items():
        if isinstance(value, str):
            metadata[key] = redact(value)  # a signed token under any other name
        else:
            _without_proofs(value)


def drop_proofs(tracker: DialogueStateTracker, since: int = 0) -> None:
    """Remove the proofs of identity from everything the turn is about to store: the
    metadata of each user message, the copy of it in the message's parse data, and the
    `session_started_metadata` slot Rasa fills from a session's first message. The turn
    that needed them is over when it is saved. Events before `since` are stored (and were
    cleaned when they were): a long conversation's turn costs no more for it."""
    for event in itertools.islice(tracker.events, since, None):
        if isinstance(event, UserUttered):
            if event.text and "eyJ" in event.text:  # a token pasted into the message
                event.text = redact(event.text)
                event.parse_data["text"] = event.text
            _without_proofs(event.metadata)
            _without_proofs(event.parse_data.get("metadata"))
        elif isinstance(event, SlotSet) and event.key == SESSION_METADATA_SLOT:
            _without_proofs(event.value)


class StoredEvent(NamedTuple):
    timestamp: float
    starts_session: bool
    data: str  # the JSON in the database's `data` column


class Version(NamedTuple):
    """What the database holds of one conversation: how many rows, and the last id."""

    rows: int
    last_id: int | None


class Remembered(NamedTuple):
    events: list[StoredEvent]
    version: Version | None  # None: not checked (one writer)


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
        # Trackers kept whole, with what extensions/tracker_history.py keeps on them (about
        # 1 kB per action of the session): the conversations talking right now.
        live_conversations: int = 200,
        shared: bool | str = False,  # other Rasa servers write to the same database
        **kwargs: Any,
    ) -> None:
        super().__init__(
            domain,
            dialect,
            host,
            port,
            db,
            username,
            password,
            event_broker,
            login_db,
            query,
            **kwargs,
        )
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 opens a new SQLite connection per session by default.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(
                url,
                poolclass=sa.pool.QueuePool,
                pool_size=1,
                max_overflow=4,
                connect_args={"check_same_thread": False},
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self.shared = str(shared).strip().lower() in ("true", "1", "yes")
        if self.shared:
            # A connection the database dropped (a restart) is replaced before use.
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._recent: OrderedDict[str, Remembered] = OrderedDict()
        self._capacity = cached_conversations
        # The tracker last saved, with the remembered events it was saved as (by identity).
        self._live: OrderedDict[str, tuple[DialogueStateTracker, list[StoredEvent]]]
        self._live = OrderedDict()
        self._live_capacity = int(live_conversations)

    def _remember(
        self, sender_id: str, events: list[StoredEvent], version: Version | None = None
    ) -> None:
        self._recent[sender_id] = Remembered(events, version)
        self._recent.move_to_end(sender_id)
        while len(self._recent) > self._capacity:
            forgotten, _ = self._recent.popitem(last=False)
            self._live.pop(forgotten, None)

    def _forget(self, sender_id: str) -> None:
        self._recent.pop(sender_id, None)
        self._live.pop(sender_id, None)

    def _checked_out(self, sender_id: str, remembered: Remembered) -> DialogueStateTracker | None:
        """The tracker last saved, if it still holds exactly the remembered events; once."""
        live = self._live.pop(sender_id, None)
        if live is None:
            return None
        tracker, saved_as = live
        if saved_as is not remembered.events or len(tracker.events) != len(saved_as):
            return None
        return tracker

    def _version(self, session: Any, sender_id: str) -> Version:
        table = self.SQLEvent.__table__
        query = sa.select(sa.func.count(table.c.id), sa.func.max(table.c.id)).where(
            table.c.sender_id == sender_id
        )
        count, last_id = session.execute(query).one()
        return Version(int(count), last_id)

    def _current_version(self, sender_id: str) -> Version:
        with self.session_scope() as session:
            return self._version(session, sender_id)

    def _still_current(self, sender_id: str) -> tuple[Remembered | None, Version | None]:
        """The remembered conversation if the database has not moved on (always, with one
        writer), and the version read (None with one writer)."""
        remembered = self._recent.get(sender_id)
        if not self.shared:
            return remembered, None
        version = self._current_version(sender_id)
        if remembered is not None and remembered.version != version:
            self._forget(sender_id)
            remembered = None
        return remembered, version

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        remembered, version = self._still_current(sender_id)
        if remembered is None or not self.domain:
            # The version was read first: if a write lands now, the version is the older.
            tracker = await super().retrieve(sender_id)
            # A conversation not in the database yet is remembered as empty, so
            # its first save is a plain insert too.
            stored = [] if tracker is None else tracker.events
            rows = [_row(e.type_name, e.as_dict()) for e in stored]
            self._remember(sender_id, rows, version)
            return tracker
        self._recent.move_to_end(sender_id)
        if not remembered.events:
            return None
        live = self._checked_out(sender_id, remembered)
        if live is not None:
            return live
        return DialogueStateTracker.from_dict(
            sender_id, [json.loads(event.data) for event in remembered.events], self.domain.slots
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        remembered = self._recent.get(tracker.sender_id)
        drop_proofs(tracker, since=len(remembered.events) if remembered else 0)
        if remembered is None:
            # Not read through this store (or forgotten since): Rasa's way, which
            # counts the stored events; the next retrieve fills the cache.
            await super().save(tracker)
            return
        await self.stream_events(tracker)
        stored = remembered.events
        added, rows = [], []
        for event in itertools.islice(tracker.events, len(stored), None):
            data = event.as_dict()
            row = _row(event.type_name, data)
            intent = data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY)
            rows.append(
                {
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": row.timestamp,
                    "intent_name": intent,
                    "action_name": data.get("name"),
                    "data": row.data,
                }
            )
            added.append(row)
        version = remembered.version
        try:
            if rows:
                with self.session_scope() as session:
                    # One executemany, not an ORM object per row.
                    session.execute(self.SQLEvent.__table__.insert(), rows)
                    if version is not None:
                        version = self._version(session, tracker.sender_id)
                    session.commit()
        except Exception:
            self._forget(tracker.sender_id)  # the database decides again
            raise
        if version is not None and remembered.version is not None:
            expected = remembered.version.rows + len(rows)
            if version.rows != expected:  # another writer: reload next time
                self._forget(tracker.sender_id)
                return
        events = latest_session([*stored, *added])
        self._remember(tracker.sender_id, events, version)
        self._live.pop(tracker.sender_id, None)
        if len(tracker.events) == len(events):  # not when a new session began in the turn
            self._live[tracker.sender_id] = (tracker, events)
            while len(self._live) > self._live_capacity:
                self._live.popitem(last=False)


def _raise(error: Exception) -> None:
    raise error


def install() -> None:
    """Make the fail-safe wrapper of a shared store let its errors through (see above)."""
    require_rasa_version("extensions/tracker_store.py")
    create = Agent._create_tracker_store
    if getattr(create, "lets_shared_errors_through", False):
        return

    def create_store(store: TrackerStore | None, domain: Domain) -> TrackerStore:
        wrapped = create(store, domain)
        if isinstance(store, CachedSQLTrackerStore) and store.shared:
            assert isinstance(wrapped, FailSafeTrackerStore)
            wrapped._on_tracker_store_error = _raise
        return wrapped

    create_store.lets_shared_errors_through = True  # type: ignore[attr-defined]
    replace(Agent, "_create_tracker_store", staticmethod(create_store))
