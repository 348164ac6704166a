"""Signing in and out. The password is checked by the backend, which also throttles tries."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.api.common import page
from console.api.deps import BackendDep, CsrfForm, signed_in
from console.clients import Refused, Unavailable

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return page(request, "login.html", {})


@router.post("/login")
async def login(request: Request, form: CsrfForm, backend: BackendDep) -> Response:
    address = request.client.host if request.client else "unknown"
    try:
        who = await backend.verify_password(
            form.get("operator_id", "").strip(), form.get("password", ""), address
        )
    except Refused as error:
        return refused_login(request, error)
    request.session.clear()  # a fresh session (and CSRF token) after signing in
    request.session["operator_id"] = who["id"]
    request.session["operator_name"] = who["name"]
    return RedirectResponse("/", status_code=303)


def refused_login(request: Request, error: Refused) -> Response:
    if error.status != 429:
        return page(request, "login.html", {"error": "Wrong operator id or password."}, 401)
    wait = error.retry_after or 60
    message = (
        f"Too many sign-in attempts. Try again in {math.ceil(wait / 60)} minutes."
        if wait >= 60
        else "Too many sign-ins at this moment. Try again in a few seconds."
    )
    response = page(request, "login.html", {"error": message}, 429)
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/logout")
async def logout(request: Request, form: CsrfForm, backend: BackendDep) -> Response:
    operator = signed_in(request)
    if operator is not None:
        try:
            await backend.presence(operator.id, online=False)
        except (Unavailable, Refused) as error:
            log.warning("logout of %s: presence not updated: %s", operator.id, error)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
