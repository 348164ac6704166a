"""Chat sessions: what a buyer's chat tokens point at (docs/security.md).

A chat token is signed, expires, and names a buyer and a chat session. The session says
which conversation its tokens may be used in, and whether it still holds: signing out of
the web page revokes it, and with it every token naming it. The web page opens a session
bound to the conversation it starts; a session opened without a conversation (an API
client's) is bound to the first conversation that uses it, and to no other afterwards.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from .. import errors
from ..models import Buyer, ChatSession


def start(
    session: Session,
    *,
    buyer_id: str,
    conversation_id: str | None,
    now: datetime,
    ttl_seconds: int,
) -> ChatSession:
    if session.get(Buyer, buyer_id) is None:
        raise errors.BuyerNotFound(f"No buyer {buyer_id}.")
    chat = ChatSession(
        id=secrets.token_hex(16),
        buyer_id=buyer_id,
        conversation_id=conversation_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(chat)
    session.flush()
    return chat


def renew(
    session: Session, *, session_id: str, buyer_id: str, now: datetime, ttl_seconds: int
) -> ChatSession:
    """The buyer's session, still valid, kept alive for another token's lifetime."""
    chat = session.get(ChatSession, session_id)
    if chat is None or chat.buyer_id != buyer_id or chat.revoked_at is not None:
        raise errors.ChatSessionNotFound("No such chat session for this buyer.")
    chat.expires_at = max(chat.expires_at, now + timedelta(seconds=ttl_seconds))
    return chat


def revoke(session: Session, *, session_id: str, now: datetime) -> bool:
    """End a session; True if it was open. Its tokens stop working at once."""
    chat = session.get(ChatSession, session_id)
    if chat is None or chat.revoked_at is not None:
        return False
    chat.revoked_at = now
    return True


def check(
    session: Session,
    *,
    session_id: str,
    buyer_id: str,
    conversation_id: str | None,
    now: datetime,
) -> bool:
    """Refuse a token whose session is unknown, revoked or expired, or that is used in a
    conversation other than its own; True when the session is still unbound and must be
    bound to `conversation_id` (with `bind`). `conversation_id` None: the caller (the web
    page) acts in no conversation."""
    chat = session.get(ChatSession, session_id)
    if chat is None or chat.buyer_id != buyer_id:
        raise errors.BuyerTokenInvalid("The chat token's session is unknown.")
    if chat.revoked_at is not None:
        raise errors.BuyerTokenInvalid("The chat token was revoked; sign in again.")
    if chat.expires_at <= now:
        raise errors.BuyerTokenInvalid("The chat session has expired; sign in again.")
    if conversation_id is None or chat.conversation_id == conversation_id:
        return False
    if chat.conversation_id is None:
        return True
    raise errors.BuyerTokenInvalid("The chat token belongs to another conversation.")


def bind(session: Session, *, session_id: str, conversation_id: str) -> None:
    """Bind an unbound session to its first conversation, in one statement that can only
    ever succeed once; a session another conversation bound meanwhile is refused."""
    bound = session.execute(
        update(ChatSession)
        .where(ChatSession.id == session_id, ChatSession.conversation_id.is_(None))
        .values(conversation_id=conversation_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(bound, "rowcount", 0) == 1:
        return
    chat = session.get(ChatSession, session_id, populate_existing=True)
    if chat is None or chat.conversation_id != conversation_id:
        raise errors.BuyerTokenInvalid("The chat token belongs to another conversation.")
