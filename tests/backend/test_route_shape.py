"""The shape every route keeps: checked on the app's routes themselves."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from dispute_backend.api.common import ON_THE_EVENT_LOOP
from dispute_backend.api.deps import READ_DEPENDENCIES
from dispute_backend.app import create_app
from dispute_backend.settings import Settings

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app as served (no database is opened: only its routes are looked at)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('routes') / 'unused.db'}"
    return create_app(Settings(app_env="test", database_url=url))


def _routes(app: FastAPI) -> list[APIRoute]:
    """Every API route, including those of the included routers (which this FastAPI keeps
    behind a wrapper; the routers are included without a prefix of their own)."""
    found: list[APIRoute] = []
    pending: list[Any] = list(app.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
    assert len(found) > 40, "the routes were not all found"
    return found


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def test_write_routes_load_their_rows_in_the_route(app: FastAPI) -> None:
    """A read dependency loads rows in a worker thread of its own; in a write that would take
    SQLite's write lock there and hold it while the route waits for its thread (deps.py)."""
    uses = {
        (frozenset(r.methods), r.path)
        for r in _routes(app)
        if any(c in READ_DEPENDENCIES for c in _calls(r.dependant))
    }
    assert (frozenset({"GET"}), "/api/v1/disputes/{dispute_id}/events") in uses  # seen at all
    assert [path for methods, path in uses if methods & WRITES] == []


def test_every_route_is_sync_but_the_measured_exceptions(app: FastAPI) -> None:
    """Blocking database calls run in the thread pool; the few reads kept on the event loop
    are named, with their measurement, in api/common.py ON_THE_EVENT_LOOP."""
    on_the_loop = {
        (method, r.path)
        for r in _routes(app)
        if inspect.iscoroutinefunction(r.endpoint)
        for method in r.methods
    }
    assert on_the_loop == ON_THE_EVENT_LOOP


# Async dependencies run on the event loop: none of these touches the database.
NO_IO_DEPENDENCIES = {
    "get_session",  # builds the session; it connects on first use, in the route
    "require_storefront",
    "require_assistant",
    "require_console",
    "require_seller",
    "require_operator",
    "require_channel_account",  # a signature check, no database
    "_now",
    "_rules",
    "_queue",
    "_write_request",
    "buyer_write",
    "seller_write",
    "operator_write",
}


def test_async_dependencies_do_no_database_work(app: FastAPI) -> None:
    async_deps = {
        c.__name__
        for r in _routes(app)
        for c in _calls(r.dependant)
        if inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c)
    }
    assert async_deps <= NO_IO_DEPENDENCIES, async_deps - NO_IO_DEPENDENCIES
