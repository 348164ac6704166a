"""Messages of one conversation that arrive at the same moment, on the two Rasa servers:
each is handled after the one before has finished (its events are all written before the
next message's first), in the order they arrived, and every one is answered.

Without a shared lock (each server's own, or Rasa's racing RedisLockStore), two servers
handle the two messages at once: the second turn starts before the first has ended, and
is predicted from a conversation that lacks the first."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from tests.cluster.conftest import RunningCluster, turns, wait_until

QUESTIONS = (
    "how long do I have to open a dispute?",
    "is there a limit on disputes?",
    "what does dispute ended mean?",
    "how do I contact the seller?",
)
# Messages whose answers call the action server and the backend: a turn long enough (tens
# of milliseconds, with waits on the network) for two servers to be inside it at once.
LOOKUPS = ("where is my phone case?", "how are my disputes going?")


def post(
    url: str, sender: str, text: str, metadata: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    body = {"sender": sender, "message": text, "metadata": metadata or {}}
    response = requests.post(f"{url}/webhooks/rest/webhook", json=body, timeout=60)
    assert response.status_code == 200, response.text
    answer: list[dict[str, Any]] = response.json()
    return answer


def assert_one_after_the_other(found: list[dict[str, Any]]) -> None:
    for before, after in itertools.pairwise(found):
        assert after["start"] >= before["end"], (
            f"{after['text']!r} was handled while {before['text']!r} still was"
        )
        kinds = [e["event"] for e in before["events"]]
        assert "bot" in kinds, f"{before['text']!r} got no answer"
        assert before["events"][-1].get("name") == "action_listen"


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at one instant; their results in order."""
    start = threading.Barrier(len(calls), timeout=30)
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_two_messages_at_the_same_moment_on_both_servers_take_turns(
    cluster: RunningCluster,
) -> None:
    servers = [cluster.replica_url("rasa-1"), cluster.replica_url("rasa-2")]
    for _ in range(6):
        sender = f"order-{uuid.uuid4().hex[:10]}"
        proof = {"chat_token": cluster.chat_token("alice")}
        post(cluster.rasa_url, sender, "hi", proof)  # the session exists before the race
        calls = [
            (lambda u=url, q=question, s=sender, p=proof: post(u, s, q, p))
            for url, question in zip(servers, LOOKUPS, strict=True)
        ]
        answers = at_once(calls)
        assert all(answers), "a message got no answer"
        found = turns(cluster.tracker_events(sender))
        assert sorted(t["text"] for t in found) == sorted(["hi", *LOOKUPS])
        assert_one_after_the_other(found)


def test_messages_are_handled_in_the_order_they_arrived_whichever_server_has_them(
    cluster: RunningCluster,
) -> None:
    servers = [cluster.replica_url("rasa-1"), cluster.replica_url("rasa-2")]
    sender = f"order-{uuid.uuid4().hex[:10]}"
    post(cluster.rasa_url, sender, "hi")
    threads = []
    for i, question in enumerate(QUESTIONS):
        url = servers[i % 2]
        threads.append(threading.Thread(target=post, args=(url, sender, question)))
        threads[-1].start()
        time.sleep(0.2)  # each arrives while the ones before are still being handled
    for thread in threads:
        thread.join(120)
    found = turns(cluster.tracker_events(sender))
    assert [t["text"] for t in found] == ["hi", *QUESTIONS]
    assert_one_after_the_other(found)


def test_through_the_balancer_a_conversation_stays_on_one_server(cluster: RunningCluster) -> None:
    senders = [f"sticky-{uuid.uuid4().hex[:10]}" for _ in range(8)]
    at_once([(lambda s=s, q=q: post(cluster.rasa_url, s, q)) for s in senders for q in QUESTIONS])
    used = set()
    for sender in senders:
        cluster.tracker_events(sender)  # the console's read goes to the same server too
        servers = wait_until(
            lambda s=sender: (found := cluster.served_by(s))[len(QUESTIONS) :] and found
        )
        assert len(servers) == len(QUESTIONS) + 1 and len(set(servers)) == 1, servers
        used |= set(servers)
        found = turns(cluster.tracker_events(sender))
        assert sorted(t["text"] for t in found) == sorted(QUESTIONS)
        assert_one_after_the_other(found)
    assert used <= {"rasa/rasa-1", "rasa/rasa-2"}
