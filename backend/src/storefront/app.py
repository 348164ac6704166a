"""HTTP routes of the marketplace page: module-level routes, with the settings and the backend
client (built once per app, on app.state) as dependencies, as in the console."""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from dispute_backend.web_session import add_session_cookie, csrf_token
from storefront.backend_api import BackendUnavailable, ChatToken, SessionGone, StorefrontBackend
from storefront.settings import Settings, get_settings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


def _csrf_ok(request: Request, submitted: str) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and hmac.compare_digest(expected, submitted)


templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter()


def settings_of(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def backend_of(request: Request) -> StorefrontBackend:
    return cast(StorefrontBackend, request.app.state.backend)


SettingsDep = Annotated[Settings, Depends(settings_of)]
BackendDep = Annotated[StorefrontBackend, Depends(backend_of)]


async def chat_token_for(request: Request, backend: StorefrontBackend, buyer_id: str) -> ChatToken:
    """A fresh token for this sign-in's chat session, which is bound to the one
    conversation the page's chat uses; a new session (and conversation) when the
    backend no longer knows the old one."""
    session_id = request.session.get("chat_session")
    if isinstance(session_id, str):
        try:
            return await backend.chat_token(buyer_id, session_id=session_id)
        except SessionGone:
            log.info("chat session gone; starting a new conversation")
    chat = await backend.chat_token(buyer_id, conversation_id=uuid.uuid4().hex)
    request.session["chat_session"] = chat.session_id
    return chat


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(status_code=204)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, settings: SettingsDep, backend: BackendDep) -> Response:
    buyer_id = request.session.get("buyer_id")
    context: dict[str, Any] = {"csrf": csrf_token(request)}
    try:
        if not isinstance(buyer_id, str):
            if not settings.demo_sign_in:
                return templates.TemplateResponse(request, "signin.html", context)
            context["buyers"] = await backend.buyers()
            return templates.TemplateResponse(request, "signin.html", context)
        buyers = {b["id"]: b for b in await backend.buyers()}
        if buyer_id not in buyers:
            request.session.pop("buyer_id", None)
            return RedirectResponse("/", status_code=303)
        chat = await chat_token_for(request, backend, buyer_id)
        orders = await backend.orders(chat.token)
    except BackendUnavailable:
        return templates.TemplateResponse(request, "unavailable.html", context, status_code=503)
    context.update(
        buyer=buyers[buyer_id],
        orders=orders,
        # Rendered with Jinja's `tojson`, which escapes it for an HTML page.
        chat_config={
            "socketUrl": settings.public_rasa_url,
            "chatToken": chat.token,
            # The chat's conversation: the one the token is bound to.
            "conversationId": chat.conversation_id,
            # The conversation is kept per buyer, so signing in as
            # someone else in the same browser starts a new one.
            "buyerId": buyer_id,
        },
    )
    return templates.TemplateResponse(request, "orders.html", context)


@router.post("/signin")
async def sign_in(
    request: Request,
    settings: SettingsDep,
    backend: BackendDep,
    buyer_id: str = Form(...),
    csrf: str = Form(...),
) -> Response:
    if not _csrf_ok(request, csrf):
        return JSONResponse({"detail": "invalid CSRF token"}, status_code=403)
    if not settings.demo_sign_in:
        return JSONResponse({"detail": "demo sign-in is off in production"}, status_code=404)
    try:
        known = {b["id"] for b in await backend.buyers()}
    except BackendUnavailable:
        return RedirectResponse("/", status_code=303)
    if buyer_id not in known:
        return JSONResponse({"detail": "unknown buyer"}, status_code=400)
    request.session.clear()
    request.session["buyer_id"] = buyer_id
    return RedirectResponse("/", status_code=303)


@router.post("/signout")
async def sign_out(request: Request, backend: BackendDep, csrf: str = Form(...)) -> Response:
    if not _csrf_ok(request, csrf):
        return JSONResponse({"detail": "invalid CSRF token"}, status_code=403)
    session_id = request.session.get("chat_session")
    if isinstance(session_id, str):
        try:
            await backend.end_chat_session(session_id)
        except BackendUnavailable:
            # Signing out must still work; the token expires on its own.
            log.warning("could not revoke the chat session at sign-out")
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def content_policy(settings: Settings) -> str:
    """Only this page and the Rasa server may be reached from the page: no CDN, no
    third-party script. The widget injects its styles inline."""
    rasa = settings.public_rasa_url.rstrip("/")
    rasa_ws = rasa.replace("http://", "ws://").replace("https://", "wss://")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self' data:; connect-src 'self' {rasa} {rasa_ws}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.backend.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Marketplace - My Orders",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.backend = StorefrontBackend(settings.backend_url, settings.storefront_service_token)
    add_session_cookie(app, "market_session", settings.web_session_secret, settings.secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    policy = content_policy(settings)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            # The orders page carries the buyer's chat token: never kept by a cache.
            response.headers["Cache-Control"] = "no-store"
        return response

    app.include_router(router)
    return app
