"""What the tracker store's tests and benchmark (tests/extensions, tests/actions,
scripts/bench_tracker_store.py) share: a throwaway PostgreSQL database, and the events a
conversation starts with. The assistant never imports this module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted


def session_start() -> list[Event]:
    """What Rasa logs when a conversation (or a new session of it) starts."""
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[dict[str, Any]]:
    """A new, empty database on the server of `admin_url` (a role that may create databases),
    named `<prefix>_<random>`, as the tracker store's keyword arguments (endpoints.yml's).
    Dropped afterwards, whoever is still connected to it."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin_url)
    try:
        yield {
            "dialect": "postgresql",
            "host": url.host,
            "port": url.port,
            "db": name,
            "username": url.username,
            "password": url.password,
        }
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
