"""One conversation: its page and live transcript, and what the operator does with it (claim,
reply, release, transfer, give back to the bot, close)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.responses import StreamingResponse

from console.api.common import POLL_SECONDS, STREAM_SECONDS, flash, line_out, page, sse
from console.api.deps import (
    BackendDep,
    CsrfForm,
    CurrentOperator,
    Operator,
    RasaDep,
    Seen,
    TicketId,
)
from console.clients import ConsoleBackend, Line, RasaApi, Refused, Unavailable

log = logging.getLogger(__name__)

router = APIRouter()

# What an action does once the ticket is read: given it, the message to flash (or None).
Change = Callable[[dict[str, Any]], Awaitable[str | None]]


async def transcript(rasa: RasaApi, conversation_id: str) -> list[Line] | None:
    try:
        return await rasa.lines(conversation_id)
    except Unavailable as error:
        log.warning("transcript of %s unavailable: %s", conversation_id, error)
        return None


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_page(
    request: Request,
    ticket_id: TicketId,
    operator: CurrentOperator,
    backend: BackendDep,
    rasa: RasaDep,
) -> Response:
    try:
        ticket = await backend.ticket(operator.id, ticket_id)
    except Refused as error:
        return page(request, "error.html", {"message": error.detail}, error.status)
    lines = await transcript(rasa, ticket["conversation_id"])
    operators = await backend.operators(operator.id)
    return page(
        request,
        "ticket.html",
        {
            "ticket": ticket,
            "lines": [line_out(x) for x in lines] if lines is not None else None,
            "operators": [o for o in operators if o["id"] != operator.id],
            "mine": ticket["state"] == "assigned" and ticket["operator_id"] == operator.id,
        },
    )


@router.get("/events/tickets/{ticket_id}")
async def ticket_events(
    request: Request,
    ticket_id: TicketId,
    operator: CurrentOperator,
    backend: BackendDep,
    rasa: RasaDep,
    seen: Seen = 0,
) -> Response:
    try:
        ticket = await backend.ticket(operator.id, ticket_id)
    except Refused as error:
        body = {"detail": error.detail, "problem": error.slug}
        return JSONResponse(body, status_code=error.status)
    stream = ticket_stream(request, operator, ticket, seen, backend, rasa)
    return StreamingResponse(stream, media_type="text/event-stream")


async def ticket_stream(
    request: Request,
    operator: Operator,
    ticket: dict[str, Any],
    seen: int,
    backend: ConsoleBackend,
    rasa: RasaApi,
) -> AsyncIterator[str]:
    """New lines of the conversation as they come, and the ticket's state when it changes."""
    state = (ticket["state"], ticket["operator_id"])
    started = time.monotonic()
    yield "retry: 1000\n\n"
    while time.monotonic() - started < STREAM_SECONDS:
        if await request.is_disconnected():
            return
        lines = await transcript(rasa, ticket["conversation_id"])
        if lines is None:
            yield sse("problem", {"detail": "Rasa is not answering; retrying."})
        elif len(lines) > seen:
            yield sse("lines", {"seen": len(lines), "lines": [line_out(x) for x in lines[seen:]]})
            seen = len(lines)
        else:
            yield ": keep-alive\n\n"
        try:
            now = await backend.ticket(operator.id, ticket["id"])
            if (now["state"], now["operator_id"]) != state:
                state = (now["state"], now["operator_id"])
                yield sse("ticket", {"state": now["state"], "operator_id": now["operator_id"]})
        except (Unavailable, Refused):
            pass
        await asyncio.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class TicketPost:
    """A form or fetch POST on one ticket: the CSRF check first, then the operator."""

    request: Request
    ticket_id: int
    form: dict[str, str]
    operator: Operator
    backend: ConsoleBackend

    async def run(self, change: Change) -> Response:
        """Read the ticket, run `change`, and answer a form with a redirect or a fetch with
        JSON."""
        try:
            ticket = await self.backend.ticket(self.operator.id, self.ticket_id)
            message = await change(ticket)
        except Refused as error:
            return self._answer(error.status, {"detail": error.detail, "problem": error.slug})
        except Unavailable as error:
            log.warning("ticket %s: %s", self.ticket_id, error)
            if self._wants_json:
                return JSONResponse({"detail": "Not delivered: try again."}, status_code=503)
            flash(self.request, "The backend or Rasa did not answer; try again.")
            return RedirectResponse(f"/tickets/{self.ticket_id}", status_code=303)
        return self._answer(200, {"ok": True, "detail": message})

    @property
    def _wants_json(self) -> bool:
        return "application/json" in self.request.headers.get("accept", "")

    def _answer(self, status: int, body: dict[str, Any]) -> Response:
        """JSON for a fetch; for a form, the message flashed on the ticket's page."""
        if self._wants_json:
            return JSONResponse(body, status_code=status)
        if body.get("detail"):
            flash(self.request, str(body["detail"]))
        return RedirectResponse(f"/tickets/{self.ticket_id}", status_code=303)

    async def send(self, action: str, body: dict[str, Any] | None = None) -> None:
        """The ticket's transition `action` on the backend, once per the form's key."""
        await self.backend.ticket_action(
            self.operator.id, self.ticket_id, action, key=self.form.get("key"), body=body
        )


async def ticket_post(
    request: Request,
    ticket_id: TicketId,
    form: CsrfForm,
    operator: CurrentOperator,
    backend: BackendDep,
) -> TicketPost:
    return TicketPost(request, ticket_id, form, operator, backend)


TicketPostDep = Annotated[TicketPost, Depends(ticket_post)]


@router.post("/tickets/{ticket_id}/claim")
async def claim(t: TicketPostDep, rasa: RasaDep) -> Response:
    async def change(ticket: dict[str, Any]) -> str:
        await t.send("claim")
        text = await rasa.response_text("utter_handoff_operator_joined", operator=t.operator.name)
        await rasa.say(ticket["conversation_id"], text)
        return "You have the conversation."

    return await t.run(change)


@router.post("/tickets/{ticket_id}/reply")
async def reply(t: TicketPostDep, rasa: RasaDep) -> Response:
    async def change(ticket: dict[str, Any]) -> None:
        text = t.form.get("text", "").strip()
        if not text:
            raise Refused(422, "empty", "Write something first.")
        # Stored first, then delivered: the transcript never misses what was said.
        await t.send("messages", {"body": text})
        await rasa.say(ticket["conversation_id"], text)
        return None

    return await t.run(change)


@router.post("/tickets/{ticket_id}/release")
async def release(t: TicketPostDep) -> Response:
    async def change(ticket: dict[str, Any]) -> str:
        await t.send("release")
        return "Back in the queue."

    return await t.run(change)


@router.post("/tickets/{ticket_id}/transfer")
async def transfer(t: TicketPostDep) -> Response:
    async def change(ticket: dict[str, Any]) -> str:
        to = t.form.get("operator_id", "")
        await t.send("transfer", {"operator_id": to})
        return f"Transferred to {to}."

    return await t.run(change)


async def give_back(
    operator: Operator,
    form: dict[str, str],
    ticket: dict[str, Any],
    backend: ConsoleBackend,
    rasa: RasaApi,
) -> str:
    """Give the conversation back to the bot, then close the ticket. Rasa goes first: if it is
    down, the ticket stays open with its close button, and closing again retries. The buyer's
    messages of the human part are stored with the ticket's transcript."""
    conversation = ticket["conversation_id"]
    goodbye = await rasa.response_text("utter_handoff_ended")
    lines = await rasa.lines(conversation)  # Rasa down: nothing is done yet
    since = datetime.fromisoformat(ticket["created_at"].replace("Z", "+00:00")).timestamp()
    said = [
        {"body": x.text[:4000], "at": datetime.fromtimestamp(x.timestamp, UTC).isoformat()}
        for x in lines
        if x.party == "user" and x.timestamp >= since
    ][-500:]
    key = form.get("key") or uuid.uuid4().hex
    # Sent even when empty: the backend refuses it unless this operator may close the ticket,
    # before Rasa is touched. The same close with the same lines has the same key.
    digest = hashlib.sha256(json.dumps([key, said]).encode()).hexdigest()
    await backend.user_messages(operator.id, ticket["id"], said, key=digest)
    await rasa.resume(conversation)
    await backend.ticket_action(operator.id, ticket["id"], "close", key=key)
    try:
        await rasa.say(conversation, goodbye)
    except Unavailable as error:
        log.warning("ticket %s closed, goodbye not delivered: %s", ticket["id"], error)
        return "The conversation is back with the bot (Rasa did not deliver the goodbye)."
    return "The conversation is back with the bot."


@router.post("/tickets/{ticket_id}/give-back")
@router.post("/tickets/{ticket_id}/close")
async def close(t: TicketPostDep, rasa: RasaDep) -> Response:
    async def change(ticket: dict[str, Any]) -> str:
        return await give_back(t.operator, t.form, ticket, t.backend, rasa)

    return await t.run(change)
