"""Photos and documents sent on Telegram or Messenger, attached to the buyer's dispute.

The channel connectors (extensions/telegram.py, extensions/facebook.py) turn a message with
a file into the intent `send_evidence` and describe the file in the message's verified
metadata under `attachments`: `{"channel", "kind", "file_id" (Telegram) or "url"
(Messenger), "file_name", "mime_type", "caption"}`. This action fetches the file from the
platform and uploads it to the dispute in progress; with several, it asks which one first
and keeps the files in the `pending_evidence` slot meanwhile.

Only files the platform itself described count (docs/security.md): metadata a client
wrote cannot name one, a file must come from the conversation's own channel, and it is
fetched only from that platform's hosts (Telegram by file id through the Bot API,
Messenger from its CDN), never from an address in the message.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import (
    BackendError,
    Credential,
    DisputeBackend,
    EvidenceFile,
    NotFound,
    Refused,
)
from actions.common import BackendAction, idempotency_key, verified_facts
from actions.settings import get_settings

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
DOWNLOAD_TIMEOUT = 10.0

Fetcher = Callable[[dict[str, Any]], EvidenceFile]


TELEGRAM_FILE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,256}$")
# Where Messenger serves the files users send (its CDN), besides the Graph API's own host.
FACEBOOK_FILE_HOSTS = (".fbcdn.net", ".fbsbx.com", ".facebook.com")


class NotAllowed(ValueError):
    """A file address outside the platform's own hosts."""


def _facebook_host_allowed(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    graph = urllib.parse.urlsplit(get_settings().facebook_api_url)
    if parts.scheme == graph.scheme and parts.netloc == graph.netloc:
        return True  # the Graph API's host (in tests, the fake platform on loopback)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and host.endswith(FACEBOOK_FILE_HOSTS)


class _SameRules(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an address the same rule allows."""

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        self.allowed = allowed

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if not self.allowed(newurl):
            raise NotAllowed("redirected outside the platform's hosts")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _get(url: str, allowed: Callable[[str], bool]) -> bytes:
    if not allowed(url):
        raise NotAllowed("not one of the platform's hosts")
    opener = urllib.request.build_opener(_SameRules(allowed))
    request = urllib.request.Request(url, headers={"User-Agent": "dispute-assistant"})  # noqa: S310
    with opener.open(request, timeout=DOWNLOAD_TIMEOUT) as response:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_BYTES:
            raise ValueError("file larger than 10 MB")
        data: bytes = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError("file larger than 10 MB")
    return data


def _telegram_file(file_id: str) -> tuple[bytes, str]:
    """A file by its id, through the Bot API: getFile, then the file's path."""
    if not TELEGRAM_FILE_ID.match(file_id):
        raise ValueError("not a Telegram file id")
    settings = get_settings()
    base = settings.telegram_api_url.rstrip("/")

    def allowed(url: str) -> bool:
        return url.startswith(base + "/")

    token = settings.telegram_bot_token
    query = urllib.parse.urlencode({"file_id": file_id})
    answer = json.loads(_get(f"{base}/bot{token}/getFile?{query}", allowed))
    path = str((answer.get("result") or {}).get("file_path") or "")
    if not answer.get("ok") or not path or ".." in path.split("/"):
        raise ValueError("getFile refused")
    return _get(f"{base}/file/bot{token}/{urllib.parse.quote(path)}", allowed), path


def fetch_from_platform(attachment: dict[str, Any]) -> EvidenceFile:
    """Download one attachment: Telegram by getFile + its file path, Messenger by its URL."""
    channel = attachment.get("channel")
    name = str(attachment.get("file_name") or "")
    if channel == "telegram":
        content, path = _telegram_file(str(attachment.get("file_id") or ""))
        name = name or path.rsplit("/", 1)[-1]
    elif channel == "facebook":
        url = str(attachment.get("url") or "")
        content = _get(url, _facebook_host_allowed)
        name = name or urllib.parse.urlparse(url).path.rsplit("/", 1)[-1]
    else:
        raise ValueError(f"no files on channel {channel!r}")
    name = name or "evidence"
    mime = str(attachment.get("mime_type") or mimetypes.guess_type(name)[0] or "")
    if "." not in name and mime:
        name += mimetypes.guess_extension(mime) or ""
    return EvidenceFile(filename=name, content=content, content_type=mime or "image/jpeg")


def attachments_of(tracker: Tracker) -> list[dict[str, Any]]:
    """The files of the current message, as its channel verified them, or those kept
    while the buyer chose a dispute; only ever files of this conversation's channel."""
    facts = verified_facts(tracker)
    found = facts.get("attachments")
    if not (isinstance(found, list) and found):
        found = tracker.get_slot("pending_evidence")
    channel = tracker.sender_id.split(":", 1)[0] if ":" in tracker.sender_id else None
    if not isinstance(found, list) or channel is None:
        return []
    return [a for a in found if isinstance(a, dict) and a.get("channel") == channel]


class ActionAttachEvidence(BackendAction):
    def __init__(self, backend: DisputeBackend | None = None, fetch: Fetcher | None = None) -> None:
        super().__init__(backend)
        self.fetch = fetch or fetch_from_platform

    def name(self) -> str:
        return "action_attach_evidence"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: Credential
    ) -> list[EventType]:
        files = attachments_of(tracker)
        if not files:
            dispatcher.utter_message(response="utter_evidence_send_a_file")
            return []
        in_progress = [d for d in self.backend.disputes(buyer) if d.in_progress]
        chosen = tracker.get_slot("evidence_dispute_id")
        reset = [SlotSet("pending_evidence", None), SlotSet("evidence_dispute_id", None)]
        if not in_progress:
            dispatcher.utter_message(response="utter_evidence_no_dispute")
            return reset
        dispute = next((d for d in in_progress if d.id == chosen), None)
        if dispute is None and len(in_progress) == 1:
            dispute = in_progress[0]
        if dispute is None:
            buttons = [
                {
                    "title": f"{d.id} (order {d.order_id[-4:]})",
                    "payload": f'/send_evidence{{"evidence_dispute_id":"{d.id}"}}',
                }
                for d in in_progress[:3]
            ]
            dispatcher.utter_message(response="utter_ask_evidence_dispute", buttons=buttons)
            return [SlotSet("pending_evidence", files), SlotSet("evidence_dispute_id", None)]
        added = 0
        for index, attachment in enumerate(files):
            try:
                file = self.fetch(attachment)
            except (OSError, ValueError) as error:
                logger.warning("cannot fetch %s attachment: %s", attachment.get("channel"), error)
                continue
            try:
                self.channel_backend.add_evidence(
                    buyer,
                    dispute.id,
                    file,
                    description=str(attachment.get("caption") or "Sent in the chat"),
                    idempotency_key=idempotency_key(tracker, "evidence", dispute.id, index),
                )
            except (Refused, NotFound) as error:
                logger.info("evidence for %s refused: %s", dispute.id, error)
                continue
            except BackendError:
                raise
            added += 1
        if added:
            dispatcher.utter_message(
                response="utter_evidence_added", count=added, dispute_id=dispute.id
            )
        else:
            dispatcher.utter_message(response="utter_evidence_not_added", dispute_id=dispute.id)
        return reset
