"""Start the whole stack once per test session, on its own ports and data.

The stack is the one `make run` starts (scripts/stack.py): the real backend,
action server, Rasa server (with the trained model) and web page, on free
ports, with fresh secrets and a fresh SQLite database in a temporary folder,
so a developer's running `make run` is never disturbed.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from tests.e2e import fakes

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def load_stack_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["stack"] = module
    spec.loader.exec_module(module)
    return module


stack_module = load_stack_module()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_stats() -> Iterator[tuple[int, str]]:
    """(pid, the text of /proc/<pid>/stat) of every process that can be read now."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        yield int(proc.name), stat


class RunningStack:
    def __init__(self, env: dict[str, str], stack: Any) -> None:
        self.env = env
        self.stack = stack
        self.backend_url = env["BACKEND_URL"]
        self.rasa_url = env["RASA_URL"]
        self.web_url = f"http://{env['PUBLIC_HOST']}:{env['WEB_PORT']}"
        self.action_url = f"http://{env['HOST']}:{env['ACTION_PORT']}"

    def say(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Send a message through the REST channel; return the bot's messages."""
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text, "metadata": metadata or {}},
            timeout=30,
        )
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()
        return messages

    def tracker_events(self, conversation_id: str, url: str | None = None) -> list[dict[str, Any]]:
        """Every event Rasa's tracker store holds for the conversation (the HTTP API, with its
        token), from the Rasa server at `url` if given (a replica of the cluster)."""
        response = requests.get(
            f"{url or self.rasa_url}/conversations/{conversation_id}/tracker",
            params={"token": self.env["RASA_API_TOKEN"], "include_events": "ALL"},
            timeout=30,
        )
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def chat_token(self, buyer_id: str) -> str:
        response = requests.post(
            f"{self.backend_url}/api/v1/storefront/chat-tokens",
            json={"buyer_id": buyer_id},
            headers={"Authorization": f"Bearer {self.env['STOREFRONT_SERVICE_TOKEN']}"},
            timeout=5,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def add_order(self, order_id: str, buyer_id: str, title: str = "Desk fan") -> None:
        """A fresh delivered order, inside its protection period, for tests that must
        share no order with the others."""
        from dispute_backend.models import ShippingStatus
        from dispute_backend.seed import OrderSpec
        from dispute_backend.seed import _order as seed_order

        # Built as the demo data builds its orders: placed 10 days ago, tracked 5 days ago,
        # received yesterday, shipping deadline in 20 days.
        delivered = ShippingStatus.delivered
        spec = OrderSpec(order_id, buyer_id, "techhub", title, "25.00", 10, 5, 20, 1, delivered)
        self._insert(seed_order(spec, datetime.now(UTC)))

    def add_buyer(self, buyer_id: str) -> None:
        """A buyer of its own (e-mail <id>@example.com), for a test whose checks must not
        depend on what other tests did to the demo buyers."""
        from dispute_backend.models import Buyer

        self._insert(
            Buyer(
                id=buyer_id,
                name=buyer_id.title(),
                email=f"{buyer_id}@example.com",
                created_at=datetime.now(UTC),
            )
        )

    def _insert(self, row: Any) -> None:
        """One row written straight into the stack's database, committed. Merged, not
        added: a retry after a commit whose answer was lost (the cluster's fault tests
        restart PostgreSQL under load) finds the row there and writes it once."""
        from dispute_backend.db import make_engine
        from sqlalchemy.orm import Session

        engine = make_engine(self.env["DATABASE_URL"])
        with Session(engine) as session:
            session.merge(row)
            session.commit()
        engine.dispose()

    def operator_api(self, method: str, path: str) -> Any:
        """The backend's operator API, as the console calls it (for op-marta)."""
        response = requests.request(
            method,
            f"{self.backend_url}/api/v1/operator{path}",
            headers={
                "Authorization": f"Bearer {self.env['CONSOLE_SERVICE_TOKEN']}",
                "X-Operator-Id": "op-marta",
                "Idempotency-Key": uuid.uuid4().hex,
            },
            timeout=5,
        )
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def ticket_of(self, conversation_id: str) -> dict[str, Any]:
        """The conversation's open handoff ticket, as the backend has it."""
        tickets = self.operator_api("get", "/handoff/tickets")["tickets"]
        found = [t for t in tickets if t["conversation_id"] == conversation_id]
        assert found, f"no open ticket for {conversation_id}"
        return dict(found[0])

    def buyer_get(self, token: str, path: str) -> Any:
        """Read the backend as the storefront does, to check what a conversation did."""
        response = requests.get(
            f"{self.backend_url}/api/v1{path}",
            headers={
                "Authorization": f"Bearer {self.env['STOREFRONT_SERVICE_TOKEN']}",
                "X-Buyer-Token": token,
            },
            timeout=5,
        )
        response.raise_for_status()
        return response.json()


class Conversation:
    """One buyer talking through the REST channel, as the web page would."""

    def __init__(self, stack: RunningStack, buyer_id: str | None, sender: str) -> None:
        self.stack = stack
        self.sender = sender
        self.token = stack.chat_token(buyer_id) if buyer_id else None
        self.replies: list[dict[str, Any]] = []

    def say(self, text: str) -> str:
        """Send `text`; return all the bot's texts of that turn joined by newlines."""
        metadata = {"chat_token": self.token} if self.token else {}
        self.replies = self.stack.say(self.sender, text, metadata)
        assert self.replies, f"no answer to {text!r}"
        return "\n".join(str(r.get("text", "")) for r in self.replies)

    def buttons(self) -> list[str]:
        return [b["payload"] for r in self.replies for b in r.get("buttons") or []]


def fresh_overrides(var_dir: Path, secret_names: tuple[str, ...]) -> dict[str, str]:
    """What every stack the tests start is given (here and tests/cluster): fresh secrets,
    the test mode, a data folder of its own, and Telegram and Messenger on, talking to the
    fake platforms (started here, before the stack)."""
    overrides = {name: secrets.token_urlsafe(24) for name in secret_names}
    fake = fakes.platforms()
    overrides.update(
        {
            "APP_ENV": "test",
            "VAR_DIR": str(var_dir),
            "EVIDENCE_DIR": str(var_dir / "evidence"),
            "OUTBOX_DIR": str(var_dir / "outbox"),
            "TELEGRAM_BOT_TOKEN": fakes.TELEGRAM_TOKEN,
            "TELEGRAM_API_URL": fake.telegram_url,
            "FACEBOOK_PAGE_ACCESS_TOKEN": fakes.PAGE_TOKEN,
            "FACEBOOK_APP_SECRET": secrets.token_hex(16),
            "FACEBOOK_API_URL": fake.graph_url,
        }
    )
    return overrides


def stack_environment(var_dir: Path) -> dict[str, str]:
    overrides = fresh_overrides(var_dir, stack_module.SECRET_NAMES)
    overrides.update(
        {
            "BACKEND_PORT": str(free_port()),
            "ACTION_PORT": str(free_port()),
            "RASA_PORT": str(free_port()),
            "WEB_PORT": str(free_port()),
            "CONSOLE_PORT": str(free_port()),  # the console (5th service) must not take 8090
            "DATABASE_URL": f"sqlite:///{var_dir / 'backend.db'}",
            "RASA_TRACKER_DB": str(var_dir / "rasa" / "tracker.db"),
            # Messenger's real window: a test reaches "after it" with a message whose own
            # timestamp is older (a delivery retried late), never by waiting
            "FACEBOOK_MESSAGING_WINDOW_SECONDS": "86400",
        }
    )
    env: dict[str, str] = stack_module.build_environment(overrides)
    return env


@contextmanager
def starting(stack: Any) -> Iterator[None]:
    """Around a stack's start-up (here and tests/cluster): without a trained model, or if
    it fails (a port taken, a service that does not come up), what started is stopped and
    the test session fails with the reason."""
    model = Path(stack.env["MODEL_PATH"])
    if not model.exists():
        pytest.fail(f"no trained model at {model}: run `make model` first")
    try:
        yield
    except stack_module.StackError as error:
        stack.stop()
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = stack_environment(tmp_path_factory.mktemp("stack"))
    running = stack_module.Stack(env)
    with starting(running):
        running.check_ports()
        running.prepare_backend()
        running.start()
    yield RunningStack(env, running)
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/ensure-chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def platforms() -> fakes.FakePlatforms:
    """The fake Telegram Bot API and Graph API the stack's channels talk to."""
    return fakes.platforms()
