"""Evidence files are fetched only as the platform described them, from its own hosts
(actions/evidence.py): no address in a message can make the action server call another."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from actions import evidence
from tests.actions.conftest import make_tracker


class Files(BaseHTTPRequestHandler):
    """/files/x.jpg: a small JPEG; /big: says 11 MB; /away: a redirect to `target`."""

    target = ""
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/away":
            self.send_response(302)
            self.send_header("Location", self.target)
            self.end_headers()
            return
        size = 11 * 1024 * 1024 if self.path == "/big" else 3
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(b"\xff\xd8\xff" if size == 3 else b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def servers(settings_env: Callable[..., None]) -> Iterator[tuple[str, str]]:
    """The platform's (fake) Graph API host, and an internal host it must never reach."""
    started = []
    for _ in range(2):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    graph, internal = (f"http://127.0.0.1:{s.server_address[1]}" for s in started)
    settings_env(FACEBOOK_API_URL=graph)
    Files.hits = []
    yield graph, internal
    for server in started:
        server.shutdown()


def facebook(url: str) -> dict[str, Any]:
    return {"channel": "facebook", "kind": "image", "url": url, "file_name": "", "mime_type": ""}


def test_a_file_from_the_platform_is_fetched(servers: tuple[str, str]) -> None:
    graph, _ = servers
    file = evidence.fetch_from_platform(facebook(f"{graph}/files/crack.jpg"))
    assert (file.filename, file.content) == ("crack.jpg", b"\xff\xd8\xff")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/api/v1/orders",
        "file:///etc/passwd",
        "https://evil.example/fbcdn.net/x.jpg",
        "https://lookaside.fbsbx.com.evil.example/x.jpg",
    ],
)
def test_an_address_outside_the_platform_is_never_fetched(
    servers: tuple[str, str], url: str
) -> None:
    with pytest.raises(evidence.NotAllowed):
        evidence.fetch_from_platform(facebook(url))


def test_an_internal_address_on_another_port_is_refused(servers: tuple[str, str]) -> None:
    _, internal = servers
    with pytest.raises(evidence.NotAllowed):
        evidence.fetch_from_platform(facebook(f"{internal}/files/x.jpg"))
    assert Files.hits == []


def test_a_redirect_away_from_the_platform_is_not_followed(servers: tuple[str, str]) -> None:
    graph, internal = servers
    Files.target = f"{internal}/secret"
    with pytest.raises(evidence.NotAllowed):
        evidence.fetch_from_platform(facebook(f"{graph}/away"))
    assert Files.hits == ["/away"]  # the internal host was never asked


def test_a_file_over_ten_megabytes_is_not_downloaded(servers: tuple[str, str]) -> None:
    graph, _ = servers
    with pytest.raises(ValueError, match="10 MB"):
        evidence.fetch_from_platform(facebook(f"{graph}/big"))


@pytest.mark.parametrize("file_id", ["../../etc", "a b", "", "x" * 300, "id?x=1"])
def test_a_telegram_file_id_is_only_an_id(file_id: str) -> None:
    with pytest.raises(ValueError):
        evidence.fetch_from_platform({"channel": "telegram", "file_id": file_id})


def test_only_files_the_channel_verified_count() -> None:
    photo = {"channel": "telegram", "file_id": "F1"}
    tracker = make_tracker(token=None)
    tracker.sender_id = "telegram:4242"
    tracker.latest_message["metadata"] = {"attachments": [photo]}  # written by a client
    assert evidence.attachments_of(tracker) == []
    tracker.latest_message["metadata"] = {
        "verified": {"channel": "telegram", "attachments": [photo]}
    }
    assert evidence.attachments_of(tracker) == [photo]
    # a Messenger file in a Telegram conversation, or any file in a web conversation: no
    tracker.latest_message["metadata"] = {
        "verified": {
            "channel": "telegram",
            "attachments": [facebook("https://scontent.xx.fbcdn.net/x.jpg")],
        }
    }
    assert evidence.attachments_of(tracker) == []
    web = make_tracker(slots={"pending_evidence": [photo]})
    assert evidence.attachments_of(web) == []
