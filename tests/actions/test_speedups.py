"""Rasa's behaviour is unchanged by extensions/speedups.py, only cheaper."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import rasa.shared.utils.common
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.engine.constants import PLACEHOLDER_MESSAGE
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import EndpointConfig

from extensions import rasa_patches, speedups

speedups.install()  # as `python -m extensions.server` does at start


def test_another_rasa_release_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import rasa

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with pytest.raises(rasa_patches.WrongRasaVersion, match=re.escape("3.6.21")):
        speedups.install()


@pytest.mark.parametrize(
    "event", [UserUttered("hi"), ActionExecuted("utter_greet"), SlotSet("a", 1)]
)
def test_an_event_reads_back_as_its_own_class(event: Event) -> None:
    restored = Event.from_parameters(event.as_dict())
    assert type(restored) is type(event)
    assert restored == event
    # Same answer as Rasa's walk over the subclasses: the first class of that name (a
    # subclass of the same name, such as rasa.core.test's EndToEndUserUtterance, comes later).
    walked = list(rasa.shared.utils.common.all_subclasses(Event))
    first = next(c for c in walked if c.type_name == event.type_name)
    assert Event.resolve_by_type(event.type_name) is first


def test_an_unknown_event_type_is_still_an_error_or_the_default() -> None:
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
    # A default returned once is not remembered as the type of that name.
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")


def test_an_invalid_action_result_is_still_refused() -> None:
    action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1"))
    assert action._validate_action_result({"events": [], "responses": []})
    with pytest.raises(Exception, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list"})


VALID_EVENTS = [
    {"event": "slot", "name": "order_id", "value": "8100"},
    {"event": "slot", "name": "order_id", "value": None, "timestamp": None},
    {"event": "bot", "text": "hello", "metadata": {"utter_action": "utter_greet"}},
    {"event": "action", "name": "utter_greet", "policy": None, "confidence": 1.0},
    {"event": "active_loop", "name": "dispute_form"},
    {"event": "followup", "name": "utter_greet"},
    {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet"}, "entities": []}},
    {"event": "session_started"},
    {"event": "pause"},
    {"event": "reset_slots"},
]
INVALID_EVENTS = [
    {"event": "no_such_event"},
    {"name": "order_id", "value": 1},  # no kind
    {"event": 7},
    "slot",
    {"event": "slot", "name": "order_id"},  # no value
    {"event": "slot", "name": 3, "value": 1},
    {"event": "bot", "metadata": "not an object"},
    {"event": "action", "hide_rule_turn": "yes"},
    {"event": "user", "parse_data": {"entities": [{"start": 0}]}},  # entity without a name
    {"event": "entities", "entities": "none"},
]


@pytest.mark.parametrize("event", VALID_EVENTS + INVALID_EVENTS)
def test_an_action_result_is_accepted_exactly_when_rasas_schema_accepts_it(event: Any) -> None:
    import jsonschema

    result = {"events": [VALID_EVENTS[0], event], "responses": [{"text": "ok"}]}
    try:
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
        rasa_accepts = True
    except jsonschema.ValidationError:
        rasa_accepts = False
    assert rasa_accepts == (event in VALID_EVENTS)
    try:
        speedups._validate(result)
        accepted = True
    except jsonschema.ValidationError:
        accepted = False
    assert accepted == rasa_accepts


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[str, list[tuple[str, str | None]]]]:
    """A local HTTP server noting each request's client port and Authorization."""
    seen: list[tuple[str, str | None]] = []

    async def handle(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append((str(peer[1]) if peer else "", request.headers.get("Authorization")))
        return web.json_response({"echo": await request.json()})

    app = web.Application()
    app.router.add_post("/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/webhook", seen
    await runner.cleanup()


async def test_endpoint_calls_share_one_connection_and_keep_the_headers(
    echo_server: tuple[str, list[tuple[str, str | None]]],
) -> None:
    url, seen = echo_server
    endpoint = EndpointConfig(url, headers={"Authorization": "Bearer s3cret"})
    answers = [await endpoint.request(json={"n": n}, method="post") for n in range(3)]
    answers += await asyncio.gather(*(endpoint.request(json={"n": n}) for n in (3, 4)))
    assert [a["echo"]["n"] for a in answers] == [0, 1, 2, 3, 4]
    assert all(auth == "Bearer s3cret" for _, auth in seen)
    # The three calls in a row went over one connection; two at once over two.
    assert len({port for port, _ in seen[:3]}) == 1
    assert len({port for port, _ in seen}) <= 2


async def test_a_refused_call_is_still_an_error_and_the_next_one_works(
    echo_server: tuple[str, list[tuple[str, str | None]]],
) -> None:
    url, _ = echo_server
    endpoint = EndpointConfig(url)
    with pytest.raises(Exception):  # noqa: B017  (aiohttp's 404 error)
        await endpoint.request(subpath="missing", json={})
    assert (await endpoint.request(json={"n": 1}))["echo"] == {"n": 1}


def test_numpy_matrix_products_run_in_the_calling_thread_only() -> None:
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((300, 300)) @ np.ones((300, 300))  # big enough for BLAS to split, if allowed
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "NumPy's BLAS was not found"
    assert all(pool["num_threads"] == 1 for pool in blas)


class SlowNLU:
    """The NLU graph's stand-in: takes 50 ms, reads each text as its own intent."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.running = self.most_at_once = 0

    def run(self, inputs: dict[str, Any], targets: list[str]) -> dict[str, Any]:
        message = inputs[PLACEHOLDER_MESSAGE][0]
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.threads.append(threading.current_thread().name)
        time.sleep(0.05)
        self.running -= 1
        parsed = Message(data={"text": message.text})
        parsed.set("intent", {"name": message.text, "confidence": 1.0}, add_to_output=True)
        return {targets[0]: [parsed]}


def processor_with(nlu: SlowNLU) -> MessageProcessor:
    processor = MessageProcessor.__new__(MessageProcessor)  # only what parsing reads
    processor.http_interpreter = None
    processor.graph_runner = nlu  # type: ignore[assignment]
    processor.model_metadata = SimpleNamespace(nlu_target="nlu")  # type: ignore[assignment]
    processor.domain = Domain.empty()
    return processor


async def test_messages_are_parsed_beside_the_event_loop_each_getting_its_own_result() -> None:
    nlu = SlowNLU()
    processor = processor_with(nlu)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    texts = [f"intent_{n}" for n in range(5)]
    parsed = await asyncio.gather(
        *(processor.parse_message(UserMessage(text, sender_id=text)) for text in texts)
    )
    ticking.cancel()

    assert [p["intent"]["name"] for p in parsed] == texts
    assert [p["text"] for p in parsed] == texts
    # Once per message, never two at once, never on the loop's thread ...
    assert len(nlu.threads) == 5
    assert nlu.most_at_once == 1
    assert all(name.startswith("nlu") for name in nlu.threads)
    # ... which went on running other work during the 250 ms of parsing.
    assert ticks >= 20
