"""The Telegram channel: a hardened replacement for Rasa 3.6's built-in connector.

What it does that Rasa's does not:

- checks Telegram's `X-Telegram-Bot-Api-Secret-Token` header (set with `setWebhook
  secret_token=...`) on every update, 403 otherwise, so knowing the URL is not enough;
- talks to a configurable Bot API base URL (a local Bot API server, or the tests' fake) with
  aiohttp, never blocking the event loop; `get_output_channel` returns a working channel, so
  pushed messages and operator replies (`output_channel=latest`) reach the user;
- renders buttons as an inline keyboard and answers the callback query of a click;
- acknowledges malformed or unsupported updates with 200 and a log line, and answers 200
  even when handling fails, so Telegram does not redeliver the same update forever;
- turns a photo or document into the intent `send_evidence`, with the file described in the
  message's verified metadata (`attachments`) for `action_attach_evidence`;
- names the conversation `telegram:<chat id>` and signs who the user is (extensions/identity.py),
  so only a verified update can act for a linked buyer; an update delivered twice (same
  `update_id`) is handled once; the text passes the checks every channel applies
  (extensions/inbound.py).

With no bot token the channel is off: its routes answer 404, and the start-up log says so.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from extensions import identity, inbound
from extensions.webhooks import VerifiedWebhookInput, off

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64  # bytes, Telegram's limit
# Telegram's bot commands, read as what they mean.
COMMANDS = {
    "/start": "hi",
    "/help": "what can you do",
    "/link": "/link_account",
    "/unlink": "/unlink_account",
}
EVIDENCE_TEXT = "/send_evidence"


class TelegramOutput(OutputChannel):
    """Sends to one bot through the Bot API (`{api_url}/bot{token}/{method}`)."""

    @classmethod
    def name(cls) -> str:
        return "telegram"

    def __init__(self, access_token: str, api_url: str = DEFAULT_API_URL) -> None:
        self.access_token = access_token
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """One Bot API call; the `result`, or None after logging why it failed."""
        url = f"{self.api_url}/bot{self.access_token}/{method}"
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.post(url, json=payload) as answer,
            ):
                body = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            logger.error("telegram %s failed: %s", method, error)
            return None
        if not isinstance(body, dict) or not body.get("ok"):
            description = body.get("description") if isinstance(body, dict) else body
            logger.error("telegram %s refused: %s", method, description)
            return None
        result = body.get("result")
        return result if isinstance(result, dict) else {"result": result}

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for start in range(0, max(len(text), 1), MAX_TEXT):
            part = text[start : start + MAX_TEXT]
            await self.call("sendMessage", {"chat_id": chat_of(recipient_id), "text": part})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.call("sendPhoto", {"chat_id": chat_of(recipient_id), "photo": image})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        rows = []
        for button in buttons:
            title = str(button.get("title") or "")
            payload = str(button.get("payload") or title)
            if button.get("url"):
                rows.append([{"text": title, "url": str(button["url"])}])
            elif len(payload.encode()) <= MAX_CALLBACK_DATA:
                rows.append([{"text": title, "callback_data": payload}])
            else:  # cannot be a callback; typing the title is understood the same way
                logger.warning("telegram: button payload too long, sent as a reply key: %s", title)
                rows.append([{"text": title, "callback_data": title[:MAX_CALLBACK_DATA]}])
        await self.call(
            "sendMessage",
            {
                "chat_id": chat_of(recipient_id),
                "text": text or "…",
                "reply_markup": {"inline_keyboard": rows},
            },
        )

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """`{"method": "sendLocation", ...params}`: any Bot API call, to this chat."""
        message = dict(json_message)
        method = str(message.pop("method", "sendMessage"))
        message.setdefault("chat_id", chat_of(recipient_id))
        await self.call(method, message)


def chat_of(recipient_id: str) -> str:
    """Telegram's chat id in a conversation id (`telegram:12345` -> `12345`)."""
    return recipient_id.removeprefix(identity.conversation_id("telegram", ""))


class TelegramInput(VerifiedWebhookInput):
    """Receives Telegram's webhook at `/webhooks/telegram/webhook`."""

    log_name = "telegram"

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(
            access_token=str(credentials.get("access_token") or ""),
            secret_token=str(credentials.get("secret_token") or ""),
            api_url=str(credentials.get("api_url") or DEFAULT_API_URL),
            identity_secret=str(credentials.get("identity_secret") or ""),
        )

    def __init__(
        self,
        access_token: str,
        secret_token: str,
        api_url: str = DEFAULT_API_URL,
        identity_secret: str = "",
    ) -> None:
        self.access_token = access_token.strip()
        self.secret_token = secret_token.strip()
        self.api_url = api_url
        self.identity_secret = identity_secret.strip()
        self.seen = inbound.SeenIds()
        if not self.access_token:
            logger.info("telegram channel off: TELEGRAM_BOT_TOKEN is not set")
        elif not self.secret_token:
            logger.error(
                "telegram channel refuses every update: TELEGRAM_SECRET_TOKEN is not "
                "set (give the same value to setWebhook's secret_token)"
            )

    @property
    def enabled(self) -> bool:
        return bool(self.access_token)

    def get_output_channel(self) -> OutputChannel | None:
        return TelegramOutput(self.access_token, self.api_url) if self.enabled else None

    def authentic(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "")
        return bool(self.secret_token) and hmac.compare_digest(
            given.encode(), self.secret_token.encode()
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("custom_telegram_webhook", __name__)
        self.add_health_route(hook)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return off()
            if not self.authentic(request):
                logger.warning("telegram: update with a wrong or missing secret token refused")
                return response.json({"error": "forbidden"}, status=403)
            try:
                update = json.loads(request.body or b"")
            except ValueError:
                logger.warning("telegram: malformed update (not JSON) acknowledged")
                return response.json({"status": "ignored"})
            try:
                await self.handle(update, on_new_message)
            except Exception:  # acknowledged anyway: a retry would fail the same way
                logger.exception("telegram: update %s failed", _update_id(update))
            return response.json({"status": "ok"})

        return hook

    async def handle(
        self, update: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        if not isinstance(update, dict):
            logger.warning("telegram: malformed update acknowledged (%s)", type(update).__name__)
            return
        update_id = _update_id(update)
        if update_id is not None and not self.seen.first_time(f"telegram:{update_id}"):
            logger.info("telegram: update %s delivered again, already handled", update_id)
            return
        out = TelegramOutput(self.access_token, self.api_url)
        parsed = parse_update(update)
        if parsed is None:
            logger.info(
                "telegram: unsupported update %s acknowledged (keys %s)", update_id, sorted(update)
            )
            return
        chat_id, text, facts, callback_id = parsed
        if callback_id:
            await out.call("answerCallbackQuery", {"callback_query_id": callback_id})
        # A private chat's id is its user's id: who the user is, signed.
        await on_new_message(self.user_message(chat_id, text, out, facts))


def _update_id(update: Any) -> int | None:
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_update(update: dict[str, Any]) -> tuple[str, str, dict[str, Any], str | None] | None:
    """(chat id, text, facts, callback query id) of a private chat's message or button
    click; None for anything else (groups, stickers, edits, malformed parts). The facts
    (update id, attachments) go into the message's verified metadata."""
    callback = update.get("callback_query")
    if isinstance(callback, dict):
        chat = _private_chat(callback.get("message"))
        data = callback.get("data")
        if chat is None or not isinstance(data, str) or not data:
            return None
        return chat, data, {"update_id": _update_id(update)}, str(callback.get("id") or "")
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    chat_id = _private_chat(message)
    if chat_id is None:
        return None
    facts: dict[str, Any] = {"update_id": _update_id(update)}
    caption = str(message.get("caption") or "")
    attachment = _attachment(message, caption)
    if attachment is not None:
        facts["attachments"] = [attachment]
        return chat_id, EVIDENCE_TEXT, facts, None
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    command = text.strip().split()[0].split("@")[0].lower()
    return chat_id, COMMANDS.get(command, text), facts, None


def _private_chat(message: Any) -> str | None:
    """The id of the private chat a message belongs to; None for groups and odd shapes.
    Telegram's chat ids are integers (a private chat's is its user's id)."""
    chat = message.get("chat") if isinstance(message, dict) else None
    if not isinstance(chat, dict) or chat.get("type") != "private":
        return None
    chat_id = chat.get("id")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        return None
    return str(chat_id)


def _attachment(message: dict[str, Any], caption: str) -> dict[str, Any] | None:
    photos = message.get("photo")
    if isinstance(photos, list) and photos and isinstance(photos[-1], dict):
        largest = photos[-1]  # Telegram lists the sizes smallest first
        return {
            "channel": "telegram",
            "kind": "photo",
            "file_id": str(largest.get("file_id")),
            "file_name": "",
            "mime_type": "image/jpeg",
            "caption": caption,
        }
    document = message.get("document")
    if isinstance(document, dict) and document.get("file_id"):
        return {
            "channel": "telegram",
            "kind": "document",
            "file_id": str(document["file_id"]),
            "file_name": str(document.get("file_name") or ""),
            "mime_type": str(document.get("mime_type") or ""),
            "caption": caption,
        }
    return None
