"""Engine and sessions. SQLite gets real transactions (BEGIN / BEGIN IMMEDIATE)."""

from __future__ import annotations

import fcntl
import math
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from .errors import DatabaseBusy

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# How long a SQLite writer waits for the write lock before the request answers 503. Writes
# queue for ~100 ms at 16 clients; the shortest client timeout (the action server's) is 2 s,
# so a busy database answers "retry" before the client gives up on its own.
WRITER_LOCK_TIMEOUT = 1.5

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
    kernel hands over at once, where SQLite's busy handler would sleep and retry).

    A writer waits at most `timeout` seconds, then gets DatabaseBusy: a writer that waited
    forever could hold the last worker thread that the lock's holder needs to finish."""

    def __init__(self, path: str | None, timeout: float = WRITER_LOCK_TIMEOUT) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            raise _busy(self._timeout)
        try:
            got = self._path is None or self._lock_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        if not got:  # the thread lock now belongs to the file lock's waiter
            raise _busy(self._timeout)

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self, deadline: float) -> bool:
        """Take the file lock by `deadline`; False if it could not be taken in time."""
        if self._fd is None:
            assert self._path is not None
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        # flock has no timeout: a helper thread makes the blocking call, so the kernel still
        # hands the lock over at once, and this thread stops waiting at the deadline.
        waiter = _FileLockWaiter(self._fd, self._threads)
        return waiter.wait(deadline - time.monotonic())


class _FileLockWaiter:
    """A blocking flock in its own thread. If its caller gives up first, the waiter keeps the
    caller's thread lock, and gives both back once its flock returns."""

    def __init__(self, fd: int, threads: threading.Lock) -> None:
        self._fd, self._threads = fd, threads
        self._mutex = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._error: OSError | None = None
        threading.Thread(target=self._run, name="writer-lock-wait", daemon=True).start()

    def wait(self, seconds: float) -> bool:
        self._done.wait(max(seconds, 0.0))
        with self._mutex:
            if not self._done.is_set():
                self._abandoned = True
                return False
        if self._error is not None:
            raise self._error
        return True

    def _run(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError as exc:
            self._error = exc
        with self._mutex:
            self._done.set()
            if not self._abandoned:
                return
        if self._error is None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


def _busy(timeout: float) -> DatabaseBusy:
    return DatabaseBusy(f"The database stayed busy for {timeout:g} s; retry in a moment.")


def writer_lock_timeout() -> float:
    """WRITER_LOCK_TIMEOUT_SECONDS from the environment."""
    raw = os.environ.get("WRITER_LOCK_TIMEOUT_SECONDS", "")
    if not raw.strip():
        return WRITER_LOCK_TIMEOUT
    value = float(raw)
    if not 0 < value < math.inf:  # also refuses nan; an infinite wait is what this prevents
        raise ValueError("WRITER_LOCK_TIMEOUT_SECONDS must be a positive number of seconds")
    return value


def make_engine(url: str, *, writer_timeout: float | None = None, **kwargs: Any) -> Engine:
    # Enough connections for the worker threads (8), the event loop's reads and the scheduler,
    # so that none is opened and closed per request; per process.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, writer_timeout, kwargs)
    # No pre-ping (a round trip per checkout); connections are recycled before servers or
    # proxies would drop them, and a dropped one fails one request, never a write half-done.
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, writer_timeout: float | None, kwargs: dict[str, Any]) -> Engine:
    """A SQLite engine whose writers queue on the WriterLock (BEGIN IMMEDIATE under it)."""
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
    timeout = writer_lock_timeout() if writer_timeout is None else writer_timeout
    writer = WriterLock(_lock_path(engine.url.database), timeout)

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

    def _end(conn: Any, statement: str) -> None:
        if conn.info.get("holds_writer"):
            try:
                conn.exec_driver_sql(statement)
            finally:
                _release(conn)

    # These fire just before the driver's COMMIT / ROLLBACK: end the transaction here so
    # the lock covers it (the driver's own call is then a no-op).
    event.listen(engine, "commit", lambda conn: _end(conn, "COMMIT"))
    event.listen(engine, "rollback", lambda conn: _end(conn, "ROLLBACK"))
    return engine


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
