"""What every input channel does to a message before Rasa sees it (docs/security.md).

- The text is made safe to handle and to store: control characters and broken
  surrogates go, an empty message or one longer than `MAX_MESSAGE_CHARS` becomes the
  payload of an intent that tells the buyer so. A 5 MB text never reaches the NLU
  pipeline or the tracker store.
- Facts only a verified webhook can know (who the user is, which files they sent) live
  under the metadata key `verified`, written by the Telegram and Messenger channels
  after checking the platform's signature. Channels whose clients write the metadata
  themselves (REST, the web chat) drop that key, so no client can claim it.
- A platform that redelivers the same update (Telegram's `update_id`, Messenger's `mid`)
  gets it handled once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from typing import Any

logger = logging.getLogger(__name__)

# Messenger's own limit for a message; a dispute's description fits in it many times over.
MAX_MESSAGE_CHARS = 2000
# Metadata a client may send (the chat token, the page's language...): a few hundred bytes.
MAX_METADATA_BYTES = 8 * 1024
# Levels of nesting a client's metadata may have: Rasa deep-copies it recursively, and a few
# hundred levels (a kilobyte of brackets) ended in a RecursionError and a 500.
MAX_METADATA_DEPTH = 16
EMPTY_MESSAGE = "/message_empty"
TOO_LONG_MESSAGE = "/message_too_long"
VERIFIED = "verified"
# Kept when a client's metadata is too large: what identifies the buyer.
ESSENTIAL_METADATA = ("chat_token",)

# Markup pasted into a chat ("<script>...</script> my earbuds are broken") is not what
# the buyer says: scripts and styles go whole, other tags leave their text.
_MARKUP = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>|</?[a-z][^<>]{0,200}>", re.I | re.S)
# C0 and C1 control characters except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def readable_text(text: Any) -> str:
    """The message as Rasa should see it: printable text, or an intent's payload saying
    why it cannot be read (nothing in it, or too long)."""
    if not isinstance(text, str):
        return EMPTY_MESSAGE
    if len(text) > MAX_MESSAGE_CHARS * 4:  # far too long: no need to clean it first
        return TOO_LONG_MESSAGE
    # Lone surrogates (JSON allows "\ud800") cannot be stored as UTF-8.
    cleaned = _CONTROL.sub(" ", text.encode("utf-8", "replace").decode("utf-8"))
    cleaned = _MARKUP.sub(" ", cleaned).strip()
    if not cleaned:
        return EMPTY_MESSAGE
    if len(cleaned) > MAX_MESSAGE_CHARS:
        return TOO_LONG_MESSAGE
    return cleaned


def client_metadata(raw: Any) -> dict[str, Any]:
    """Metadata written by a client (REST body, web chat): never `verified`, never large or
    deeply nested."""
    if not isinstance(raw, dict):
        return {}
    metadata = {str(k): v for k, v in raw.items() if k != VERIFIED}
    if too_deep(metadata, MAX_METADATA_DEPTH):
        logger.warning(
            "client metadata nested over %d levels cut to its essentials", MAX_METADATA_DEPTH
        )
        return essentials(metadata)
    try:
        size = len(json.dumps(metadata, default=str))
    except (TypeError, ValueError, RecursionError):
        size = MAX_METADATA_BYTES + 1
    if size > MAX_METADATA_BYTES:
        logger.warning("client metadata of %d bytes cut to its essentials", size)
        return essentials(metadata)
    return metadata


def essentials(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: metadata[k] for k in ESSENTIAL_METADATA if isinstance(metadata.get(k), str)}


def too_deep(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """True when lists and dicts nest more than `limit` levels (checked without recursion)."""
    pending: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                pending.append((child, depth + 1))
    return False


class SeenIds:
    """Ids seen lately (a platform's update or message ids), to handle each once.

    In this process's memory, bounded in size and age: platforms redeliver within minutes
    (Telegram until it gets a 200, Messenger for a few hours at most).
    """

    def __init__(self, max_size: int = 100_000, ttl_seconds: float = 24 * 3600) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self.max_size = max_size
        self.ttl_seconds = ttl_seconds

    def first_time(self, key: str) -> bool:
        """True the first time `key` is offered (and records it); False after."""
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self.ttl_seconds and len(self._seen) < self.max_size:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now
            return True
