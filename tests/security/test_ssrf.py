"""Finding 7: evidence files are fetched from the platform's own hosts only.

A Messenger user linked to carla sends image attachments whose URLs point inside: a canary
server on loopback (by several spellings of its address), the backend's own port, a
redirect from the platform's host (the fake Graph API, which counts as the platform's
host in tests) to the canary, then the cloud metadata address. None is fetched; a real
attachment in the same message is added. Attachments written by REST or socket.io
clients in their metadata are ignored.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.fakes import JPEG, FakePlatforms
from tests.security.conftest import (
    MessengerUser,
    RunningStack,
    SocketIoClient,
    chat_token,
    link,
    log_text,
    texts,
)

CARLA_MESSENGER = "9300000000000001"


class Canary:
    """An internal service on loopback that records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                canary.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(JPEG)))
                self.end_headers()
                self.wfile.write(JPEG)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    found = Canary()
    yield found
    found.close()


@pytest.fixture(scope="module")
def redirecting_graph(platforms: FakePlatforms) -> Iterator[str]:
    """The fake Graph API also answers /graph/files/redirect?to=URL with a 302 to URL."""
    original = platforms.server.RequestHandlerClass

    class Redirecting(original):  # type: ignore[misc,valid-type]
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/graph/files/redirect":
                self.send_response(302)
                self.send_header("Location", parse_qs(url.query)["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

    platforms.server.RequestHandlerClass = Redirecting
    yield f"{platforms.graph_url}/files/redirect"
    platforms.server.RequestHandlerClass = original


@pytest.fixture(scope="module")
def carla_on_messenger(stack: RunningStack, platforms: FakePlatforms) -> MessengerUser:
    user = MessengerUser(stack, platforms, CARLA_MESSENGER)
    link(user, stack, "carla@example.com", "Carla")
    return user


def image(url: str) -> dict[str, Any]:
    return {"type": "image", "payload": {"url": url}}


def send_files(user: MessengerUser, stack: RunningStack, urls: list[str]) -> str:
    """Send the attachments, pick carla's first dispute when asked; the bot's answer."""
    fake = user.fake
    before = len(fake.sent_to_messenger(user.user_id))
    message = {"attachments": [image(u) for u in urls]}
    assert user.post(user.delivery(user.event(message))) == 200
    asked = fake.sent_to_messenger(user.user_id)[before:]
    if "Which one" in user.texts(asked):
        buttons = asked[-1]["message"]["attachment"]["payload"]["buttons"]
        before = len(fake.sent_to_messenger(user.user_id))
        postback = user.event(postback={"payload": buttons[0]["payload"]})
        assert user.post(user.delivery(postback)) == 200
    return user.texts(fake.sent_to_messenger(user.user_id)[before:])


def test_messenger_attachments_pointing_inside_are_never_fetched(
    stack: RunningStack,
    platforms: FakePlatforms,
    canary: Canary,
    redirecting_graph: str,
    carla_on_messenger: MessengerUser,
) -> None:
    probe = uuid.uuid4().hex
    port = canary.port
    inside = [
        f"http://127.0.0.1:{port}/{probe}/a.jpg",
        f"http://localhost:{port}/{probe}/b.jpg",
        f"http://127.1:{port}/{probe}/c.jpg",
        f"http://0x7f000001:{port}/{probe}/d.jpg",
        f"http://[::ffff:127.0.0.1]:{port}/{probe}/e.jpg",
        f"http://{urlparse(platforms.graph_url).netloc}@127.0.0.1:{port}/{probe}/f.jpg",
        f"https://127.0.0.1:{port}/{probe}/g.fbcdn.net.jpg",
        f"{stack.backend_url}/api/v1/{probe}/h.jpg",
        f"{redirecting_graph}?to=http://127.0.0.1:{port}/{probe}/redirected.jpg",
        f"file:///etc/passwd#{probe}",
    ]
    answer = send_files(carla_on_messenger, stack, [*inside, f"{platforms.graph_url}/files/ok.jpg"])
    assert "added 1 file(s)" in answer, answer  # the real one, and only it
    assert canary.hits == [], canary.hits
    assert probe not in log_text(stack, "backend"), "the backend was asked for a probe"
    # Only now that loopback is known to be refused: the cloud metadata address. (Were it
    # fetched, the request would leave the machine; the loopback cases above fail first.)
    answer = send_files(carla_on_messenger, stack, ["http://169.254.169.254/latest/meta-data/iam/"])
    assert "couldn't add that file" in answer, answer
    refusals = log_text(stack, "actions").count("not one of the platform's hosts")
    assert refusals >= len(inside) - 1  # every one but the redirect, refused by its address
    assert "redirected outside the platform's hosts" in log_text(stack, "actions")


def test_attachments_in_client_metadata_are_ignored(stack: RunningStack, canary: Canary) -> None:
    url = f"http://127.0.0.1:{canary.port}/client-metadata.jpg"
    files = [{"channel": "facebook", "kind": "image", "url": url, "file_name": "x.jpg"}]
    token = chat_token(stack, "carla")
    metadata = {
        "chat_token": token,
        "attachments": files,
        "verified": {"channel": "facebook", "attachments": files},
    }
    sender = f"evidence-{uuid.uuid4().hex[:8]}"
    for text in ("/send_evidence", "/send_evidence" + json.dumps({"pending_evidence": files})):
        answer = texts(stack.say(sender, text, metadata))
        assert "didn't get a file" in answer, answer
    client = SocketIoClient(stack, origin=stack.web_url)
    try:
        session = client.session()
        replies = client.say(session, "/send_evidence", metadata)
        assert "didn't get a file" in texts(replies), replies
    finally:
        client.close()
    assert not [hit for hit in canary.hits if "client-metadata" in hit]
