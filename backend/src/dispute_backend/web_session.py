"""The signed session cookie that the console and the storefront, the two apps a browser
signs in to, give it, and the CSRF token kept in it. The backend itself serves no pages."""

from __future__ import annotations

import secrets

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware

SESSION_MAX_AGE = 12 * 3600


def add_session_cookie(app: FastAPI, cookie: str, secret: str, secure: bool) -> None:
    """The session in a cookie named `cookie`, signed with `secret`, HttpOnly and SameSite=Lax,
    Secure when `secure`."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=cookie,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=secure,
    )


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token
