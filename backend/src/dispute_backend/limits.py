"""Refuse oversized request bodies from their Content-Length, before reading them."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import PROBLEM_BASE

JSON_LIMIT = 64 * 1024


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, multipart_limit: int) -> None:
        self.app = app
        self.multipart_limit = multipart_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length", b"")
            ctype = headers.get(b"content-type", b"")
            limit = self.multipart_limit if ctype.startswith(b"multipart/") else JSON_LIMIT
            if length.isdigit() and int(length) > limit:
                await self._refuse(scope, send, limit)
                return
        await self.app(scope, receive, send)

    @staticmethod
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
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
