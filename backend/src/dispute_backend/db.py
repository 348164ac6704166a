"""Engine and sessions. SQLite gets real transactions (BEGIN / BEGIN IMMEDIATE)."""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Session.connection(execution_options=WRITE) makes SQLite take the write lock at BEGIN,
# so two writers queue instead of failing with "database is locked" on lock upgrade.
WRITE = {"sqlite_immediate": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every database (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _lock_path(database: str | None) -> str | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-writer.lock"


class WriterLock:
    """One SQLite writer at a time: among this process's threads (a thread lock), and among
    the processes on the same database file (an exclusive flock on a file beside it, which the
    kernel hands over at once, where SQLite's busy handler would sleep and retry)."""

    def __init__(self, path: str | None) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self._threads.acquire()
        try:
            if self._path is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Enough connections for the worker threads (8), the event loop's reads and the scheduler,
    # so that none is opened and closed per request; per process.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        # SQLite has one writer at a time and its busy handler polls with growing sleeps, so
        # writers queue on a lock instead (readers never wait, thanks to WAL).
        writer = WriterLock(_lock_path(engine.url.database))

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Straight to the driver: BEGIN needs none of SQLAlchemy's statement handling,
            # and every request pays for it.
            driver = conn.connection.driver_connection
            if conn.get_execution_options().get("sqlite_immediate"):
                writer.acquire()
                conn.info["holds_writer"] = True
                try:
                    driver.execute("BEGIN IMMEDIATE")
                except BaseException:
                    _release(conn)
                    raise
            else:
                driver.execute("BEGIN")

        def _release(conn: Any) -> None:
            if conn.info.pop("holds_writer", False):
                writer.release()

        # These fire just before the driver's COMMIT / ROLLBACK: end the transaction here so
        # the lock covers it (the driver's own call is then a no-op).
        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            if conn.info.get("holds_writer"):
                try:
                    conn.exec_driver_sql("COMMIT")
                finally:
                    _release(conn)

        @event.listens_for(engine, "rollback")
        def _rollback(conn: Any) -> None:
            if conn.info.get("holds_writer"):
                try:
                    conn.exec_driver_sql("ROLLBACK")
                finally:
                    _release(conn)

        return engine
    # No pre-ping (a round trip per checkout); connections are recycled before servers or
    # proxies would drop them, and a dropped one fails one request, never a write half-done.
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """Call first in a mutating unit of work (takes SQLite's write lock now)."""
    session.connection(execution_options=WRITE)


def mark_write(session: Session) -> None:
    """Like begin_write, but without I/O: the lock is taken when the session first connects."""
    bind = session.get_bind()
    if isinstance(bind, Engine):
        session.bind = bind.execution_options(**WRITE)


def mark_read(session: Session) -> None:
    """For a request that only reads. On PostgreSQL its statements run in autocommit: no BEGIN
    and ROLLBACK round trips, and each statement still sees one snapshot, as it does in a READ
    COMMITTED transaction, so nothing visible changes. SQLite keeps its transaction, whose one
    snapshot spans all the statements (and costs no round trip)."""
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        session.bind = bind.execution_options(isolation_level="AUTOCOMMIT")
