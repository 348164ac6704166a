"""The REST channel (`POST /webhooks/rest/webhook`), with the checks every channel applies.

Rasa's own REST channel takes `input_channel` from the request body, so any caller could
claim to be Telegram, and it passes any text and metadata on, so a 5 MB message reached
the NLU pipeline and the tracker store. This one:

- always reports itself as `rest`, whatever the body says;
- refuses a `sender` that is not a plain id (a colon marks the conversations of the
  messaging channels, `telegram:12345`, which only their verified webhooks may write to);
- passes the client's metadata through (the web page's chat token, say) except the
  `verified` key, which only a verified webhook writes (extensions/inbound.py);
- turns an empty or over-long text into an intent that tells the buyer so;
- answers a malformed request with 400, and one over Sanic's body size limit with 413,
  each with a problem+json body;
- requires `Authorization: Bearer $REST_CHANNEL_TOKEN` when that is set, and in
  production refuses every request without it: the channel is for the project's own
  services and tests, not the internet (docs/security.md);
- answers 503 with `Retry-After` when a store it needs (the tracker store's database, the
  lock store's Redis) does not answer, instead of a bare 500: the client sends it again;
- takes an optional `message_id` (letters, digits, `-`, `_`): a client that sends a
  message again after an error or a timeout gives it the same id. The actions' writes to
  the backend carry Idempotency-Keys made of it, so a repeat never does them twice, and
  a message the conversation already holds is answered with the replies it got then
  instead of being handled again (docs/scaling.md).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy.exc
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.lock_store import LockError
from rasa.shared.core.events import BotUttered, UserUttered
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from extensions import inbound

logger = logging.getLogger(__name__)

# Visible ASCII but a colon (the messaging channels' mark) and what breaks a URL path. ASCII:
# the conversation id travels in HTTP headers (X-Conversation-Id), and a look-alike such as
# "telegram\uff1a12345" (a full-width colon) must not pass for a Telegram conversation.
SENDER = re.compile(r"(?:(?![:/\\?#%])[!-~]){1,128}")  # whole string (fullmatch)
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
PROBLEM_BASE = "https://disputes.example/problems/"
# A store that did not answer: the message was not handled (or not saved); send it again.
UNAVAILABLE = (
    LockError,
    RedisError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)
RETRY_AFTER_SECONDS = 1


def problem(
    status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> HTTPResponse:
    body = {
        "type": PROBLEM_BASE + kind,
        "title": kind.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
    }
    return response.json(
        body, status=status, content_type="application/problem+json", headers=headers
    )


async def replies_to(request: Request, sender: str, message_id: str) -> list[Any] | None:
    """The bot's replies to a message the conversation already holds; None if it has none
    of that id (the tracker store checks its memory against the database: several servers)."""
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or agent.tracker_store is None:
        return None
    tracker = await agent.tracker_store.retrieve(sender)
    if tracker is None:
        return None
    replies: list[Any] | None = None
    for event in tracker.events:
        if isinstance(event, UserUttered):
            if replies is not None:
                break
            if event.message_id == message_id:
                replies = []
        elif replies is not None and isinstance(event, BotUttered):
            data = {k: v for k, v in (event.data or {}).items() if v is not None}
            replies.append({"recipient_id": sender, "text": event.text, **data})
    return replies


class GuardedRestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(
            token=str(credentials.get("token") or ""),
            production=str(credentials.get("app_env") or "") == "production",
        )

    def __init__(self, token: str = "", production: bool = False) -> None:
        self.token = token.strip()
        self.production = production
        if production and not self.token:
            logger.warning("rest channel refuses every request: REST_CHANNEL_TOKEN is not set")

    def authorised(self, request: Request) -> bool:
        if not self.token:
            return not self.production
        given = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, f"Bearer {self.token}".encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("guarded_rest_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        # Sanic refuses a body over SANIC_REQUEST_MAX_SIZE before the route runs, in its own
        # JSON shape; this channel's clients read problem+json for every refusal.
        @hook.exception(PayloadTooLarge)
        def too_large(_: Request, __: Exception) -> HTTPResponse:
            return problem(413, "payload-too-large", "The request body is too large.")

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.authorised(request):
                return problem(401, "unauthenticated", "This channel needs its bearer token.")
            parsed = self.parse(request)
            if isinstance(parsed, HTTPResponse):
                return parsed
            sender, text, metadata = parsed
            message_id = self.message_id(request)
            if isinstance(message_id, HTTPResponse):
                return message_id
            collector = CollectingOutputChannel()
            try:
                earlier = await replies_to(request, sender, message_id) if message_id else None
                if earlier is not None:
                    return response.json(earlier)
                message = UserMessage(
                    text,
                    collector,
                    sender,
                    input_channel=self.name(),
                    metadata=metadata,
                    message_id=message_id,
                )
                await on_new_message(message)
            except UNAVAILABLE as error:
                logger.warning(
                    "rest: a store did not answer (%s); asked to retry", type(error).__name__
                )
                detail = "The assistant cannot take messages this moment. Send it again."
                retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
                return problem(503, "try-again", detail, retry)
            return response.json(collector.messages)

        return hook

    @staticmethod
    def parse(request: Request) -> tuple[str, str, dict[str, Any]] | HTTPResponse:
        """(sender, text, metadata) of a well-formed request; a 400 problem otherwise."""
        try:
            body = request.json
        except Exception:  # Sanic raises its own error type for a body that is not JSON
            body = None
        if not isinstance(body, dict):
            return problem(400, "malformed-request", "Send a JSON object: sender, message.")
        sender, text = body.get("sender"), body.get("message")
        if not isinstance(sender, str) or not SENDER.fullmatch(sender):
            detail = "`sender` must be 1-128 visible ASCII characters, none of : / \\ ? # %."
            return problem(400, "malformed-request", detail)
        if text is not None and not isinstance(text, str):
            return problem(400, "malformed-request", "`message` must be a string.")
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return problem(400, "malformed-request", "`metadata` must be an object.")
        return sender, inbound.readable_text(text), inbound.client_metadata(metadata)

    @staticmethod
    def message_id(request: Request) -> str | HTTPResponse | None:
        """The client's id of the message (after `parse` accepted the body), if it gave one."""
        message_id = request.json.get("message_id")
        if message_id is None or (isinstance(message_id, str) and MESSAGE_ID.match(message_id)):
            return message_id
        detail = "`message_id` must be 1-64 letters, digits, - or _."
        return problem(400, "malformed-request", detail)
