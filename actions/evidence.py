"""Photos and documents sent on Telegram or Messenger, attached to the buyer's dispute.

The channel connectors (extensions/telegram.py, extensions/facebook.py) turn a message with
a file into the intent `send_evidence` and put the file's description in the message
metadata under `attachments`: `{"channel", "kind", "file_id" (Telegram) or "url"
(Messenger), "file_name", "mime_type", "caption"}`. This action fetches the file from the
platform and uploads it to the dispute in progress; with several, it asks which one first
and keeps the files in the `pending_evidence` slot meanwhile.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.accounts import ChannelAware
from actions.backend_client import (
    BackendError,
    ChannelBackend,
    DisputeBackend,
    EvidenceFile,
    NotFound,
    Refused,
)
from actions.common import BackendAction, idempotency_key

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
DOWNLOAD_TIMEOUT = 10.0
TELEGRAM_API = "https://api.telegram.org"

Fetcher = Callable[[dict[str, Any]], EvidenceFile]


def _get(url: str) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError("only http(s) downloads")
    request = urllib.request.Request(url, headers={"User-Agent": "dispute-assistant"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:  # noqa: S310
        data: bytes = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError("file larger than 10 MB")
    return data


def fetch_from_platform(attachment: dict[str, Any]) -> EvidenceFile:
    """Download one attachment: Telegram by getFile + its file path, Messenger by its URL."""
    channel = attachment.get("channel")
    name = str(attachment.get("file_name") or "")
    if channel == "telegram":
        base = (os.environ.get("TELEGRAM_API_URL") or TELEGRAM_API).rstrip("/")
        token = os.environ.get("TELEGRAM_BOT_TOKEN", "")
        query = urllib.parse.urlencode({"file_id": str(attachment.get("file_id", ""))})
        answer = json.loads(_get(f"{base}/bot{token}/getFile?{query}"))
        path = str((answer.get("result") or {}).get("file_path") or "")
        if not answer.get("ok") or not path:
            raise ValueError(f"getFile refused: {answer.get('description')}")
        content = _get(f"{base}/file/bot{token}/{path}")
        name = name or path.rsplit("/", 1)[-1]
    elif channel == "facebook":
        url = str(attachment.get("url") or "")
        if not url.startswith(("http://", "https://")):
            raise ValueError("attachment without a URL")
        content = _get(url)
        name = name or urllib.parse.urlparse(url).path.rsplit("/", 1)[-1]
    else:
        raise ValueError(f"no files on channel {channel!r}")
    name = name or "evidence"
    mime = str(attachment.get("mime_type") or mimetypes.guess_type(name)[0] or "")
    if "." not in name and mime:
        name += mimetypes.guess_extension(mime) or ""
    return EvidenceFile(filename=name, content=content, content_type=mime or "image/jpeg")


def attachments_of(tracker: Tracker) -> list[dict[str, Any]]:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    found = metadata.get("attachments")
    if isinstance(found, list) and found:
        return [a for a in found if isinstance(a, dict)]
    pending = tracker.get_slot("pending_evidence")
    return [a for a in pending if isinstance(a, dict)] if isinstance(pending, list) else []


class ActionAttachEvidence(ChannelAware, BackendAction):
    def __init__(
        self,
        backend: DisputeBackend | None = None,
        channel_backend: ChannelBackend | None = None,
        fetch: Fetcher | None = None,
    ) -> None:
        BackendAction.__init__(self, backend)
        ChannelAware.__init__(self, channel_backend)
        self.fetch = fetch or fetch_from_platform

    def name(self) -> str:
        return "action_attach_evidence"

    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, buyer: str
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
            buttons = [{"title": f"{d.id} (order {d.order_id[-4:]})",
                        "payload": f'/send_evidence{{"evidence_dispute_id":"{d.id}"}}'}
                       for d in in_progress[:3]]  # fmt: skip
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
                    buyer, dispute.id, file,
                    description=str(attachment.get("caption") or "Sent in the chat"),
                    idempotency_key=idempotency_key(tracker, "evidence", dispute.id, index),
                )  # fmt: skip
            except (Refused, NotFound) as error:
                logger.info("evidence for %s refused: %s", dispute.id, error)
                continue
            except BackendError:
                raise
            added += 1
        if added:
            dispatcher.utter_message(response="utter_evidence_added", count=added,
                                     dispute_id=dispute.id)  # fmt: skip
        else:
            dispatcher.utter_message(response="utter_evidence_not_added", dispute_id=dispute.id)
        return reset
