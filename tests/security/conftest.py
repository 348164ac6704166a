"""The real stack, started once for the session by tests/e2e's fixture, and what an outsider
needs to attack it: webhooks signed (or not) like the platforms', a raw socket.io client,
the tracker as Rasa keeps it, and the stack's log files.

The fixtures are tests/e2e's own (imported, not copied); this file adds only what attacks
need on top of them.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import RunningStack, platforms, stack
from tests.e2e.fakes import FakePlatforms
from tests.e2e.test_channels import MessengerUser, TelegramUser, outbox_code

__all__ = ["MessengerUser", "RunningStack", "TelegramUser", "outbox_code", "platforms", "stack"]

# Carla, the buyer whose account the impersonation attacks go after.
CARLA_TELEGRAM = 71001
CARLA_DISPUTES_WORDS = ("Bluetooth speaker", "Running shoes")


def var_dir(stack: RunningStack) -> Path:
    return Path(stack.env["VAR_DIR"])


def log_text(stack: RunningStack, name: str) -> str:
    path = var_dir(stack) / "log" / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def tracker(stack: RunningStack, conversation: str) -> dict[str, Any]:
    """The conversation as Rasa stores it (its HTTP API, with the token)."""
    response = requests.get(
        f"{stack.rasa_url}/conversations/{conversation}/tracker",
        params={"token": stack.env["RASA_API_TOKEN"]},
        timeout=10,
    )
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def user_turns(stack: RunningStack, conversation: str) -> list[dict[str, Any]]:
    return [e for e in tracker(stack, conversation)["events"] if e.get("event") == "user"]


def disputes_of(stack: RunningStack, buyer_id: str) -> list[dict[str, Any]]:
    """The buyer's disputes as the backend has them (read with a fresh storefront token)."""
    found: list[dict[str, Any]] = stack.buyer_get(chat_token(stack, buyer_id), "/disputes")
    return found


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text") or "") for r in replies)


def rest_post(stack: RunningStack, body: Any, **kwargs: Any) -> requests.Response:
    """A raw request to the REST channel, as anyone on the network can send it."""
    return requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=60, **kwargs)


class SocketIoClient:
    """A bare socket.io (Engine.IO 4) client over one websocket: what the web chat speaks,
    without the widget's manners."""

    def __init__(self, stack: RunningStack, origin: str | None = None) -> None:
        host = stack.rasa_url.removeprefix("http://")
        headers = {"Origin": origin} if origin else None
        self._connection = connect(
            f"ws://{host}/socket.io/?EIO=4&transport=websocket",
            additional_headers=headers,
            max_size=2**22,
            open_timeout=10,
        )
        self.ws: ClientConnection = self._connection.__enter__()
        opened = self.ws.recv(timeout=10)
        assert str(opened).startswith("0"), opened
        self.ws.send("40")
        self.expect(lambda p: p.startswith("40"))

    def expect(self, wanted: Any, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no such packet in time")
            packet = str(self.ws.recv(timeout=left))
            if packet == "2":  # the server's ping
                self.ws.send("3")
                continue
            if wanted(packet):
                return packet

    def emit(self, event: str, data: Any) -> None:
        self.ws.send("42" + json.dumps([event, data]))

    def event(self, name: str, timeout: float = 30) -> Any:
        prefix = f'42["{name}"'
        packet = self.expect(lambda p: p.startswith(prefix), timeout)
        return json.loads(packet[2:])[1]

    def session(self, asked: str | None = None) -> str:
        self.emit("session_request", {"session_id": asked} if asked is not None else {})
        confirmed: str = self.event("session_confirm")
        return confirmed

    def say(
        self, session_id: str, text: Any, metadata: Any = None, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Send one message; the bot's messages until it has been quiet for a moment."""
        data: dict[str, Any] = {"message": text, "session_id": session_id}
        if metadata is not None:
            data["customData"] = metadata
        self.emit("user_uttered", data)
        replies = [self.event("bot_uttered", timeout)]
        while True:
            try:
                replies.append(self.event("bot_uttered", timeout=0.5))
            except TimeoutError:
                return replies

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


def new_sender(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# What the suite sent that must never reach a log (test_zz_log_redaction.py reads it): chat
# tokens, signed identities, link codes, passwords.
NEVER_LOGGED: set[str] = set()


def remember(*values: str) -> None:
    NEVER_LOGGED.update(v for v in values if v)


def chat_token(stack: RunningStack, buyer_id: str) -> str:
    token = stack.chat_token(buyer_id)
    remember(token)
    return token


def dispute_ids(stack: RunningStack, buyer_id: str) -> list[str]:
    return [str(d["id"]) for d in disputes_of(stack, buyer_id)]


def link(user: TelegramUser | MessengerUser, stack: RunningStack, email: str, name: str) -> None:
    """The real linking flow: ask, get the code from the dev outbox, type it back."""
    assert "e-mail address" in user.say("link my account")
    assert "on its way" in user.say(email)
    code = outbox_code(stack, email)
    remember(code)
    answer = user.say(code)
    assert f"Done, {name}" in answer, answer


@pytest.fixture(scope="session")
def carla_on_telegram(stack: RunningStack, platforms: FakePlatforms) -> TelegramUser:
    """A Telegram chat linked to carla through the real flow (fake Telegram, dev outbox)."""
    user = TelegramUser(stack, platforms, CARLA_TELEGRAM)
    link(user, stack, "carla@example.com", "Carla")
    return user


SECRET_SUFFIXES = ("_TOKEN", "_SECRET", "_PASSWORD", "_KEY")


def stack_secret_values(stack: RunningStack) -> set[str]:
    """Every secret value of the stack's environment (by the variable's name)."""
    return {v for k, v in stack.env.items() if k.endswith(SECRET_SUFFIXES) and len(v) >= 8}
