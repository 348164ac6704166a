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
  the window runs from the user's message as Messenger stamped it (a delivery retried late
  does not reopen it), against an injectable clock;
- images and files become the intent `send_evidence`, described in the verified metadata;
- names the conversation `facebook:<PSID>` and signs who the user is (extensions/identity.py),
  so only a signed delivery can act for a linked buyer; an event delivered twice (same `mid`)
  is handled once, and one malformed event never costs the rest of its batch.

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

from extensions import identity, inbound
from extensions.webhooks import VerifiedWebhookInput, off

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
Clock = Callable[[], float]  # seconds since the epoch, as time.time


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
        clock: Clock = time.time,
    ) -> None:
        self.page_access_token = page_access_token
        self.clock = clock
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.pushed = pushed  # not a reply to a message being handled (operator, reminders)
        self.last_seen = last_seen if last_seen is not None else {}
        self.window_seconds = window_seconds

    def messaging_type(self, recipient_id: str) -> dict[str, str]:
        if not self.pushed:
            return {"messaging_type": "RESPONSE"}
        seen = self.last_seen.get(psid_of(recipient_id))
        if seen is not None and self.clock() - seen < self.window_seconds:
            return {"messaging_type": "RESPONSE"}
        # Outside the standard window (or not known to be inside it): a person answering.
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}

    async def send(self, recipient_id: str, message: dict[str, Any]) -> None:
        body = {
            "recipient": {"id": psid_of(recipient_id)},
            **self.messaging_type(recipient_id),
            "message": message,
        }
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
        await self.send(
            recipient_id,
            {"attachment": {"type": "image", "payload": {"url": image, "is_reusable": True}}},
        )

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
                template_buttons.append(
                    {"type": "web_url", "title": title, "url": str(button["url"])}
                )
            else:
                template_buttons.append(
                    {"type": "postback", "title": title, "payload": _payload(button)}
                )
        if len(text) > MAX_TEMPLATE_TEXT:  # the template's text is short: say the rest first
            await self.send_text_message(recipient_id, text)
            text = "…"
        payload = {"template_type": "button", "text": text or "…", "buttons": template_buttons}
        await self.send(recipient_id, {"attachment": {"type": "template", "payload": payload}})

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        replies = [
            {"content_type": "text", "title": _title(q), "payload": _payload(q)}
            for q in quick_replies[:MAX_QUICK_REPLIES]
        ]
        if len(quick_replies) > MAX_QUICK_REPLIES:
            logger.warning(
                "messenger: %d quick replies cut to %d", len(quick_replies), MAX_QUICK_REPLIES
            )
        await self.send(recipient_id, {"text": (text or "…")[:MAX_TEXT], "quick_replies": replies})

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self.send(recipient_id, dict(json_message))


def psid_of(recipient_id: str) -> str:
    """Messenger's page-scoped user id in a conversation id (`facebook:4242` -> `4242`)."""
    return recipient_id.removeprefix(identity.conversation_id("facebook", ""))


def _title(button: dict[str, Any]) -> str:
    title = str(button.get("title") or button.get("payload") or "")
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def _payload(button: dict[str, Any]) -> str:
    return str(button.get("payload") or button.get("title") or "")[:1000]


class MessengerInput(VerifiedWebhookInput):
    """Receives the Page's webhook at `/webhooks/facebook/webhook`."""

    log_name = "messenger"

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
            identity_secret=str(credentials.get("identity_secret") or ""),
        )

    def __init__(
        self,
        verify_token: str,
        app_secret: str,
        page_access_token: str,
        api_url: str = DEFAULT_API_URL,
        window_seconds: float = STANDARD_WINDOW_SECONDS,
        identity_secret: str = "",
        clock: Clock = time.time,
    ) -> None:
        self.clock = clock
        self.identity_secret = identity_secret.strip()
        self.seen = inbound.SeenIds()
        self.verify_token = verify_token.strip()
        self.app_secret = app_secret.strip()
        self.page_access_token = page_access_token.strip()
        self.api_url = api_url
        self.window_seconds = window_seconds
        self.last_seen: dict[str, float] = {}  # user id -> when they last wrote (this process)
        if not self.page_access_token:
            logger.info("messenger channel off: FACEBOOK_PAGE_ACCESS_TOKEN is not set")
        elif not self.app_secret:
            logger.error("messenger channel refuses every delivery: FACEBOOK_APP_SECRET is not set")

    @property
    def enabled(self) -> bool:
        return bool(self.page_access_token)

    def output(self, *, pushed: bool) -> MessengerOutput:
        return MessengerOutput(
            self.page_access_token,
            self.api_url,
            pushed=pushed,
            last_seen=self.last_seen,
            window_seconds=self.window_seconds,
            clock=self.clock,
        )

    def get_output_channel(self) -> OutputChannel | None:
        return self.output(pushed=True) if self.enabled else None

    def authentic(self, request: Request) -> bool:
        given = request.headers.get("X-Hub-Signature-256", "")
        if not self.app_secret or not given.startswith("sha256="):
            return False
        expected = hmac.new(self.app_secret.encode(), request.body or b"", hashlib.sha256)
        return hmac.compare_digest(
            given.removeprefix("sha256=").encode(), expected.hexdigest().encode()
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("custom_messenger_webhook", __name__)
        self.add_health_route(hook)

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.enabled:
                return off()
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token") or ""
            ok = (
                mode == "subscribe"
                and bool(self.verify_token)
                and hmac.compare_digest(token.encode(), self.verify_token.encode())
            )
            if not ok:
                logger.warning("messenger: webhook verification with a wrong token refused")
                return response.text("forbidden", status=403)
            return response.text(str(request.args.get("hub.challenge") or ""))

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return off()
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
                    logger.exception("messenger: an event from %s failed", _sender_of(event))
            return response.text("success")

        return hook

    async def handle(
        self, event: dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        parsed = parse_event(event)
        if parsed is None:
            logger.info("messenger: event without a message acknowledged (keys %s)", sorted(event))
            return
        sender, text, facts = parsed
        mid = facts.get("mid")
        if isinstance(mid, str) and mid and not self.seen.first_time(f"facebook:{mid}"):
            logger.info("messenger: message %s delivered again, already handled", mid)
            return
        self.note_seen(sender, event)
        await on_new_message(self.user_message(sender, text, self.output(pushed=False), facts))

    def note_seen(self, sender: str, event: dict[str, Any]) -> None:
        """When the user last wrote: the message's own timestamp (milliseconds, signed with
        the rest of the delivery), never later than now; the latest message counts."""
        now = self.clock()
        stamp = event.get("timestamp")
        written = stamp / 1000 if isinstance(stamp, int | float) and stamp > 0 else now
        self.last_seen[sender] = max(self.last_seen.get(sender, 0.0), min(written, now))


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


def _sender_of(event: dict[str, Any]) -> str | None:
    """The sender's page-scoped id: digits, as Messenger sends them; None for anything else."""
    sender = event.get("sender")
    psid = sender.get("id") if isinstance(sender, dict) else None
    if isinstance(psid, int) and not isinstance(psid, bool):
        psid = str(psid)
    if not isinstance(psid, str) or not psid.isascii() or not psid.isdigit() or len(psid) > 40:
        return None
    return psid


def parse_event(event: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(sender id, text, facts) of a user's message, quick reply or postback; the facts
    (message id, attachments) go into the message's verified metadata."""
    sender = _sender_of(event)
    if sender is None:
        return None
    postback = event.get("postback")
    if isinstance(postback, dict) and postback.get("payload"):
        return sender, str(postback["payload"]), {"mid": _mid(postback)}
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_echo"):
        return None
    facts: dict[str, Any] = {"mid": _mid(message)}
    quick = message.get("quick_reply")
    if isinstance(quick, dict) and quick.get("payload"):
        return sender, str(quick["payload"]), facts
    attachments = message.get("attachments")
    files = (
        [_attachment(a) for a in attachments if isinstance(a, dict)]
        if isinstance(attachments, list)
        else []
    )
    files = [f for f in files if f is not None]
    if files:
        facts["attachments"] = files
        return sender, EVIDENCE_TEXT, facts
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        return sender, text, facts
    return None


def _mid(part: dict[str, Any]) -> str | None:
    mid = part.get("mid")
    return mid if isinstance(mid, str) and mid else None


def _attachment(attachment: dict[str, Any]) -> dict[str, Any] | None:
    kind = attachment.get("type")
    payload = attachment.get("payload")
    url = payload.get("url") if isinstance(payload, dict) else None
    if kind not in ("image", "file") or not isinstance(url, str) or not url:
        return None
    name = urlparse(url).path.rsplit("/", 1)[-1]
    return {
        "channel": "facebook",
        "kind": kind,
        "url": url,
        "file_name": name,
        "mime_type": "",
        "caption": "",
    }
