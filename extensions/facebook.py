"""The Facebook Messenger channel: a hardened replacement for Rasa 3.6's built-in connector.

- the webhook verification handshake (`hub.mode=subscribe`, `hub.verify_token`,
  `hub.challenge`);
- `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app secret) checked on every
  POST, 403 when missing or wrong (Rasa's checks only SHA-1, and answers 200 anyway);
- every entry and every messaging event of a batched delivery handled, in order;
- quick replies (at most 13, titles of at most 20 characters) and the button template (at
  most 3 buttons) within Messenger's limits;
- sends with aiohttp to a configurable Graph API base URL, never blocking the event loop;
- messages pushed outside a reply (operator replies, `output_channel=latest`) go as
  `RESPONSE` inside Messenger's 24-hour window and as `MESSAGE_TAG` + `HUMAN_AGENT` after it;
- images and files become the intent `send_evidence`, described in the metadata.

With no page access token the channel is off: its routes answer 404.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com/v18.0"
TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_TEXT = 2000
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_TEMPLATE_BUTTONS = 3
MAX_TEMPLATE_TEXT = 640
STANDARD_WINDOW_SECONDS = 24 * 3600
EVIDENCE_TEXT = "/send_evidence"


class MessengerOutput(OutputChannel):
    """Sends to one Page through the Send API (`{api_url}/me/messages`)."""

    @classmethod
    def name(cls) -> str:
        return "facebook"

    def __init__(
        self,
        page_access_token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        pushed: bool = False,
        last_seen: dict[str, float] | None = None,
        window_seconds: float = STANDARD_WINDOW_SECONDS,
    ) -> None:
        self.page_access_token = page_access_token
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.pushed = pushed  # not a reply to a message being handled (operator, reminders)
        self.last_seen = last_seen if last_seen is not None else {}
        self.window_seconds = window_seconds

    def messaging_type(self, recipient_id: str) -> dict[str, str]:
        if not self.pushed:
            return {"messaging_type": "RESPONSE"}
        seen = self.last_seen.get(recipient_id)
        if seen is not None and time.time() - seen < self.window_seconds:
            return {"messaging_type": "RESPONSE"}
        # Outside the standard window (or not known to be inside it): a person answering.
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}

    async def send(self, recipient_id: str, message: dict[str, Any]) -> None:
        body = {"recipient": {"id": recipient_id}, **self.messaging_type(recipient_id),
                "message": message}  # fmt: skip
        url = f"{self.api_url}/me/messages"
        try:
            params = {"access_token": self.page_access_token}
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.post(url, params=params, json=body) as answer,
            ):
                status = answer.status
                text = await answer.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.error("messenger send to %s failed: %s", recipient_id, error)
            return
        if status >= 400:
            logger.error("messenger send to %s refused (%s): %.300s", recipient_id, status, text)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for start in range(0, max(len(text), 1), MAX_TEXT):
            await self.send(recipient_id, {"text": text[start : start + MAX_TEXT]})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send(recipient_id, {"attachment": {"type": "image", "payload": {
            "url": image, "is_reusable": True}}})  # fmt: skip

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        if len(buttons) > MAX_TEMPLATE_BUTTONS:
            await self.send_quick_replies(recipient_id, text, buttons)
            return
        template_buttons = []
        for button in buttons:
            title = _title(button)
            if button.get("url"):
                template_buttons.append({"type": "web_url", "title": title,
                                         "url": str(button["url"])})  # fmt: skip
            else:
                template_buttons.append({"type": "postback", "title": title,
                                         "payload": _payload(button)})  # fmt: skip
        if len(text) > MAX_TEMPLATE_TEXT:  # the template's text is short: say the rest first
            await self.send_text_message(recipient_id, text)
            text = "…"
        payload = {"template_type": "button", "text": text or "…", "buttons": template_buttons}
        await self.send(recipient_id, {"attachment": {"type": "template", "payload": payload}})

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        replies = [{"content_type": "text", "title": _title(q), "payload": _payload(q)}
                   for q in quick_replies[:MAX_QUICK_REPLIES]]  # fmt: skip
        if len(quick_replies) > MAX_QUICK_REPLIES:
            logger.warning("messenger: %d quick replies cut to %d", len(quick_replies),
                           MAX_QUICK_REPLIES)  # fmt: skip
        await self.send(recipient_id, {"text": (text or "…")[:MAX_TEXT],
                                       "quick_replies": replies})  # fmt: skip

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self.send(recipient_id, dict(json_message))


def _title(button: dict[str, Any]) -> str:
    title = str(button.get("title") or button.get("payload") or "")
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def _payload(button: dict[str, Any]) -> str:
    return str(button.get("payload") or button.get("title") or "")[:1000]


class MessengerInput(InputChannel):
    """Receives the Page's webhook at `/webhooks/facebook/webhook`."""

    @classmethod
    def name(cls) -> str:
        return "facebook"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        window = str(credentials.get("messaging_window_seconds") or "")
        return cls(
            verify_token=str(credentials.get("verify") or ""),
            app_secret=str(credentials.get("secret") or ""),
            page_access_token=str(credentials.get("page-access-token") or ""),
            api_url=str(credentials.get("api_url") or DEFAULT_API_URL),
            window_seconds=float(window) if window else STANDARD_WINDOW_SECONDS,
        )

    def __init__(
        self,
        verify_token: str,
        app_secret: str,
        page_access_token: str,
        api_url: str = DEFAULT_API_URL,
        window_seconds: float = STANDARD_WINDOW_SECONDS,
    ) -> None:
        self.verify_token = verify_token.strip()
        self.app_secret = app_secret.strip()
        self.page_access_token = page_access_token.strip()
        self.api_url = api_url
        self.window_seconds = window_seconds
        self.last_seen: dict[str, float] = {}  # user id -> when they last wrote (this process)
        if not self.page_access_token:
            logger.info("messenger channel off: FACEBOOK_PAGE_ACCESS_TOKEN is not set")
        elif not self.app_secret:
            logger.error("messenger channel refuses every delivery: FACEBOOK_APP_SECRET is "
                         "not set")  # fmt: skip

    @property
    def enabled(self) -> bool:
        return bool(self.page_access_token)

    def output(self, *, pushed: bool) -> MessengerOutput:
        return MessengerOutput(
            self.page_access_token, self.api_url, pushed=pushed, last_seen=self.last_seen,
            window_seconds=self.window_seconds,
        )  # fmt: skip

    def get_output_channel(self) -> OutputChannel | None:
        return self.output(pushed=True) if self.enabled else None

    def authentic(self, request: Request) -> bool:
        given = request.headers.get("X-Hub-Signature-256", "")
        if not self.app_secret or not given.startswith("sha256="):
            return False
        expected = hmac.new(self.app_secret.encode(), request.body or b"", hashlib.sha256)
        return hmac.compare_digest(given.removeprefix("sha256=").encode(),
                                   expected.hexdigest().encode())  # fmt: skip

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("custom_messenger_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if not self.enabled:
                return response.json({"status": "off"}, status=404)
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.enabled:
                return response.json({"status": "off"}, status=404)
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token") or ""
            ok = mode == "subscribe" and bool(self.verify_token) and hmac.compare_digest(
                token.encode(), self.verify_token.encode()
            )  # fmt: skip
            if not ok:
                logger.warning("messenger: webhook verification with a wrong token refused")
                return response.text("forbidden", status=403)
            return response.text(str(request.args.get("hub.challenge") or ""))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return response.json({"status": "off"}, status=404)
            if not self.authentic(request):
                logger.warning("messenger: delivery with a wrong or missing signature refused")
                return response.text("forbidden", status=403)
            try:
                delivery = json.loads(request.body or b"")
            except ValueError:
                logger.warning("messenger: malformed delivery (not JSON) acknowledged")
                return response.text("ignored")
            if not isinstance(delivery, dict) or delivery.get("object") != "page":
                logger.warning("messenger: delivery that is not a page's acknowledged")
                return response.text("ignored")
            for event in _events(delivery):
                try:
                    await self.handle(event, on_new_message)
                except Exception:  # acknowledged: Messenger would redeliver the whole batch
                    logger.exception("messenger: event from %s failed",
                                     (event.get("sender") or {}).get("id"))  # fmt: skip
            return response.text("success")

        return hook

    async def handle(
        self, event: dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        parsed = parse_event(event)
        if parsed is None:
            logger.info("messenger: event without a message acknowledged (keys %s)",
                        sorted(event))  # fmt: skip
            return
        sender, text, metadata = parsed
        self.last_seen[sender] = time.time()
        await on_new_message(UserMessage(text, self.output(pushed=False), sender,
                                         input_channel=self.name(), metadata=metadata))  # fmt: skip


def _events(delivery: dict[str, Any]) -> list[dict[str, Any]]:
    """Every messaging event of every entry, in order (Messenger batches them)."""
    events = []
    entries = delivery.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        messaging = entry.get("messaging") if isinstance(entry, dict) else None
        for event in messaging if isinstance(messaging, list) else []:
            if isinstance(event, dict):
                events.append(event)
    return events


def parse_event(event: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(sender id, text, metadata) of a user's message, quick reply or postback."""
    sender = (event.get("sender") or {}).get("id")
    if not sender:
        return None
    sender = str(sender)
    postback = event.get("postback")
    if isinstance(postback, dict) and postback.get("payload"):
        return sender, str(postback["payload"]), {}
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_echo"):
        return None
    metadata: dict[str, Any] = {"facebook_mid": message.get("mid")}
    quick = message.get("quick_reply")
    if isinstance(quick, dict) and quick.get("payload"):
        return sender, str(quick["payload"]), metadata
    files = [_attachment(a) for a in message.get("attachments") or [] if isinstance(a, dict)]
    files = [f for f in files if f is not None]
    if files:
        metadata["attachments"] = files
        return sender, EVIDENCE_TEXT, metadata
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        return sender, text, metadata
    return None


def _attachment(attachment: dict[str, Any]) -> dict[str, Any] | None:
    kind = attachment.get("type")
    url = (attachment.get("payload") or {}).get("url")
    if kind not in ("image", "file") or not isinstance(url, str) or not url:
        return None
    name = urlparse(url).path.rsplit("/", 1)[-1]
    return {"channel": "facebook", "kind": kind, "url": url, "file_name": name,
            "mime_type": "", "caption": ""}  # fmt: skip
