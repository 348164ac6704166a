"""Sessions as the routes get them: reads without a transaction on PostgreSQL only."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from dispute_backend.db import make_engine, make_session_factory, mark_read


def _driver(session: Session) -> object:
    return session.connection().connection.driver_connection


def test_a_read_runs_without_a_transaction_on_postgresql_only(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)  # one connection, reused
    factory = make_session_factory(engine)
    with factory() as session:
        mark_read(session)
        session.execute(text("SELECT 1"))
        driver = _driver(session)
        if engine.dialect.name == "postgresql":
            assert driver.autocommit is True  # type: ignore[attr-defined]
            assert driver.info.transaction_status.name == "IDLE"  # type: ignore[attr-defined]
        else:  # SQLite keeps its BEGIN: one snapshot for all the request's statements
            assert driver.in_transaction is True  # type: ignore[attr-defined]
    # The connection goes back to the pool as it came: the next unit of work has a transaction.
    with factory() as session:
        session.execute(text("SELECT 1"))
        driver = _driver(session)
        if engine.dialect.name == "postgresql":
            assert driver.autocommit is False  # type: ignore[attr-defined]
            assert driver.info.transaction_status.name == "INTRANS"  # type: ignore[attr-defined]
        else:
            assert driver.in_transaction is True  # type: ignore[attr-defined]
    engine.dispose()
