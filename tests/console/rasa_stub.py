"""A small HTTP server on 127.0.0.1 that answers the three Rasa endpoints the console uses.

Why not the real Rasa here: it needs a trained model and about a minute to start, and these
tests stop and restart it in the middle of a test. tests/e2e runs the console against the real
Rasa server. This server speaks the same wire format as Rasa 3.6's `rasa/server.py`:

- `GET  /conversations/{id}/tracker?include_events=ALL&token=T`: the tracker's current state
  (`sender_id`, `paused`, `events`, ...);
- `POST /conversations/{id}/tracker/events?execute_side_effects=true&output_channel=latest`:
  one event (or a list) appended; answers with the tracker; with side effects, a `bot` event
  is sent to the buyer's channel (here: recorded in `delivered`);
- `GET  /domain` (Accept: application/json): the domain, whose `responses` are read from the
  project's real domain.yml;
- a missing or wrong `token` is 401 with Rasa's error body, as `--auth-token` does.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

DOMAIN = Path(__file__).resolve().parents[2] / "domain.yml"
TRACKER = re.compile(r"^/conversations/(?P<id>.+)/tracker$")
EVENTS = re.compile(r"^/conversations/(?P<id>.+)/tracker/events$")
KNOWN_EVENTS = {"user", "bot", "action", "pause", "resume", "restart", "session_started", "slot"}


def _responses() -> dict[str, Any]:
    domain = yaml.safe_load(DOMAIN.read_text())
    responses: dict[str, Any] = domain["responses"]
    return responses


class RasaStub:
    """Start with `start()`; `stop()` makes it unreachable (connection refused) and `start()`
    brings it back on the same port with the same conversations."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.trackers: dict[str, list[dict[str, Any]]] = {}
        self.delivered: list[tuple[str, str]] = []  # (conversation, text) sent to the buyer
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.responses = _responses()
        self.lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- the server ------------------------------------------------------------------------

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub._handle(self, "GET")

            def do_POST(self) -> None:
                stub._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            self.requests.append((method, url.path))
        if query.get("token") != self.token:
            body = {
                "version": "3.6.21",
                "status": "failure",
                "reason": "NotAuthenticated",
                "message": "User is not authenticated.",
                "code": 401,
            }
            self._send(handler, 401, body)
            return
        status, body = self._route(handler, method, url.path, query)
        self._send(handler, status, body)

    def _route(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str]
    ) -> tuple[int, Any]:
        if method == "GET" and path == "/domain":
            if not handler.headers.get("Accept", "application/json").endswith("json"):
                return 406, {"status": "failure", "reason": "NotAcceptable", "code": 406}
            return 200, {"responses": self.responses}
        if method == "GET" and (found := TRACKER.match(path)):
            return 200, self.state(unquote(found["id"]))
        if method == "POST" and (found := EVENTS.match(path)):
            length = int(handler.headers.get("Content-Length", "0"))
            payload = json.loads(handler.rfile.read(length) or b"null")
            events = payload if isinstance(payload, list) else [payload]
            if not events or any(e.get("event") not in KNOWN_EVENTS for e in events):
                return 400, {"status": "failure", "reason": "BadRequest", "code": 400}
            conversation = unquote(found["id"])
            self.append(conversation, events, side_effects=query.get("execute_side_effects"))
            return 200, self.state(conversation)
        return 404, {"status": "failure", "reason": "NotFound", "code": 404}

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # --- conversations ---------------------------------------------------------------------

    def append(
        self, conversation: str, events: list[dict[str, Any]], side_effects: str | None = None
    ) -> None:
        with self.lock:
            tracker = self.trackers.setdefault(conversation, [])
            for event in events:
                stamped = {"timestamp": time.time(), **event}
                tracker.append(stamped)
                if side_effects == "true" and stamped["event"] == "bot":
                    self.delivered.append((conversation, str(stamped.get("text", ""))))

    def state(self, conversation: str) -> dict[str, Any]:
        with self.lock:
            events = list(self.trackers.get(conversation, []))
        return {
            "sender_id": conversation,
            "slots": {},
            "latest_message": None,
            "latest_event_time": events[-1]["timestamp"] if events else None,
            "followup_action": None,
            "paused": self.paused(conversation),
            "events": events,
            "latest_input_channel": None,
            "active_loop": {},
            "latest_action": None,
            "latest_action_name": None,
        }

    def paused(self, conversation: str) -> bool:
        """As Rasa's tracker: `pause` pauses; `resume`, `restart` and a new session end it."""
        paused = False
        for event in self.trackers.get(conversation, []):
            if event["event"] == "pause":
                paused = True
            elif event["event"] in ("resume", "restart", "session_started"):
                paused = False
        return paused

    def hand_over(self, conversation: str, *said: str) -> None:
        """What the assistant's handoff leaves in a tracker: the request, the pause, and what
        the buyer writes while paused."""
        self.append(conversation, [{"event": "user", "text": "/request_human"}, {"event": "pause"}])
        self.append(conversation, [{"event": "user", "text": text} for text in said])

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] == "POST"]

    def texts(self, conversation: str) -> list[str]:
        return [t for c, t in self.delivered if c == conversation]

    def response_text(self, name: str, **values: str) -> str:
        text = str(self.responses[name][0]["text"])
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text
