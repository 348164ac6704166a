"""The operator console: sign in, the live queue, conversations, disputes and abuse reviews.

Operators sign in with their password (checked by the backend, Argon2id); the session is a
signed, HttpOnly, SameSite=Lax cookie; every POST (form or fetch) carries the session's CSRF
token or is refused with 403. Everything is served from here: no CDN. The routes live in
console/api/, one module per area, with what they depend on in console/api/deps.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import reconcile
from console.api import auth, disputes, queue, reviews, tickets
from console.api.common import CONSOLE_DIR, page
from console.api.deps import NotSignedIn
from console.clients import ConsoleBackend, RasaApi, Unavailable
from console.settings import Settings, get_settings
from dispute_backend.web_session import add_session_cookie

log = logging.getLogger(__name__)

# Only this console may be reached from its pages: no CDN, no third-party script.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    passes = None
    if settings.reconcile_interval_seconds > 0:
        passes = asyncio.create_task(
            reconcile.run_periodically(
                app.state.backend,
                app.state.rasa,
                interval=settings.reconcile_interval_seconds,
                within_seconds=settings.reconcile_within_seconds,
            )
        )
    yield
    if passes is not None:
        passes.cancel()
    await app.state.backend.close()
    await app.state.rasa.close()


async def security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


async def to_login(request: Request, _: Exception) -> Response:
    if request.url.path.startswith("/events/") or request.method != "GET":
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    return RedirectResponse("/login", status_code=303)


async def unavailable(request: Request, error: Exception) -> Response:
    log.warning("unavailable: %s", error)
    return page(
        request,
        "error.html",
        {"message": "The backend or Rasa did not answer. Try again in a moment."},
        503,
    )


HTTP_SLUGS = {403: "forbidden", 404: "not-found", 405: "method-not-allowed"}


def problem(request: Request, status: int, slug: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem, as the backend answers them (pages read its `detail`)."""
    body = {
        "type": f"https://disputes.example/problems/{slug}",
        "title": slug.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    where = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in error.errors())
    return problem(request, 422, "validation-error", f"Not valid: {where}.")


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    slug = HTTP_SLUGS.get(error.status_code, "http-error")
    return problem(request, error.status_code, slug, str(error.detail))


async def health() -> dict[str, str]:
    return {"status": "ok"}


async def favicon() -> Response:
    return Response(status_code=204)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Operator console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    app.state.backend = ConsoleBackend(settings.backend_url, settings.console_service_token)
    app.state.rasa = RasaApi(settings.rasa_url, settings.rasa_api_token)
    add_session_cookie(
        app, "console_session", settings.console_session_secret, settings.secure_cookies
    )
    app.middleware("http")(security_headers)
    app.mount("/static", StaticFiles(directory=CONSOLE_DIR / "static"), name="static")
    app.add_exception_handler(NotSignedIn, to_login)
    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    for router in (auth.router, queue.router, tickets.router, disputes.router, reviews.router):
        app.include_router(router)
    return app
