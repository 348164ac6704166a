"""HTTP routes of the marketplace page."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from storefront.backend_api import BackendUnavailable, StorefrontBackend

HERE = Path(__file__).parent
SESSION_MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class Settings:
    backend_url: str
    service_token: str
    session_secret: str
    rasa_url: str
    secure_cookies: bool

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get("APP_ENV", "development")
        session_secret = os.environ.get("WEB_SESSION_SECRET", "")
        if not session_secret:
            if env not in ("development", "test"):
                raise RuntimeError("WEB_SESSION_SECRET must be set outside development")
            session_secret = secrets.token_urlsafe(32)
        return cls(
            backend_url=os.environ.get("BACKEND_URL", "http://127.0.0.1:8000"),
            service_token=os.environ.get("STOREFRONT_SERVICE_TOKEN", "dev-storefront-token"),
            session_secret=session_secret,
            rasa_url=os.environ.get("PUBLIC_RASA_URL", "http://localhost:5005"),
            secure_cookies=env == "production",
        )


def _csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def _csrf_ok(request: Request, submitted: str) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and hmac.compare_digest(expected, submitted)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    backend = StorefrontBackend(settings.backend_url, settings.service_token)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.close()

    app = FastAPI(title="Marketplace - My Orders", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie="market_session",
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # Only this page and the Rasa server may be reached from the page: no CDN,
    # no third-party script. The widget injects its styles inline.
    rasa = settings.rasa_url.rstrip("/")
    rasa_ws = rasa.replace("http://", "ws://").replace("https://", "wss://")
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self' data:; connect-src 'self' {rasa} {rasa_ws}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    templates = Jinja2Templates(directory=HERE / "templates")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        buyer_id = request.session.get("buyer_id")
        context: dict[str, Any] = {"csrf": _csrf_token(request)}
        try:
            if not isinstance(buyer_id, str):
                context["buyers"] = await backend.buyers()
                return templates.TemplateResponse(request, "signin.html", context)
            buyers = {b["id"]: b for b in await backend.buyers()}
            if buyer_id not in buyers:
                request.session.pop("buyer_id", None)
                return RedirectResponse("/", status_code=303)
            chat = await backend.chat_token(buyer_id)
            orders = await backend.orders(chat.token)
        except BackendUnavailable:
            return templates.TemplateResponse(request, "unavailable.html", context, status_code=503)
        context.update(
            buyer=buyers[buyer_id],
            orders=orders,
            # Rendered with Jinja's `tojson`, which escapes it for an HTML page.
            chat_config={
                "socketUrl": settings.rasa_url,
                "chatToken": chat.token,
                # The conversation is kept per buyer, so signing in as
                # someone else in the same browser starts a new one.
                "buyerId": buyer_id,
            },
        )
        return templates.TemplateResponse(request, "orders.html", context)

    @app.post("/signin")
    async def sign_in(
        request: Request, buyer_id: str = Form(...), csrf: str = Form(...)
    ) -> Response:
        if not _csrf_ok(request, csrf):
            return JSONResponse({"detail": "invalid CSRF token"}, status_code=403)
        try:
            known = {b["id"] for b in await backend.buyers()}
        except BackendUnavailable:
            return RedirectResponse("/", status_code=303)
        if buyer_id not in known:
            return JSONResponse({"detail": "unknown buyer"}, status_code=400)
        request.session.clear()
        request.session["buyer_id"] = buyer_id
        return RedirectResponse("/", status_code=303)

    @app.post("/signout")
    async def sign_out(request: Request, csrf: str = Form(...)) -> Response:
        if not _csrf_ok(request, csrf):
            return JSONResponse({"detail": "invalid CSRF token"}, status_code=403)
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    return app
