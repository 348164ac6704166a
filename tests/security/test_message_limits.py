"""Finding 4: huge, empty and binary messages through REST, socket.io and Telegram.

A 5 MB body is refused (413) before it is read, or its text answered with the "too long"
reply, quickly; meanwhile another conversation's "hi" is answered without delay, and the
tracker store does not grow by more than a few KB. Empty messages and messages of control
characters, NUL bytes or lone surrogates, and metadata nested hundreds of levels deep, get a
helpful reply: never an empty answer, never a 500.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed

from tests.e2e.fakes import FakePlatforms
from tests.security.conftest import (
    RunningStack,
    SocketIoClient,
    TelegramUser,
    chat_token,
    dispute_ids,
    log_text,
    new_sender,
    rest_post,
    texts,
    user_turns,
)

FIVE_MB = 5 * 1024 * 1024
TOO_LONG = "too long for me to read"
EMPTY = "didn't get any text"
# Quick enough that nobody waits, slow enough for this shared 2-core machine.
QUICK_SECONDS = 5.0
# The events of one short turn of a new conversation (a 5 MB text would be 5,000 KB).
TRACKER_GROWTH_LIMIT = 8 * 1024
ODD_TEXTS = [
    "",
    "   \t\n ",
    "\x00",
    "\x00\x01\x02\x1b[31m\x7f\x85\x9f",
    "\ud800",
    "\udfff\ud800",
    "\x00" * 3000,
    "\u200b\u200b",
]


def stored_bytes(stack: RunningStack, *, but: str = "") -> int:
    """What the tracker store holds (its events' data), but for one conversation."""
    path = Path(stack.env["RASA_TRACKER_DB"])
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        row = db.execute("SELECT sum(length(data)) FROM events WHERE sender_id != ?", (but,))
        return int(row.fetchone()[0] or 0)


BYSTANDER = "bystander-" + uuid.uuid4().hex[:8]


@contextmanager
def meanwhile_hi_is_quick(stack: RunningStack) -> Iterator[None]:
    """Another conversation says "hi" while the attack runs: answered within seconds."""
    sender = BYSTANDER
    stack.say(sender, "hi")  # its first turn (session start) out of the way
    with ThreadPoolExecutor(1) as pool:

        def timed() -> float:
            time.sleep(0.3)  # let the attack start
            started = time.monotonic()
            assert texts(stack.say(sender, "hi")).strip()
            return time.monotonic() - started

        future = pool.submit(timed)
        yield
        took = future.result(timeout=60)
    assert took < QUICK_SECONDS, f"a bystander's hi took {took:.1f} s"


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    yield b'{"sender": "chunked", "message": "'
    for _ in range(total // size):
        yield b"a" * size
    yield b'"}'


def test_rest_five_megabytes_is_refused_quickly_and_stores_nothing(stack: RunningStack) -> None:
    grown = stored_bytes(stack, but=BYSTANDER)
    huge = json.dumps({"sender": new_sender("huge"), "message": "a" * FIVE_MB})
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    headers = {"Content-Type": "application/json"}
    with meanwhile_hi_is_quick(stack), ThreadPoolExecutor(3) as pool:

        def one_huge() -> requests.Response:
            return requests.post(url, data=huge, headers=headers, timeout=60)

        posts = [pool.submit(timed, one_huge) for _ in range(3)]
        chunked = pool.submit(timed, lambda: requests.post(url, data=chunks(FIVE_MB), timeout=60))
        results = [p.result() for p in [*posts, chunked]]
    for answer, took in results:
        assert answer.status_code == 413, answer.text[:200]
        assert took < QUICK_SECONDS
    # under the body limit but far over the message limit: the "too long" reply, quickly
    sender = new_sender("long")
    answer, took = timed(lambda: rest_post(stack, {"sender": sender, "message": "a" * 200_000}))
    assert answer.status_code == 200 and TOO_LONG in answer.text
    assert took < QUICK_SECONDS
    [turn] = user_turns(stack, sender)
    assert len(json.dumps(turn)) < 2000, "the long text was stored"
    assert stored_bytes(stack, but=BYSTANDER) - grown < TRACKER_GROWTH_LIMIT


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_rest_empty_and_binary_messages_get_a_helpful_reply(stack: RunningStack, text: str) -> None:
    answer = rest_post(stack, {"sender": new_sender("odd"), "message": text})
    assert answer.status_code == 200, answer.text
    assert texts(answer.json()).strip(), f"empty answer to {text!r}"


def test_rest_a_body_that_is_not_utf8_json_is_a_problem_not_a_500(stack: RunningStack) -> None:
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    for raw in (
        b'{"sender": "bin", "message": "\xff\xfe\x00"}',
        b"\x00\x01\x02",
        b"",
        b'{"sender": "bin", "message": {"a": 1}}',
        b"[]",
        b"null",
    ):
        answer = requests.post(
            url, data=raw, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert answer.status_code == 400, (raw, answer.status_code)
        assert answer.headers["content-type"].startswith("application/problem+json")
    missing = rest_post(stack, {"sender": new_sender("none")})
    assert missing.status_code == 200 and EMPTY in missing.text


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_deeply_nested_metadata_is_cut_to_the_chat_token_not_a_500(stack: RunningStack) -> None:
    """A kilobyte of brackets in the metadata: Rasa deep-copies metadata recursively, and
    700 levels ended in a RecursionError, a 500 and a thousand-line traceback in its log."""
    ids = dispute_ids(stack, "carla")
    token = chat_token(stack, "carla")
    metadata = {"chat_token": token, "deep": nested(700)}
    sender = new_sender("deep")
    answer = rest_post(
        stack, {"sender": sender, "message": "how are my disputes going?", "metadata": metadata}
    )
    assert answer.status_code == 200, answer.text[:300]
    assert any(i in answer.text for i in ids), answer.text  # the chat token still counts
    client = SocketIoClient(stack, origin=stack.web_url)
    try:
        session = client.session()
        replies = client.say(session, "hi", {"deep": nested(700)})
        assert texts(replies).strip()
    finally:
        client.close()
    assert "RecursionError" not in log_text(stack, "rasa")


def test_socketio_huge_packet_is_dropped_and_odd_texts_get_a_helpful_reply(
    stack: RunningStack,
) -> None:
    grown = stored_bytes(stack, but=BYSTANDER)
    attacker = SocketIoClient(stack, origin=stack.web_url)
    session = attacker.session()
    with meanwhile_hi_is_quick(stack):
        started = time.monotonic()
        try:
            attacker.emit("user_uttered", {"message": "a" * FIVE_MB, "session_id": session})
            attacker.event("bot_uttered", timeout=3)
            pytest.fail("a 5 MB socket.io packet was answered")
        except (ConnectionClosed, TimeoutError):
            pass
        assert time.monotonic() - started < QUICK_SECONDS
    attacker.close()
    assert user_turns(stack, session) == []
    client = SocketIoClient(stack, origin=stack.web_url)
    try:
        session = client.session()
        replies = client.say(session, "a" * 60_000)
        assert TOO_LONG in texts(replies)
        assert stored_bytes(stack, but=BYSTANDER) - grown < TRACKER_GROWTH_LIMIT
        for text in [*ODD_TEXTS, 42, None, ["hi"], {"text": "hi"}]:
            replies = client.say(session, text)
            assert texts(replies).strip(), f"empty answer to {text!r}"
    finally:
        client.close()


def test_telegram_huge_and_odd_updates(stack: RunningStack, platforms: FakePlatforms) -> None:
    grown = stored_bytes(stack, but=BYSTANDER)
    user = TelegramUser(stack, platforms, 73001)
    huge = json.dumps(user.message(text="a" * FIVE_MB)).encode()
    with meanwhile_hi_is_quick(stack):
        status, took = timed(lambda: user.post(None, raw=huge))
    assert status == 413 and took < QUICK_SECONDS
    assert platforms.sent_to_telegram(73001) == []
    answer, took = timed(lambda: user.say("a" * 100_000))
    assert TOO_LONG in answer and took < QUICK_SECONDS
    assert stored_bytes(stack, but=BYSTANDER) - grown < TRACKER_GROWTH_LIMIT
    for text in ["\x00", "\x00\x01\x1b[31m\x7f", "\ud800", "\udfff x \ud800", "\x00" * 5000]:
        assert user.say(text).strip(), f"empty answer to {text!r}"
