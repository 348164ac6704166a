"""The operator console: sign in, the live queue, conversations, disputes and abuse reviews.

Operators sign in with their password (checked by the backend, Argon2id); the session is a
signed, HttpOnly, SameSite=Lax cookie; every POST (form or fetch) carries the session's CSRF
token or is refused with 403. Everything is served from here: no CDN.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import StreamingResponse

from console.clients import ConsoleBackend, Line, RasaApi, Refused, Unavailable

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_MAX_AGE = 12 * 3600
POLL_SECONDS = 1.0  # how often the live views ask the backend and Rasa
HEARTBEAT_SECONDS = 15.0  # presence heartbeat while a console page is open
STREAM_SECONDS = 300.0  # an event stream ends after this; the browser reconnects


@dataclass(frozen=True)
class Settings:
    backend_url: str
    service_token: str
    rasa_url: str
    rasa_token: str
    session_secret: str
    secure_cookies: bool

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get("APP_ENV", "development")
        lenient = env in ("development", "test")
        secret = os.environ.get("CONSOLE_SESSION_SECRET", "")
        if not secret:
            if not lenient:
                raise RuntimeError("CONSOLE_SESSION_SECRET must be set outside development")
            secret = secrets.token_urlsafe(32)
        token = os.environ.get("CONSOLE_SERVICE_TOKEN", "")
        if not token:
            if not lenient:
                raise RuntimeError("CONSOLE_SERVICE_TOKEN must be set outside development")
            token = "dev-console-token"  # noqa: S105  (the backend's development default)
        return cls(
            backend_url=os.environ.get("BACKEND_URL", "http://127.0.0.1:8000"),
            service_token=token,
            rasa_url=os.environ.get("RASA_URL", "http://127.0.0.1:5005"),
            rasa_token=os.environ.get("RASA_API_TOKEN", ""),
            session_secret=secret,
            secure_cookies=env == "production",
        )


# --- sessions and CSRF -----------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> dict[str, str]:
    """The form fields of a POST whose CSRF token (field `csrf` or header X-CSRF-Token)
    matches the session's; 403 otherwise."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    submitted = request.headers.get("x-csrf-token") or form.get("csrf", "")
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, submitted):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    return form


@dataclass(frozen=True)
class Operator:
    id: str
    name: str


def signed_in(request: Request) -> Operator | None:
    oid, name = request.session.get("operator_id"), request.session.get("operator_name")
    if isinstance(oid, str) and isinstance(name, str):
        return Operator(oid, name)
    return None


class NotSignedIn(Exception):
    pass


def operator_of(request: Request) -> Operator:
    operator = signed_in(request)
    if operator is None:
        raise NotSignedIn
    return operator


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def line_out(line: Line) -> dict[str, Any]:
    at = datetime.fromtimestamp(line.timestamp, UTC).strftime("%H:%M:%S") if line.timestamp else ""
    return {"party": line.party, "text": line.text, "at": at}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    backend = ConsoleBackend(settings.backend_url, settings.service_token)
    rasa = RasaApi(settings.rasa_url, settings.rasa_token)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.close()
        await rasa.close()

    app = FastAPI(title="Operator console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie="console_session",
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    # Only this console may be reached from its pages: no CDN, no third-party script.
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NotSignedIn)
    async def to_login(request: Request, _: NotSignedIn) -> Response:
        if request.url.path.startswith("/events/") or request.method != "GET":
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, error: Unavailable) -> Response:
        log.warning("unavailable: %s", error)
        return page(request, "error.html", {"message": "The backend or Rasa did not answer. "
                                                       "Try again in a moment."}, 503)  # fmt: skip

    def page(
        request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        context = {
            "csrf": csrf_token(request),
            "operator": signed_in(request),
            "flash": request.session.pop("flash", None),
            "new_key": lambda: uuid.uuid4().hex,
            **context,
        }
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    # --- sign in and out ---------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return page(request, "login.html", {})

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await check_csrf(request)
        try:
            who = await backend.verify_password(
                form.get("operator_id", "").strip(), form.get("password", "")
            )
        except Refused:
            return page(request, "login.html", {"error": "Wrong operator id or password."}, 401)
        request.session.clear()  # a fresh session (and CSRF token) after signing in
        request.session["operator_id"] = who["id"]
        request.session["operator_name"] = who["name"]
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await check_csrf(request)
        operator = signed_in(request)
        if operator is not None:
            try:
                await backend.presence(operator.id, online=False)
            except (Unavailable, Refused) as error:
                log.warning("logout of %s: presence not updated: %s", operator.id, error)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # --- the queue ---------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def queue_page(request: Request) -> Response:
        operator = operator_of(request)
        queue = await backend.queue(operator.id)
        operators = await backend.operators(operator.id)
        return page(request, "queue.html", {"queue": queue, "operators": operators})

    @app.get("/events/queue")
    async def queue_events(request: Request) -> Response:
        operator = operator_of(request)

        async def stream() -> AsyncIterator[str]:
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

        return StreamingResponse(stream(), media_type="text/event-stream")

    # --- one conversation --------------------------------------------------------------

    async def transcript(conversation_id: str) -> list[Line] | None:
        try:
            return await rasa.lines(conversation_id)
        except Unavailable as error:
            log.warning("transcript of %s unavailable: %s", conversation_id, error)
            return None

    @app.get("/tickets/{ticket_id}", response_class=HTMLResponse)
    async def ticket_page(request: Request, ticket_id: int) -> Response:
        operator = operator_of(request)
        try:
            ticket = await backend.ticket(operator.id, ticket_id)
        except Refused as error:
            return page(request, "error.html", {"message": error.detail}, error.status)
        lines = await transcript(ticket["conversation_id"])
        operators = await backend.operators(operator.id)
        return page(request, "ticket.html", {
            "ticket": ticket,
            "lines": [line_out(x) for x in lines] if lines is not None else None,
            "operators": [o for o in operators if o["id"] != operator.id],
            "mine": ticket["state"] == "assigned" and ticket["operator_id"] == operator.id,
        })  # fmt: skip

    @app.get("/events/tickets/{ticket_id}")
    async def ticket_events(request: Request, ticket_id: int) -> Response:
        operator = operator_of(request)
        ticket = await backend.ticket(operator.id, ticket_id)
        conversation = ticket["conversation_id"]
        seen = int(request.query_params.get("seen", "0") or 0)

        async def stream() -> AsyncIterator[str]:
            nonlocal seen
            state = (ticket["state"], ticket["operator_id"])
            started = time.monotonic()
            yield "retry: 1000\n\n"
            while time.monotonic() - started < STREAM_SECONDS:
                if await request.is_disconnected():
                    return
                lines = await transcript(conversation)
                if lines is None:
                    yield sse("problem", {"detail": "Rasa is not answering; retrying."})
                elif len(lines) > seen:
                    yield sse("lines", {"seen": len(lines),
                                        "lines": [line_out(x) for x in lines[seen:]]})  # fmt: skip
                    seen = len(lines)
                else:
                    yield ": keep-alive\n\n"
                try:
                    now = await backend.ticket(operator.id, ticket_id)
                    if (now["state"], now["operator_id"]) != state:
                        state = (now["state"], now["operator_id"])
                        yield sse("ticket", {"state": now["state"],
                                             "operator_id": now["operator_id"]})  # fmt: skip
                except (Unavailable, Refused):
                    pass
                await asyncio.sleep(POLL_SECONDS)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def act(
        request: Request,
        ticket_id: int,
        change: Callable[[Operator, dict[str, str], dict[str, Any]], Awaitable[str | None]],
    ) -> Response:
        """Check CSRF, run `change`, and answer a form with a redirect or a fetch with JSON."""
        form = await check_csrf(request)
        operator = operator_of(request)
        wants_json = "application/json" in request.headers.get("accept", "")
        try:
            ticket = await backend.ticket(operator.id, ticket_id)
            message = await change(operator, form, ticket)
        except Refused as error:
            if wants_json:
                return JSONResponse({"detail": error.detail, "problem": error.slug},
                                    status_code=error.status)  # fmt: skip
            flash(request, error.detail)
            return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)
        except Unavailable as error:
            log.warning("ticket %s: %s", ticket_id, error)
            if wants_json:
                return JSONResponse({"detail": "Not delivered: try again."}, status_code=503)
            flash(request, "The backend or Rasa did not answer; try again.")
            return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)
        if wants_json:
            return JSONResponse({"ok": True, "detail": message})
        if message:
            flash(request, message)
        return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)

    @app.post("/tickets/{ticket_id}/claim")
    async def claim(request: Request, ticket_id: int) -> Response:
        async def change(op: Operator, form: dict[str, str], ticket: dict[str, Any]) -> str:
            await backend.ticket_action(op.id, ticket_id, "claim", key=form.get("key"))
            text = await rasa.response_text("utter_handoff_operator_joined", operator=op.name)
            await rasa.say(ticket["conversation_id"], text)
            return "You have the conversation."

        return await act(request, ticket_id, change)

    @app.post("/tickets/{ticket_id}/reply")
    async def reply(request: Request, ticket_id: int) -> Response:
        async def change(op: Operator, form: dict[str, str], ticket: dict[str, Any]) -> None:
            text = form.get("text", "").strip()
            if not text:
                raise Refused(422, "empty", "Write something first.")
            # Stored first, then delivered: the transcript never misses what was said.
            await backend.ticket_action(op.id, ticket_id, "messages", key=form.get("key"),
                                        body={"body": text})  # fmt: skip
            await rasa.say(ticket["conversation_id"], text)
            return None

        return await act(request, ticket_id, change)

    @app.post("/tickets/{ticket_id}/release")
    async def release(request: Request, ticket_id: int) -> Response:
        async def change(op: Operator, form: dict[str, str], ticket: dict[str, Any]) -> str:
            await backend.ticket_action(op.id, ticket_id, "release", key=form.get("key"))
            return "Back in the queue."

        return await act(request, ticket_id, change)

    @app.post("/tickets/{ticket_id}/transfer")
    async def transfer(request: Request, ticket_id: int) -> Response:
        async def change(op: Operator, form: dict[str, str], ticket: dict[str, Any]) -> str:
            to = form.get("operator_id", "")
            await backend.ticket_action(op.id, ticket_id, "transfer", key=form.get("key"),
                                        body={"operator_id": to})  # fmt: skip
            return f"Transferred to {to}."

        return await act(request, ticket_id, change)

    async def end(op: Operator, form: dict[str, str], ticket: dict[str, Any]) -> str:
        """Close the ticket and give the conversation back to the bot, which says so. The
        buyer's messages of the human part are stored with the ticket's transcript."""
        conversation = ticket["conversation_id"]
        lines = await transcript(conversation) or []
        since = datetime.fromisoformat(ticket["created_at"].replace("Z", "+00:00")).timestamp()
        said = [
            {"body": x.text[:4000], "at": datetime.fromtimestamp(x.timestamp, UTC).isoformat()}
            for x in lines
            if x.party == "user" and x.timestamp >= since
        ]
        if said:
            await backend.user_messages(op.id, ticket["id"], said[-500:])
        await backend.ticket_action(op.id, ticket["id"], "close", key=form.get("key"))
        await rasa.resume(conversation)
        await rasa.say(conversation, await rasa.response_text("utter_handoff_ended"))
        return "The conversation is back with the bot."

    @app.post("/tickets/{ticket_id}/give-back")
    async def give_back(request: Request, ticket_id: int) -> Response:
        return await act(request, ticket_id, end)

    @app.post("/tickets/{ticket_id}/close")
    async def close(request: Request, ticket_id: int) -> Response:
        return await act(request, ticket_id, end)

    # --- disputes in mediation and abuse reviews ---------------------------------------

    @app.get("/disputes", response_class=HTMLResponse)
    async def disputes_page(request: Request) -> Response:
        operator = operator_of(request)
        disputes = await backend.mediated_disputes(operator.id)
        return page(request, "disputes.html", {"disputes": disputes})

    @app.post("/disputes/{dispute_id}/decision")
    async def decide_dispute(request: Request, dispute_id: str) -> Response:
        form = await check_csrf(request)
        operator = operator_of(request)
        body = {
            "refund_amount": form.get("refund_amount", "0").strip() or "0",
            "with_return": form.get("with_return") == "on",
            "note": form.get("note", ""),
        }
        try:
            await backend.decide_dispute(
                operator.id,
                dispute_id,
                version=form.get("version", ""),
                key=form.get("key") or uuid.uuid4().hex,
                body=body,
            )
            flash(request, f"Dispute {dispute_id} decided.")
        except Refused as error:
            flash(request, f"{dispute_id}: {error.detail}")
        return RedirectResponse("/disputes", status_code=303)

    @app.get("/reviews", response_class=HTMLResponse)
    async def reviews_page(request: Request) -> Response:
        operator = operator_of(request)
        reviews = await backend.abuse_reviews(operator.id)
        return page(request, "reviews.html", {"reviews": reviews})

    @app.post("/reviews/{review_id}/decision")
    async def decide_review(request: Request, review_id: int) -> Response:
        form = await check_csrf(request)
        operator = operator_of(request)
        body = {"decision": form.get("decision", ""), "note": form.get("note", "")}
        try:
            key = form.get("key") or uuid.uuid4().hex
            await backend.decide_review(operator.id, review_id, key=key, body=body)
            flash(request, f"Review {review_id} decided.")
        except Refused as error:
            flash(request, f"Review {review_id}: {error.detail}")
        return RedirectResponse("/reviews", status_code=303)

    return app
