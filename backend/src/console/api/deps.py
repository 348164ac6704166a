"""What the console's routes depend on: the settings and the two clients (built once per app,
on app.state), the signed-in operator, and the CSRF check.

A POST route names `CsrfForm` before `CurrentOperator` and before any client, so a forged
request is refused (403) before anything else is looked at or called."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import BeforeValidator

from console.clients import ConsoleBackend, RasaApi
from console.settings import Settings


def settings_of(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def backend_of(request: Request) -> ConsoleBackend:
    return cast(ConsoleBackend, request.app.state.backend)


def rasa_of(request: Request) -> RasaApi:
    return cast(RasaApi, request.app.state.rasa)


# --- ids in URLs ------------------------------------------------------------------------------

_ASCII_NUMBER = re.compile(r"[0-9]{1,10}")


def _ascii_number(value: object) -> object:
    """Numbers in URLs are ASCII digits: not " 7", "+7", "7.0" or other scripts' digits, which
    would name a real ticket another way."""
    if isinstance(value, str) and _ASCII_NUMBER.fullmatch(value) is None:
        raise ValueError("a whole number written with the digits 0-9")
    return value


# A ticket or review id fits the backend's INTEGER column; a larger one made the backend fail.
TicketId = Annotated[int, BeforeValidator(_ascii_number), Path(ge=1, le=2**31 - 1)]
ReviewId = TicketId
Seen = Annotated[
    int, BeforeValidator(_ascii_number), Query(ge=0, description="lines the page already shows")
]


# --- sessions and CSRF -----------------------------------------------------------------------


async def csrf_form(request: Request) -> dict[str, str]:
    """The form fields of a POST whose CSRF token (field `csrf` or header X-CSRF-Token)
    matches the session's; 403 otherwise."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    submitted = request.headers.get("x-csrf-token") or form.get("csrf", "")
    expected = request.session.get("csrf")
    # Compared as bytes: compare_digest refuses non-ASCII str (a 500 for a forged token).
    if not isinstance(expected, str) or not hmac.compare_digest(
        expected.encode(), submitted.encode()
    ):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    return form


@dataclass(frozen=True)
class Operator:
    id: str
    name: str


class NotSignedIn(Exception):
    """No operator in the session: pages redirect to /login, the rest answer 401."""


def signed_in(request: Request) -> Operator | None:
    oid, name = request.session.get("operator_id"), request.session.get("operator_name")
    if isinstance(oid, str) and isinstance(name, str):
        return Operator(oid, name)
    return None


def current_operator(request: Request) -> Operator:
    operator = signed_in(request)
    if operator is None:
        raise NotSignedIn
    return operator


SettingsDep = Annotated[Settings, Depends(settings_of)]
BackendDep = Annotated[ConsoleBackend, Depends(backend_of)]
RasaDep = Annotated[RasaApi, Depends(rasa_of)]
CsrfForm = Annotated[dict[str, str], Depends(csrf_form)]
CurrentOperator = Annotated[Operator, Depends(current_operator)]
