"""The queue page, and its live updates (server-sent events) with the presence heartbeat."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.responses import StreamingResponse

from console.api.common import HEARTBEAT_SECONDS, POLL_SECONDS, STREAM_SECONDS, page, sse
from console.api.deps import BackendDep, CurrentOperator, Operator
from console.clients import ConsoleBackend, Refused, Unavailable

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def queue_page(request: Request, operator: CurrentOperator, backend: BackendDep) -> Response:
    queue = await backend.queue(operator.id)
    operators = await backend.operators(operator.id)
    return page(request, "queue.html", {"queue": queue, "operators": operators})


@router.get("/events/queue")
async def queue_events(
    request: Request, operator: CurrentOperator, backend: BackendDep
) -> Response:
    return StreamingResponse(
        queue_stream(request, operator, backend), media_type="text/event-stream"
    )


async def queue_stream(
    request: Request, operator: Operator, backend: ConsoleBackend
) -> AsyncIterator[str]:
    """The queue whenever it changes (a comment line otherwise, to keep the stream open)."""
    last, beat, started = "", 0.0, time.monotonic()
    yield "retry: 1000\n\n"
    while time.monotonic() - started < STREAM_SECONDS:
        if await request.is_disconnected():
            return
        try:
            if time.monotonic() - beat > HEARTBEAT_SECONDS:
                await backend.presence(operator.id, online=True)
                beat = time.monotonic()
            queue = await backend.queue(operator.id)
            current = json.dumps(queue, sort_keys=True)
            if current != last:
                last = current
                yield sse("queue", {"me": operator.id, **queue})
            else:
                yield ": keep-alive\n\n"
        except (Unavailable, Refused) as error:
            yield sse("problem", {"detail": str(error)})
        await asyncio.sleep(POLL_SECONDS)
