"""Measures each speed-up of extensions/speedups.py off and on, in one process, and prints
the ratio (off / on: above 1 means the patch helps). docs/rasa-patches.md has the figures.

    .venv/bin/python scripts/bench_rasa_patches.py [--quick]

Each patch is measured on the work it changes, not through the whole server (`make
bench-bot` does that): Rasa's own function against the patch, on inputs shaped like this
assistant's (an action server answer, a conversation's stored events, calls to a local
HTTP server, the intent classifier's matrix products, messages parsed by an NLU that,
like the ONNX encoder, releases the GIL). Timings are the median of several rounds.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.engine.constants import PLACEHOLDER_MESSAGE
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SlotSet,
    UserUttered,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import EndpointConfig
from threadpoolctl import threadpool_limits

from extensions import speedups

ROUNDS = 5


def median_seconds(work: Callable[[], Any], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def action_result() -> dict[str, Any]:
    """An action server's answer to a form turn: a few slots, one response."""
    events = [
        {"event": "slot", "name": f"slot_{n}", "value": n, "timestamp": None} for n in range(4)
    ]
    responses = [
        {
            "response": "utter_ask_order_id",
            "buttons": [
                {"title": f"Order {n}", "payload": f'/inform{{"order_id":"{n}"}}'} for n in range(5)
            ],
        }
    ]
    return {"events": events, "responses": responses}


def bench_validation(calls: int) -> tuple[float, float]:
    action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1"))
    result = action_result()
    own = RemoteAction._validate_action_result

    def off() -> None:
        for _ in range(calls):
            own(action, result)

    def on() -> None:
        for _ in range(calls):
            speedups._validate_action_result(action, result)

    return median_seconds(off) / calls, median_seconds(on) / calls


def stored_conversation(turns: int) -> list[dict[str, Any]]:
    events: list[Event] = []
    for n in range(turns):
        events += [
            ActionExecuted("action_listen"),
            UserUttered(f"message {n}"),
            ActionExecuted("dispute_form"),
            SlotSet("requested_slot", "order_id"),
            BotUttered(f"answer {n}"),
        ]
    return [e.as_dict() for e in events]


def bench_event_types(turns: int) -> tuple[float, float]:
    stored = stored_conversation(turns)
    own = Event.resolve_by_type

    def read() -> None:
        for data in stored:
            Event.from_parameters(data)

    off = median_seconds(read)
    Event.resolve_by_type = staticmethod(speedups._resolve_event_type)  # type: ignore[method-assign]
    try:
        on = median_seconds(read)
    finally:
        Event.resolve_by_type = staticmethod(own)  # type: ignore[method-assign]
    return off / len(stored), on / len(stored)


async def _calls(url: str, calls: int) -> float:
    endpoint = EndpointConfig(url)
    started = time.perf_counter()
    for n in range(calls):
        await endpoint.request(json={"n": n}, method="post")
    elapsed = time.perf_counter() - started
    for session in endpoint.__dict__.get("_shared_sessions", {}).values():
        await session.close()
    return elapsed


async def _bench_sessions(calls: int) -> tuple[float, float]:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", answer)
    own = EndpointConfig.session
    async with TestServer(app) as server:
        url = str(server.make_url("/webhook"))
        try:
            off = statistics.median([await _calls(url, calls) for _ in range(ROUNDS)])
            EndpointConfig.session = speedups._shared_session  # type: ignore[assignment, method-assign]
            on = statistics.median([await _calls(url, calls) for _ in range(ROUNDS)])
        finally:
            EndpointConfig.session = own  # type: ignore[method-assign]
    return off / calls, on / calls


def bench_sessions(calls: int) -> tuple[float, float]:
    return asyncio.run(_bench_sessions(calls))


def _classify(messages: int) -> float:
    """CPU seconds (every thread of the process) per message of intent-classifier-sized
    products, with the pause between messages in which idle BLAS workers spin."""
    rng = np.random.default_rng(0)
    coefficients, sentence = rng.random((64, 2432)), rng.random(2432)
    batch = rng.random((16, 384))
    started = time.process_time()
    for _ in range(messages):
        for _ in range(4):
            coefficients @ sentence
            batch @ batch.T
        time.sleep(0.002)  # the loop's other work: an action call, a database write
    return (time.process_time() - started) / messages


def bench_blas(messages: int) -> tuple[float, float]:
    off = statistics.median(_classify(messages) for _ in range(ROUNDS))
    with threadpool_limits(limits=1, user_api="blas"):
        on = statistics.median(_classify(messages) for _ in range(ROUNDS))
    return off, on


class GilFreeNLU:
    """The NLU graph's stand-in: 20 ms that release the GIL, as the ONNX encoder does."""

    def run(self, inputs: dict[str, Any], targets: list[str]) -> dict[str, Any]:
        message = inputs[PLACEHOLDER_MESSAGE][0]
        time.sleep(0.02)
        parsed = Message(data={"text": message.text})
        parsed.set("intent", {"name": "greet", "confidence": 1.0}, add_to_output=True)
        return {targets[0]: [parsed]}


async def _worst_loop_lag(messages: int) -> float:
    """The longest the event loop could not answer anything while messages were parsed."""
    processor = MessageProcessor.__new__(MessageProcessor)  # only what parsing reads
    processor.http_interpreter = None
    processor.graph_runner = GilFreeNLU()  # type: ignore[assignment]
    processor.model_metadata = SimpleNamespace(nlu_target="nlu")  # type: ignore[assignment]
    processor.domain = Domain.empty()
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    for n in range(messages):  # one after the other, the loop free between them
        await processor.parse_message(UserMessage(f"hello {n}", sender_id="bench"))
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)  # the ticker notes the last stall
    ticking.cancel()
    return worst


def bench_nlu_thread(messages: int) -> tuple[float, float]:
    own = (MessageProcessor._parse_message_with_graph, MessageProcessor.parse_message)
    off = statistics.median(asyncio.run(_worst_loop_lag(messages)) for _ in range(ROUNDS))
    MessageProcessor._parse_message_with_graph = speedups._parse_with_graph  # type: ignore[method-assign]
    MessageProcessor.parse_message = speedups._parse_message  # type: ignore[method-assign]
    try:
        on = statistics.median(asyncio.run(_worst_loop_lag(messages)) for _ in range(ROUNDS))
    finally:
        MessageProcessor._parse_message_with_graph, MessageProcessor.parse_message = own  # type: ignore[method-assign]
    return off, on


def main(argv: list[str]) -> int:
    logging.disable(logging.WARNING)  # Rasa's debug lines for each message parsed
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n = 10 if argv == ["--quick"] else 1
    benches: list[tuple[str, str, Callable[[], tuple[float, float]]]] = [
        ("action results validated", "µs per result", lambda: bench_validation(100 // n)),
        ("event types looked up", "µs per stored event", lambda: bench_event_types(200 // n)),
        ("action server calls", "µs per call", lambda: bench_sessions(200 // n)),
        ("BLAS in the calling thread", "µs CPU per message", lambda: bench_blas(300 // n)),
        ("NLU beside the event loop", "µs longest loop stall", lambda: bench_nlu_thread(20)),
    ]
    print(f"{'patch':<28} {'unit':<22} {'off':>10} {'on':>10} {'off/on':>7}")
    for name, unit, bench in benches:
        off, on = bench()
        print(f"{name:<28} {unit:<22} {off * 1e6:>10.1f} {on * 1e6:>10.1f} {off / on:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
