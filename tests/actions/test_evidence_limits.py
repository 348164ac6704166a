"""A file over 10 MB sent on Telegram or Messenger is never added: the action downloads it
with its real fetcher from a platform served on loopback, and tells the buyer it was not
added, whether the platform announces the size or streams the file without one."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import CHANNEL_IDENTITY, Credential, NewDispute
from actions.evidence import MAX_BYTES, ActionAttachEvidence
from tests.actions.conftest import responses
from tests.actions.fake_backend import InMemoryChannelBackend, make_order
from tests.actions.test_accounts import channel_tracker

JPEG_HEAD = b"\xff\xd8\xff\xe0"
CHUNK = 64 * 1024


class Platform(BaseHTTPRequestHandler):
    """Telegram's Bot API (getFile, then /file/...) and Messenger's file host in one:
    every file is a JPEG of `size` bytes, announced with Content-Length or streamed in
    chunks without one."""

    protocol_version = "HTTP/1.1"
    size: ClassVar[int] = 0
    announced: ClassVar[bool] = True
    served: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.served.append(self.path.split("?")[0])
        if "/getFile" in self.path:
            self._send(b'{"ok": true, "result": {"file_path": "photos/file_1.jpg"}}')
            return
        body = JPEG_HEAD + b"\0" * (self.size - len(JPEG_HEAD))
        if self.announced:
            self._send(body)
            return
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, len(body), CHUNK):
                piece = body[start : start + CHUNK]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading once past the limit: as it should

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def platform(settings_env: Callable[..., None]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Platform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    settings_env(TELEGRAM_API_URL=url, TELEGRAM_BOT_TOKEN="123:test", FACEBOOK_API_URL=url)
    Platform.served = []
    yield url
    server.shutdown()
    server.server_close()


def attachment(channel: str, url: str) -> dict[str, Any]:
    if channel == "telegram":
        return {"channel": "telegram", "kind": "photo", "file_id": "AgADBAAD", "caption": "x"}
    return {
        "channel": "facebook",
        "kind": "image",
        "url": f"{url}/files/crack.jpg",
        "file_name": "",
        "mime_type": "image/jpeg",
        "caption": "x",
    }


def linked_backend(channel: str) -> InMemoryChannelBackend:
    backend = InMemoryChannelBackend()
    account = f"{channel}:4242"
    backend.tokens[f"channel:{account}"] = "alice"
    backend.add_order("alice", make_order())
    buyer = Credential(f"identity:{account}", account, kind=CHANNEL_IDENTITY)
    request = NewDispute("8123456789012345", "damaged", "full_refund", None, False, "Broken.")
    backend.open_dispute(buyer, request, idempotency_key="open")
    return backend


async def send(channel: str, url: str, size: int, announced: bool) -> tuple[Any, Any]:
    Platform.size, Platform.announced = size, announced
    backend, dispatcher = linked_backend(channel), CollectingDispatcher()
    action = ActionAttachEvidence(backend)  # the real fetcher
    tracker = channel_tracker(channel=channel, files=[attachment(channel, url)])
    await action.run(dispatcher, tracker, {})
    return backend, dispatcher


@pytest.mark.parametrize("channel", ["telegram", "facebook"])
@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
async def test_a_file_over_ten_megabytes_is_not_added(
    platform: str, channel: str, announced: bool
) -> None:
    backend, dispatcher = await send(channel, platform, MAX_BYTES + 1, announced)
    assert responses(dispatcher) == ["utter_evidence_not_added"]
    # refused at the download: never sent on to the backend (whose own limit is a backstop)
    assert [call for call, _ in backend.calls if call == "add_evidence"] == []
    assert backend.evidence == []
    assert Platform.served[-1].endswith(("file_1.jpg", "crack.jpg"))  # it did try the file


@pytest.mark.parametrize("channel", ["telegram", "facebook"])
async def test_a_file_of_exactly_ten_megabytes_is_added(platform: str, channel: str) -> None:
    backend, dispatcher = await send(channel, platform, MAX_BYTES, announced=False)
    assert responses(dispatcher) == ["utter_evidence_added"]
    [(_, _, file)] = backend.evidence
    assert len(file.content) == MAX_BYTES == 10 * 1024 * 1024
