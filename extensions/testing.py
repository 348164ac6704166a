"""What the tracker store's tests and benchmark (tests/extensions, tests/actions,
scripts/bench_tracker_store.py) share: a throwaway PostgreSQL database, a domain with one
slot, and the events a conversation is made of. The assistant never imports this module."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

# The tests' PostgreSQL server, as the backend's tests name it.
PG_ADMIN_URL = os.environ.get(
    "BACKEND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
).replace("+psycopg:", "+psycopg2:")  # Rasa's SQLAlchemy 1.4 speaks psycopg2
# The one slot a turn may set.
DOMAIN = Domain.from_dict(
    {"slots": {"order_id": {"type": "text", "mappings": [{"type": "custom"}]}}}
)


def session_start() -> list[Event]:
    """What Rasa logs when a conversation (or a new session of it) starts."""
    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]


def turn(text: str, order_id: str | None = None) -> list[Event]:
    """One message and the bot's reply, setting `order_id` when given."""
    events: list[Event] = [
        UserUttered(text, {"intent": {"name": "inform", "confidence": 0.9}, "entities": []}),
        BotUttered(f"you said {text}"),
        ActionExecuted("action_listen"),
    ]
    if order_id:
        events.insert(1, SlotSet("order_id", order_id))
    return events


def dumped(tracker: DialogueStateTracker | None) -> list[dict[str, Any]]:
    """A tracker's events as the database keeps them, to compare two trackers."""
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


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
