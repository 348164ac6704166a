"""Refuse oversized request bodies: from their Content-Length before reading them, and by
counting the bytes that actually arrive (a chunked upload has no Content-Length)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import PROBLEM_BASE

JSON_LIMIT = 64 * 1024


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, multipart_limit: int) -> None:
        self.app = app
        self.multipart_limit = multipart_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        ctype = headers.get(b"content-type", b"")
        limit = self.multipart_limit if ctype.startswith(b"multipart/") else JSON_LIMIT
        if length.isdigit() and int(length) > limit:  # bytes.isdigit: ASCII digits only
            await _refuse(scope, send, limit)
            return
        guard = _CountingGuard(receive, send, limit)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if not guard.over or guard.started:
                raise
            # The app failed on the body it was cut off from: the answer is ours below.
        if guard.over and not guard.started:
            await _refuse(scope, send, limit)


class _CountingGuard:
    """Counts the body's bytes as the app reads them. Past the limit, the app is told the
    client went away (so it reads no more), and whatever it answers to that is replaced by
    the 413."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive, self._send, self._limit = receive, send, limit
        self.received = 0
        self.over = False
        self.started = False

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self._limit:
                self.over = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.over and not self.started:
            return  # the app's answer to a body cut short; _refuse answers instead
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": PROBLEM_BASE + "payload-too-large",
            "title": "Request too large",
            "status": 413,
            "detail": f"The request body is larger than {limit} bytes.",
            "instance": scope.get("path", ""),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
