"""Rasa's behaviour is unchanged by extensions/speedups.py, only cheaper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import rasa.shared.utils.common
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.utils.endpoints import EndpointConfig

import extensions  # noqa: F401  (installs the speedups)


@pytest.mark.parametrize(
    "event", [UserUttered("hi"), ActionExecuted("utter_greet"), SlotSet("a", 1)]
)
def test_an_event_reads_back_as_its_own_class(event: Event) -> None:
    restored = Event.from_parameters(event.as_dict())
    assert type(restored) is type(event)
    assert restored == event
    # Same answer as Rasa's walk over the subclasses.
    walked = {c.type_name: c for c in rasa.shared.utils.common.all_subclasses(Event)}
    assert Event.resolve_by_type(event.type_name) is walked[event.type_name]


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
