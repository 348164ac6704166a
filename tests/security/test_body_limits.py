"""Finding 8: oversized and chunked bodies to the backend and to Rasa.

Each is refused with 413, quickly, whether it declares its length or is sent chunked
without one; where the service answers JSON the refusal is application/problem+json. The
web page and the console refuse an oversized form with a 4xx as well. Never a hang, never a
500.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.security.conftest import RunningStack, chat_token, dispute_ids

QUICK_SECONDS = 5.0
PROBLEM = "application/problem+json"


def body(size: int, *, chunked: bool) -> bytes | Iterator[bytes]:
    """`size` bytes of a JSON string, in one piece (Content-Length) or chunked (none)."""
    if not chunked:
        return b'{"a": "' + b"a" * size + b'"}'

    def pieces() -> Iterator[bytes]:
        yield b'{"a": "'
        for _ in range(size // 65536):
            yield b"a" * 65536
        yield b'"}'

    return pieces()


def post(
    url: str, data: bytes | Iterator[bytes], headers: dict[str, str] | None = None
) -> tuple[requests.Response, float]:
    started = time.monotonic()
    sent = {"Content-Type": "application/json", **(headers or {})}
    answer = requests.post(url, data=data, headers=sent, timeout=60)
    return answer, time.monotonic() - started


@pytest.mark.parametrize("chunked", [False, True])
def test_backend_refuses_oversized_json_with_a_problem(stack: RunningStack, chunked: bool) -> None:
    storefront = {"Authorization": f"Bearer {stack.env['STOREFRONT_SERVICE_TOKEN']}"}
    for headers in ({}, storefront):  # an outsider, and the project's own client
        answer, took = post(
            f"{stack.backend_url}/api/v1/storefront/chat-tokens",
            body(5 * 1024 * 1024, chunked=chunked),
            headers=headers,
        )
        assert answer.status_code == 413, answer.text[:300]
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert answer.json()["status"] == 413
        assert took < QUICK_SECONDS
    # the same route with a normal body still works
    normal = requests.post(
        f"{stack.backend_url}/api/v1/storefront/chat-tokens",
        headers=storefront,
        json={"buyer_id": "carla"},
        timeout=10,
    )
    assert normal.status_code == 200


def test_backend_refuses_an_oversized_chunked_evidence_upload(stack: RunningStack) -> None:
    token = chat_token(stack, "carla")
    dispute = dispute_ids(stack, "carla")[0]
    boundary = "securityboundary"

    def multipart() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        for _ in range(12 * 16):  # 12 MB, over the 10 MB evidence limit
            yield b"\xff" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {
        "Authorization": f"Bearer {stack.env['STOREFRONT_SERVICE_TOKEN']}",
        "X-Buyer-Token": token,
        "Idempotency-Key": "security-big-upload",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    started = time.monotonic()
    answer = requests.post(
        f"{stack.backend_url}/api/v1/disputes/{dispute}/evidence",
        data=multipart(),
        headers=headers,
        timeout=60,
    )
    assert answer.status_code == 413, answer.text[:300]
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert time.monotonic() - started < QUICK_SECONDS
    listed = requests.get(
        f"{stack.backend_url}/api/v1/disputes/{dispute}/evidence", headers=headers, timeout=10
    )
    assert listed.status_code == 200 and all(e["description"] != "big.jpg" for e in listed.json())


@pytest.mark.parametrize("chunked", [False, True])
def test_rasa_refuses_oversized_bodies_on_every_route(stack: RunningStack, chunked: bool) -> None:
    token = stack.env["RASA_API_TOKEN"]
    urls = [
        "/webhooks/rest/webhook",
        "/webhooks/telegram/webhook",
        "/webhooks/facebook/webhook",
        f"/model/parse?token={token}",
        f"/conversations/big/messages?token={token}",
        "/socket.io/?EIO=4&transport=polling",
    ]
    for path in urls:
        answer, took = post(stack.rasa_url + path, body(5 * 1024 * 1024, chunked=chunked))
        assert answer.status_code == 413, (path, answer.status_code, answer.text[:200])
        assert took < QUICK_SECONDS, path
    # The REST channel answers problems as application/problem+json; so does its 413.
    answer, _ = post(
        f"{stack.rasa_url}/webhooks/rest/webhook", body(5 * 1024 * 1024, chunked=chunked)
    )
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers["content-type"]
    assert answer.json()["status"] == 413


def test_web_page_and_console_refuse_oversized_forms(stack: RunningStack) -> None:
    console = f"http://{stack.env['HOST']}:{stack.env['CONSOLE_PORT']}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for url in (f"{stack.web_url}/signin", f"{console}/login"):
        for data in (
            b"csrf=" + b"a" * (5 * 1024 * 1024),
            b"&".join(b"f%d=%s" % (i, b"a" * 1000) for i in range(5000)),
        ):
            answer, took = post(url, data, headers=form)
            assert 400 <= answer.status_code < 500, (url, answer.status_code, answer.text[:200])
            assert took < QUICK_SECONDS
