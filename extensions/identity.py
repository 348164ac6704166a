"""Who a Telegram or Messenger user is, as proven by the platform's verified webhook.

After checking an update's secret token (Telegram) or signature (Messenger), the channel
names the conversation `<channel>:<user id>` and signs a short-lived assertion of that
account with `CHANNEL_IDENTITY_SECRET`, which only the Rasa server and the backend hold.
The assertion travels in the message's `verified` metadata (extensions/inbound.py), the
actions pass it on, and the backend checks it before it resolves the linked buyer. No
other channel can produce one: a client that names a Telegram id in a REST body or in its
metadata names nobody (docs/security.md).
"""

from __future__ import annotations

import time

import jwt

AUDIENCE = "dispute-backend:channel-identity"
# Covers one turn, however slow, and a form's next question; every message brings a new one.
TTL_SECONDS = 15 * 60
CHANNELS = frozenset({"telegram", "facebook"})


def conversation_id(channel: str, user_id: str) -> str:
    """The conversation of one user of a messaging channel: `telegram:12345`.

    The colon keeps it apart from every other channel's conversation ids: the web chat's
    are 32 hex digits and the REST channel refuses a colon.
    """
    return f"{channel}:{user_id}"


def assert_identity(channel: str, user_id: str, *, secret: str, now: float | None = None) -> str:
    """A signed statement that this message came from `channel` user `user_id`."""
    if channel not in CHANNELS:
        raise ValueError(f"no verified identities on channel {channel!r}")
    if not secret:
        raise ValueError("CHANNEL_IDENTITY_SECRET is not set")
    issued = int(now if now is not None else time.time())
    account = conversation_id(channel, user_id)
    claims = {"sub": account, "aud": AUDIENCE, "iat": issued, "exp": issued + TTL_SECONDS}
    return jwt.encode(claims, secret, algorithm="HS256")
