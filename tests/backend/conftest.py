"""Backend test fixtures.

The database is a parameter: BACKEND_TEST_DATABASES=sqlite,postgresql (the default) runs
every database test on both. Each run migrates a fresh database once (a temp SQLite file, or a
uniquely named PostgreSQL database that is dropped at the end); each test then runs inside a
transaction that is rolled back (SQLAlchemy's "join a session into an external transaction").
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import factories
from dispute_backend.app import create_app, rule_settings
from dispute_backend.auth import get_identity_session, get_session
from dispute_backend.clock import FrozenClock
from dispute_backend.db import make_engine
from dispute_backend.migrate import upgrade
from dispute_backend.rules import RuleSettings
from dispute_backend.settings import Settings
from factories import (
    ASSISTANT_TOKEN,
    CONSOLE_TOKEN,
    IDENTITY_SECRET,
    NOW,
    SECRET,
    STOREFRONT_TOKEN,
)

PG_ADMIN_URL = os.environ.get(
    "BACKEND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATABASES = [
    d.strip()
    for d in os.environ.get("BACKEND_TEST_DATABASES", "sqlite,postgresql").split(",")
    if d.strip()
]


@pytest.fixture(scope="session", params=DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url
        return
    if request.param != "postgresql":
        raise pytest.UsageError(f"unknown database {request.param!r} in BACKEND_TEST_DATABASES")
    name = f"dispute_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({type(exc).__name__}: {exc}). "
            "Start it, or run only SQLite with BACKEND_TEST_DATABASES=sqlite.",
            pytrace=False,
        )
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    conn = engine.connect()
    outer = conn.begin()
    db = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def rs() -> RuleSettings:
    return RuleSettings()


def make_settings(database_url: str, tmp_path: Path) -> Settings:
    """The test tokens and secrets, a small evidence cap, and no scheduler."""
    return Settings(
        app_env="test",
        database_url=database_url,
        assistant_service_token=ASSISTANT_TOKEN,
        storefront_service_token=STOREFRONT_TOKEN,
        console_service_token=CONSOLE_TOKEN,
        chat_token_secret=SECRET,
        channel_identity_secret=IDENTITY_SECRET,
        evidence_dir=tmp_path / "evidence",
        max_evidence_bytes=200_000,
        scheduler_enabled=False,
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def client(settings: Settings, session: Session, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(settings, session_factory=None, clock=clock)
    assert rule_settings(settings) == RuleSettings()

    def test_session() -> Iterator[Session]:
        try:
            yield session
        finally:
            session.rollback()  # like closing a real session: drop what was not committed

    app.dependency_overrides[get_session] = test_session
    app.dependency_overrides[get_identity_session] = test_session
    with TestClient(app, raise_server_exceptions=False) as tc:
        yield tc


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """A fresh SQLite file of its own with a seller and the buyer "alice", committed: for
    tests of a real server or of the database file, on SQLite only."""
    url = f"sqlite:///{tmp_path / 'own.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        factories.seller(s)
        factories.buyer(s, "alice")
        s.commit()
    engine.dispose()
    return make_settings(url, tmp_path)
