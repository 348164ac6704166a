"""A load of buyers opening disputes through the load balancer, as the fault tests run it.

Each virtual buyer holds whole conversations (seven turns of the dispute form, each
answer depending on the turns before), one after another, each on a fresh buyer with a
fresh order. The client is the REST channel's retrying client: a message that gets an
error it may retry (502, 503, 504, a dropped connection) is sent again, with the same
`message_id`, until it is answered or `RETRY_FOR` seconds have passed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import sqlalchemy.exc

from tests.cluster.conftest import RunningCluster

T = TypeVar("T")
RETRYABLE = {502, 503, 504}
RETRY_FOR = 45.0  # longer than any fault of the tests lasts
# What the bot tells a buyer when the backend did not answer (utter_backend_unavailable):
# an answer, and the truth, while the database is down.
BACKEND_APOLOGY = "can't reach our dispute system"
# (what the buyer says, what the answer must contain): each answer needs the turns before.
SCRIPT = (
    ("I want to open a dispute", "Which order"),
    ("order {order}", "covered by buyer protection"),
    ("it arrived broken", "full refund or a partial refund"),
    ("full refund", "send the item back"),
    ("no", "describe the problem"),
    ("The fan does not spin at all.", "Shall I open it"),
    ("yes", "is open for order"),
)


@dataclass
class Stats:
    messages: int = 0
    retried: int = 0  # messages that needed more than one attempt
    attempts_failed: int = 0
    longest_retry: float = 0.0  # seconds from the first failed attempt to the answer
    apologies: int = 0  # conversations the bot told the backend could not be reached
    latencies: list[float] = field(default_factory=list)
    conversations: list[tuple[str, str, str]] = field(default_factory=list)  # buyer, order, id
    errors: list[str] = field(default_factory=list)  # anything that is not "retry" or right


class BuyerLoad:
    """`users` buyers in threads, each holding conversations until `stop()`."""

    def __init__(
        self, cluster: RunningCluster, users: int = 3, backend_may_fail: bool = False
    ) -> None:
        self.cluster = cluster
        self.backend_may_fail = backend_may_fail
        self.stats = Stats()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._user, daemon=True) for _ in range(users)]

    def __enter__(self) -> BuyerLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> Stats:
        self._stopping.set()
        for thread in self._threads:
            thread.join(RETRY_FOR + 60)
        return self.stats

    def _user(self) -> None:
        while not self._stopping.is_set():
            try:
                self._conversation()
            except Exception as error:  # recorded: the test fails on it
                with self._lock:
                    self.stats.errors.append(f"{type(error).__name__}: {error}")
                return

    def _conversation(self) -> None:
        buyer = f"load{uuid.uuid4().hex[:10]}"
        order = f"87{uuid.uuid4().int % 10**14:014d}"
        retrying(lambda: self.cluster.add_buyer_with_order(buyer, order))
        token = retrying(lambda: self.cluster.chat_token(buyer))
        sender = f"load-{uuid.uuid4().hex[:12]}"
        for text, expected in SCRIPT:
            answer = self.say(sender, text.format(order=order), token)
            if expected not in answer and self.backend_may_fail and BACKEND_APOLOGY in answer:
                with self._lock:
                    self.stats.apologies += 1
                return
            if expected not in answer:
                with self._lock:
                    self.stats.errors.append(f"{sender}: {text!r} answered {answer!r}")
                return
        with self._lock:
            self.stats.conversations.append((buyer, order, sender))

    def say(self, sender: str, text: str, token: str) -> str:
        """One message, sent again on a retryable error; the answer's texts."""
        body = {
            "sender": sender,
            "message": text,
            "metadata": {"chat_token": token},
            "message_id": uuid.uuid4().hex,
        }
        url = f"{self.cluster.rasa_url}/webhooks/rest/webhook"
        began = time.monotonic()
        first_failure: float | None = None
        while True:
            try:
                response = requests.post(url, json=body, timeout=30)
                status = response.status_code
            except requests.RequestException:
                status = 0  # a dropped connection: retry
            if status == 200:
                break
            if status and status not in RETRYABLE:
                raise AssertionError(f"{text!r}: {status} {response.text[:300]}")
            now = time.monotonic()
            first_failure = first_failure or now
            with self._lock:
                self.stats.attempts_failed += 1
            if now - first_failure > RETRY_FOR:
                raise AssertionError(f"{text!r}: still failing after {RETRY_FOR} s")
            time.sleep(0.5)
        replies: list[dict[str, Any]] = response.json()
        with self._lock:
            self.stats.messages += 1
            self.stats.latencies.append(time.monotonic() - began)
            if first_failure is not None:
                self.stats.retried += 1
                self.stats.longest_retry = max(
                    self.stats.longest_retry, time.monotonic() - first_failure
                )
        return "\n".join(str(r.get("text", "")) for r in replies)


def retrying(call: Callable[[], T], seconds: float = RETRY_FOR) -> T:
    """A call of the test's own (a chat token, a row in the database) through a fault."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except (requests.RequestException, sqlalchemy.exc.OperationalError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
