"""Fake Telegram Bot API and Facebook Graph API on 127.0.0.1, speaking their wire format.

One small HTTP server answers both: `/telegram/bot<token>/<method>` (JSON `{"ok": true,
"result": ...}`, `getFile`, and `/telegram/file/bot<token>/<path>` for downloads) and
`/graph/me/messages?access_token=` (Send API) plus `/graph/files/<name>` (attachment URLs).
Everything the bot sends is recorded, for the tests to read.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TELEGRAM_TOKEN = "123456:TEST-telegram-bot-token"
PAGE_TOKEN = "EAAtest-page-access-token"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


class FakePlatforms:
    def __init__(self) -> None:
        self.telegram: list[tuple[str, dict[str, Any]]] = []  # (method, params)
        self.graph: list[dict[str, Any]] = []  # Send API bodies
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def telegram_url(self) -> str:
        return f"{self.url}/telegram"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/graph"

    def sent_to_telegram(self, chat_id: int | str, method: str = "sendMessage") -> list[dict]:
        with self.lock:
            return [
                p for m, p in self.telegram if m == method and str(p.get("chat_id")) == str(chat_id)
            ]

    def sent_to_messenger(self, user_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.graph if b.get("recipient", {}).get("id") == user_id]

    def wait_for(self, read: Callable[[], list[Any]], count: int, timeout: float = 20) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = read()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return read()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """PlatformsHandler bound to this fake (http.server makes one handler per request)."""
        this_fake = self

        class Handler(PlatformsHandler):
            fake = this_fake

        return Handler


class PlatformsHandler(BaseHTTPRequestHandler):
    """One request to the fake platforms: routed by path, recorded in the fake."""

    fake: FakePlatforms

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        self._bytes(json.dumps(body).encode(), "application/json", status)

    def _bytes(self, data: bytes, kind: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _params(self) -> dict[str, Any]:
        url = urlparse(self.path)
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw and "json" in (self.headers.get("Content-Type") or ""):
            params.update(json.loads(raw))
        return params

    def do_GET(self) -> None:
        self.route("GET")

    def do_POST(self) -> None:
        self.route("POST")

    def route(self, verb: str) -> None:
        path = urlparse(self.path).path
        if path.startswith("/telegram/file/bot"):
            return self.telegram_file(path.removeprefix("/telegram/file/bot"))
        if path.startswith("/telegram/bot"):
            return self.telegram_call(path.removeprefix("/telegram/bot"))
        if path == "/graph/me/messages" and verb == "POST":
            return self.messenger_send()
        if path.startswith("/graph/files/"):
            return self._bytes(JPEG, "image/jpeg")
        return self._json(404, {"error": "not found"})

    def telegram_file(self, rest: str) -> None:
        """`/telegram/file/bot<token>/<path>`: a file's bytes (always the JPEG)."""
        token = rest.split("/", 1)[0]
        if token != TELEGRAM_TOKEN:
            return self._json(404, {"ok": False, "error_code": 404})
        return self._bytes(JPEG, "image/jpeg")

    def telegram_call(self, rest: str) -> None:
        """`/telegram/bot<token>/<method>`: a Bot API call, recorded."""
        token, _, method = rest.partition("/")
        params = self._params()
        if token != TELEGRAM_TOKEN:
            return self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        with self.fake.lock:
            self.fake.telegram.append((method, params))
        return self._json(200, {"ok": True, "result": telegram_result(method, params)})

    def messenger_send(self) -> None:
        """`POST /graph/me/messages?access_token=`: Messenger's Send API, recorded."""
        params = self._params()
        if params.get("access_token") != PAGE_TOKEN:
            error = {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}
            return self._json(400, {"error": error})
        params.pop("access_token", None)
        with self.fake.lock:
            self.fake.graph.append(params)
            sent = len(self.fake.graph)
        recipient = params.get("recipient", {}).get("id")
        return self._json(200, {"recipient_id": recipient, "message_id": f"m_{sent}"})


def telegram_result(method: str, params: dict[str, Any]) -> Any:
    if method == "getFile":
        return {
            "file_id": params.get("file_id"),
            "file_unique_id": "u1",
            "file_size": len(JPEG),
            "file_path": f"photos/{params.get('file_id')}.jpg",
        }
    if method == "answerCallbackQuery":
        return True
    chat_id = params.get("chat_id")
    return {
        "message_id": 1,
        "date": int(time.time()),
        "text": params.get("text", ""),
        "chat": {"id": chat_id, "type": "private"},
    }


@functools.cache
def platforms() -> FakePlatforms:
    """The one fake for the test session, started on first use."""
    return FakePlatforms()
