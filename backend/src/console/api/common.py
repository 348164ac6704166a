"""What the console's pages share: templates, the page context, flash messages and the
server-sent events format."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.api.deps import signed_in
from console.clients import Line, Refused
from dispute_backend.web_session import csrf_token

CONSOLE_DIR = Path(__file__).resolve().parents[1]
POLL_SECONDS = 1.0  # how often the live views ask the backend and Rasa
HEARTBEAT_SECONDS = 15.0  # presence heartbeat while a console page is open
STREAM_SECONDS = 300.0  # an event stream ends after this; the browser reconnects

templates = Jinja2Templates(directory=CONSOLE_DIR / "templates")


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    context = {
        "csrf": csrf_token(request),
        "operator": signed_in(request),
        "flash": request.session.pop("flash", None),
        "new_key": lambda: uuid.uuid4().hex,
        **context,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


async def decided(
    request: Request, decision: Awaitable[object], *, done: str, refused: str, back: str
) -> Response:
    """Send an operator's decision; flash how it went and go back to the list."""
    try:
        await decision
        flash(request, done)
    except Refused as error:
        flash(request, f"{refused}: {error.detail}")
    return RedirectResponse(back, status_code=303)


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def line_out(line: Line) -> dict[str, Any]:
    at = datetime.fromtimestamp(line.timestamp, UTC).strftime("%H:%M:%S") if line.timestamp else ""
    return {"party": line.party, "text": line.text, "at": at}
