"""Console test fixtures.

The console and the real backend each run under uvicorn on 127.0.0.1 in a thread, so the
console's clients make real HTTP calls, as in production; the backend has a fresh SQLite file
per test (a copy of one migrated and seeded once per run) and a clock the test moves. Rasa is
the stub of rasa_stub.py (it says why). Operators are plain HTTP clients with their own cookie
jar, posting forms as the browser does.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import ColumnElement, Engine, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from console.app import create_app as create_console
from console.settings import Settings as ConsoleSettings
from dispute_backend import seed
from dispute_backend.app import create_app as create_backend
from dispute_backend.clock import FrozenClock
from dispute_backend.db import make_engine
from dispute_backend.enums import DisputeState, ReviewStatus
from dispute_backend.migrate import upgrade
from dispute_backend.models import AbuseReview, Dispute, HandoffTicket, Operator
from dispute_backend.rules import RuleSettings
from dispute_backend.services import handoff
from dispute_backend.settings import Settings as BackendSettings
from rasa_stub import RasaStub

T = TypeVar("T")  # a model class, for the lookups of Backend

CONSOLE_TOKEN = "console-test-token"
RASA_TOKEN = "rasa-test-token"
PASSWORDS = dict(seed.OPERATOR_PASSWORDS)  # op-marta, op-jordi
NAMES = {oid: name for oid, (name, _) in seed.OPERATORS.items()}


class Recorder:
    """Notes every HTTP request reaching the wrapped app: proof of what reached the backend."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, app: ASGIApp) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass
class Backend:
    url: str
    clock: FrozenClock
    recorder: Recorder
    engine: Engine
    settings: BackendSettings

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def ticket(self, ticket_id: int) -> HandoffTicket:
        with self.session() as s:
            ticket = s.get(HandoffTicket, ticket_id)
            assert ticket is not None
            return ticket

    def transcript(self, ticket_id: int) -> list[tuple[str, str]]:
        with self.session() as s:
            return [(m.party.value, m.body) for m in handoff.transcript(s, ticket_id=ticket_id)]

    def open_ticket(
        self, rasa: RasaStub, *said: str, buyer_id: str | None = "alice", channel: str = "socketio"
    ) -> tuple[int, str]:
        """A buyer asks for a person (the assistant's part, done directly): a waiting ticket,
        and a paused conversation in Rasa where the buyer wrote `said`."""
        conversation = f"conv-{uuid.uuid4().hex[:10]}"
        with self.session() as s:
            ticket, _ = handoff.request_handoff(
                s,
                conversation_id=conversation,
                channel=channel,
                reason="user_request",
                buyer_id=buyer_id,
                now=self.clock.now(),
            )
            s.commit()
            ticket_id = ticket.id
        rasa.hand_over(conversation, *said)
        return ticket_id, conversation

    def claim(self, ticket_id: int, operator_id: str) -> None:
        with self.session() as s:
            operator = s.get(Operator, operator_id)
            assert operator is not None
            handoff.claim(s, ticket_id=ticket_id, operator=operator, now=self.clock.now())
            s.commit()

    def _first(self, model: type[T], condition: ColumnElement[bool], seeded: str) -> T:
        with self.session() as s:
            row = s.scalars(select(model).where(condition)).first()
            assert row is not None, f"the seed has {seeded}"
            return row

    def _get(self, model: type[T], pk: int) -> T:
        with self.session() as s:
            row = s.get(model, pk)
            assert row is not None
            return row

    def mediated_dispute(self) -> Dispute:
        return self._first(Dispute, Dispute.state == DisputeState.mediation, "a mediated dispute")

    def dispute(self, dispute_id: int) -> Dispute:
        return self._get(Dispute, dispute_id)

    def open_review(self) -> AbuseReview:
        return self._first(
            AbuseReview, AbuseReview.status == ReviewStatus.open, "an open abuse review"
        )

    def review(self, review_id: int) -> AbuseReview:
        return self._get(AbuseReview, review_id)


@dataclass
class Console:
    url: str
    backend: Backend
    rasa: RasaStub
    app: Any
    browsers: list[Browser] = field(default_factory=list)

    def browser(self, address: str = "127.0.0.1") -> Browser:
        browser = Browser(self.url, address)
        self.browsers.append(browser)
        return browser

    def signed_in(self, operator_id: str) -> Browser:
        browser = self.browser()
        answer = browser.sign_in(operator_id)
        assert answer.status_code == 303, answer.text
        return browser


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
FLASH = re.compile(r'<p class="flash" role="status">([^<]*)</p>')


class Browser:
    """An operator's browser: a cookie jar, from a given client address."""

    def __init__(self, base_url: str, address: str = "127.0.0.1") -> None:
        transport = httpx.HTTPTransport(local_address=address)
        self.http = httpx.Client(base_url=base_url, transport=transport, timeout=15)
        self.csrf = ""

    def close(self) -> None:
        self.http.close()

    def page(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        found = CSRF_META.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def sign_in(self, operator_id: str, password: str | None = None) -> httpx.Response:
        self.page("/login")
        answer = self.http.post(
            "/login",
            data={
                "csrf": self.csrf,
                "operator_id": operator_id,
                "password": password or PASSWORDS[operator_id],
            },
        )
        if answer.status_code == 303:
            self.page("/")  # a fresh session has a fresh CSRF token
        return answer

    def submit(self, path: str, **fields: str) -> httpx.Response:
        """A form post, as the page's forms send it (CSRF field, a fresh key)."""
        return self.http.post(path, data={"csrf": self.csrf, "key": uuid.uuid4().hex, **fields})

    def fetch(self, path: str, **fields: str) -> httpx.Response:
        """A fetch() post, as console.js sends it (X-CSRF-Token, JSON answer)."""
        return self.http.post(
            path,
            data={"key": uuid.uuid4().hex, **fields},
            headers={"X-CSRF-Token": self.csrf, "Accept": "application/json"},
        )

    def flash(self, path: str) -> str:
        """The message shown on the page a form redirected to."""
        found = FLASH.search(self.page(path).text)
        return found.group(1) if found else ""


def console_settings(backend_url: str, rasa_url: str) -> ConsoleSettings:
    return ConsoleSettings(
        app_env="test",
        backend_url=backend_url,
        console_service_token=CONSOLE_TOKEN,
        rasa_url=rasa_url,
        rasa_api_token=RASA_TOKEN,
        console_session_secret="console-test-session-secret-0123456789",
        reconcile_interval_seconds=0,  # the tests that need the pass turn it on
    )


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "backend.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        seed.seed(s, now=datetime.now(UTC), rs=RuleSettings())
        s.commit()
    engine.dispose()
    return path


def backend_settings(db: Path, tmp_path: Path, **overrides: Any) -> BackendSettings:
    return BackendSettings(
        app_env="test",
        database_url=f"sqlite:///{db}",
        assistant_service_token="assistant-test-token",
        storefront_service_token="storefront-test-token",
        console_service_token=CONSOLE_TOKEN,
        chat_token_secret="console-test-chat-secret-0123456789abcdef",
        evidence_dir=tmp_path / "evidence",
        outbox_dir=tmp_path / "outbox",
        scheduler_enabled=False,
        **overrides,
    )


@pytest.fixture
def backend_overrides() -> dict[str, Any]:
    """Backend settings a test module changes (override this fixture)."""
    return {}


@pytest.fixture
def backend(
    seeded_db: Path, tmp_path: Path, backend_overrides: dict[str, Any]
) -> Iterator[Backend]:
    db = tmp_path / "backend.db"
    shutil.copy(seeded_db, db)
    settings = backend_settings(db, tmp_path, **backend_overrides)
    clock = FrozenClock(datetime.now(UTC))
    recorder = Recorder(create_backend(settings, clock=clock))
    engine = make_engine(settings.database_url)
    with Served(recorder) as served:
        yield Backend(served.url, clock, recorder, engine, settings)
    engine.dispose()


@pytest.fixture
def rasa() -> Iterator[RasaStub]:
    stub = RasaStub(RASA_TOKEN)
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def console(backend: Backend, rasa: RasaStub) -> Iterator[Console]:
    app = create_console(console_settings(backend.url, rasa.url))
    with Served(app) as served:
        running = Console(served.url, backend, rasa, app)
        yield running
        for browser in running.browsers:
            browser.close()
