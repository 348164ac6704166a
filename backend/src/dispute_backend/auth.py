"""Who is calling: service tokens, the buyer's proof of identity, seller keys, operators.

A buyer is proven by the request's proof only (docs/security.md):

- on the web, a chat token this service signed for the buyer's chat session, used in
  that session's conversation (`X-Buyer-Token` and `X-Conversation-Id`);
- on Telegram and Messenger, the identity the Rasa server signed after verifying the
  platform's webhook (`X-Channel-Identity`, conversation `<channel>:<user id>`), which
  counts once that channel account is linked to a buyer.

No header names a buyer or an account by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, cast

import jwt
from fastapi import Depends, Header, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import errors
from .db import begin_write, mark_read, mark_write
from .models import Buyer, ChatSession, Operator, Seller
from .services import accounts, chat_sessions
from .settings import Settings

log = logging.getLogger(__name__)

CHAT_TOKEN_AUDIENCE = "dispute-backend:buyer"  # noqa: S105  (a JWT audience, not a secret)
CHANNEL_IDENTITY_AUDIENCE = "dispute-backend:channel-identity"
MAX_PROOF_LENGTH = 2048  # a signed token is a few hundred characters


@dataclass(frozen=True)
class ChatClaims:
    buyer_id: str
    session_id: str
    expires_at: float


def issue_chat_token(
    *, chat: ChatSession, now: datetime, settings: Settings
) -> tuple[str, datetime]:
    expires_at = now + timedelta(seconds=settings.chat_token_ttl_seconds)
    claims = {
        "sub": chat.buyer_id,
        "sid": chat.id,
        "aud": CHAT_TOKEN_AUDIENCE,
        "iat": now,
        "exp": expires_at,
    }
    token = jwt.encode(claims, settings.chat_token_secret, algorithm="HS256")
    return token, expires_at


def read_chat_token(token: str, *, now: datetime, settings: Settings) -> ChatClaims:
    """The claims of a valid token; BuyerTokenInvalid for an edited or expired one (whether
    its session still holds is checked against the database by the caller)."""
    claims = _chat_claims(token, settings.chat_token_secret)
    if claims.expires_at <= now.timestamp():
        raise errors.BuyerTokenInvalid("The chat token has expired; sign in again.")
    return claims


def read_channel_identity(proof: str, *, now: datetime, settings: Settings) -> tuple[str, str]:
    """(channel, user id) of a valid channel identity signed by the Rasa server."""
    account, exp = _identity_claims(proof, settings.channel_identity_secret)
    if exp <= now.timestamp():
        raise errors.ChannelIdentityInvalid("The channel identity has expired.")
    return accounts.parse_account(account)


def _decode(token: str, secret: str, audience: str) -> dict[str, object]:
    if len(token) > MAX_PROOF_LENGTH:
        raise jwt.InvalidTokenError("too long")
    claims: dict[str, object] = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=audience,
        options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False},
    )
    return claims


# Signature and shape checks, cached per (token, secret): a token never changes, and the
# expiry is compared with the clock on every request by the caller.
@lru_cache(maxsize=4096)
def _chat_claims(token: str, secret: str) -> ChatClaims:
    try:
        claims = _decode(token, secret, CHAT_TOKEN_AUDIENCE)
    except jwt.PyJWTError as exc:
        raise errors.BuyerTokenInvalid("The chat token is invalid.") from exc
    exp, sub, sid = claims.get("exp"), claims.get("sub"), claims.get("sid")
    if not isinstance(exp, int | float) or not isinstance(sub, str) or not sub:
        raise errors.BuyerTokenInvalid("The chat token names no buyer or no expiry.")
    if not isinstance(sid, str) or not sid:
        raise errors.BuyerTokenInvalid("The chat token names no chat session.")
    return ChatClaims(buyer_id=sub, session_id=sid, expires_at=float(exp))


@lru_cache(maxsize=4096)
def _identity_claims(proof: str, secret: str) -> tuple[str, float]:
    try:
        claims = _decode(proof, secret, CHANNEL_IDENTITY_AUDIENCE)
    except jwt.PyJWTError as exc:
        raise errors.ChannelIdentityInvalid("The channel identity is invalid.") from exc
    exp, sub = claims.get("exp"), claims.get("sub")
    if not isinstance(exp, int | float) or not isinstance(sub, str) or not sub:
        raise errors.ChannelIdentityInvalid("The channel identity names no account.")
    return sub, float(exp)


def bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class BuyerContext:
    """The buyer the request's proof names, checked; `load` fetches the buyer's row in the
    route's own session."""

    buyer_id: str
    service: str  # "assistant" or "storefront"

    @property
    def principal(self) -> str:
        return f"buyer:{self.buyer_id}"

    def load(self, session: Session) -> Buyer:
        buyer = session.get(Buyer, self.buyer_id)
        if buyer is None:
            raise errors.BuyerTokenInvalid("The chat token names an unknown buyer.")
        return buyer


@dataclass(frozen=True)
class SellerContext:
    key_sha256: str

    def load(self, session: Session) -> Seller:
        stmt = select(Seller).where(Seller.api_key_sha256 == self.key_sha256)
        seller = session.scalars(stmt).one_or_none()
        if seller is None:
            raise errors.Unauthenticated("Unknown seller API key.")
        return seller


@dataclass(frozen=True)
class OperatorContext:
    operator_id: str

    def load(self, session: Session) -> Operator:
        operator = session.get(Operator, self.operator_id)
        if operator is None:
            raise errors.OperatorUnknown("X-Operator-Id must name a known operator.")
        return operator


def settings_of(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def now_of(request: Request) -> datetime:
    return cast(datetime, request.app.state.clock.now())


def _new_session(request: Request) -> Session:
    """A session of the app's factory; `with` closes it, handing its connection back."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory()


# The dependencies below are async and do no I/O, so they run on the event loop without a
# thread hop each; database work happens in the route's single worker thread.


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; a mutating request takes SQLite's write lock at BEGIN, a GET
    (which never writes) runs without a transaction on PostgreSQL."""
    with _new_session(request) as session:
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            mark_write(session)
        elif request.method in ("GET", "HEAD"):
            mark_read(session)
        yield session


# scope="function": the session closes, and its connection goes back to the pool, as soon as
# the route has returned, before the response is sent. A route on the event loop therefore never
# holds a connection across an await, so it can never wait for the pool on the loop itself.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def check_service_token(request: Request, expected: str, service: str) -> None:
    """Unauthenticated unless the request's bearer token is `service`'s token."""
    token = bearer(request)
    if token is None or not same(token, expected):
        raise errors.Unauthenticated(f"A valid {service} service token is required.")


async def require_storefront(request: Request) -> None:
    check_service_token(request, settings_of(request).storefront_service_token, "storefront")


async def require_assistant(request: Request) -> None:
    check_service_token(request, settings_of(request).assistant_service_token, "assistant")


async def require_console(request: Request) -> None:
    check_service_token(request, settings_of(request).console_service_token, "console")


def calling_service(request: Request) -> str:
    """ "assistant" or "storefront", by the bearer service token; Unauthenticated otherwise."""
    settings, token = settings_of(request), bearer(request)
    if token is not None:
        if same(token, settings.assistant_service_token):
            return "assistant"
        if same(token, settings.storefront_service_token):
            return "storefront"
    raise errors.Unauthenticated("A valid service token is required.")


@dataclass(frozen=True)
class BuyerProof:
    """The proof headers of a request, not yet checked."""

    buyer_token: str | None
    channel_identity: str | None
    conversation_id: str | None

    @property
    def given(self) -> bool:
        return bool(self.buyer_token or self.channel_identity)


BuyerTokenHeader = Annotated[
    str | None, Header(description="The buyer's chat token (web chat, storefront).")
]
ChannelIdentityHeader = Annotated[
    str | None,
    Header(description="A Telegram or Messenger user's identity, signed by the Rasa server."),
]
ConversationHeader = Annotated[
    str | None,
    Header(description="The conversation the buyer's message came from (assistant only)."),
]


def get_identity_session(request: Request) -> Iterator[Session]:
    """A session of its own for checking who the caller is, apart from the route's: it
    reads without taking SQLite's write lock, so a request never holds that lock while it
    waits for a worker thread (docs/security.md, "the backend can stop for good")."""
    with _new_session(request) as session:
        mark_read(session)
        yield session


IdentitySessionDep = Annotated[Session, Depends(get_identity_session, scope="function")]


def prove_buyer(request: Request, session: Session, proof: BuyerProof, *, service: str) -> str:
    """The buyer id the proof names, after every check.

    The assistant must say which conversation the message came from: a chat token counts
    only in its session's conversation (an unbound session is bound to the first one), a
    channel identity only in its own account's conversation.
    """
    settings, now = settings_of(request), now_of(request)
    conversation = proof.conversation_id
    if service == "assistant" and not conversation:
        raise errors.BuyerTokenInvalid("The X-Conversation-Id header is missing.")
    try:
        if proof.buyer_token:
            claims = read_chat_token(proof.buyer_token, now=now, settings=settings)
            unbound = chat_sessions.check(
                session,
                session_id=claims.session_id,
                buyer_id=claims.buyer_id,
                conversation_id=conversation,
                now=now,
            )
            if unbound and conversation:
                session.rollback()  # end the read; the binding takes the write lock briefly
                begin_write(session)
                chat_sessions.bind(
                    session, session_id=claims.session_id, conversation_id=conversation
                )
                session.commit()
            return claims.buyer_id
        if proof.channel_identity and service == "assistant":
            channel, external_id = read_channel_identity(
                proof.channel_identity, now=now, settings=settings
            )
            if conversation != f"{channel}:{external_id}":
                raise errors.ChannelIdentityInvalid("The identity belongs to another conversation.")
            return accounts.linked_buyer_id(session, channel=channel, external_id=external_id)
        raise errors.BuyerTokenInvalid("The X-Buyer-Token header is missing.")
    finally:
        session.rollback()  # hand the connection back before the route runs


def require_buyer(
    request: Request,
    session: IdentitySessionDep,
    x_buyer_token: BuyerTokenHeader = None,
    x_channel_identity: ChannelIdentityHeader = None,
    x_conversation_id: ConversationHeader = None,
) -> BuyerContext:
    """The buyer the request proves (a plain `def`: FastAPI runs it in a worker thread)."""
    service = calling_service(request)
    proof = BuyerProof(x_buyer_token, x_channel_identity, x_conversation_id)
    buyer_id = prove_buyer(request, session, proof, service=service)
    return BuyerContext(buyer_id=buyer_id, service=service)


@dataclass(frozen=True)
class ProvenBuyer:
    buyer_id: str | None
    conversation_id: str | None


def optional_buyer(
    request: Request,
    session: IdentitySessionDep,
    x_buyer_token: BuyerTokenHeader = None,
    x_channel_identity: ChannelIdentityHeader = None,
    x_conversation_id: ConversationHeader = None,
) -> ProvenBuyer:
    """The buyer the request proves (a chat token, or a linked Telegram or Messenger
    account); a person can help without one, so a missing, expired or unlinked proof only
    leaves the ticket without a buyer. Resolved before the route opens its own session."""
    proof = BuyerProof(x_buyer_token, x_channel_identity, x_conversation_id)
    if not proof.given:
        return ProvenBuyer(None, x_conversation_id)
    try:
        buyer_id = prove_buyer(request, session, proof, service="assistant")
    except (
        errors.BuyerTokenInvalid,
        errors.ChannelIdentityInvalid,
        errors.ChannelAccountNotLinked,
    ) as exc:
        log.info("handoff: no buyer for the ticket (%s)", exc.slug)
        return ProvenBuyer(None, x_conversation_id)
    return ProvenBuyer(buyer_id, x_conversation_id)


async def require_seller(request: Request) -> SellerContext:
    token = bearer(request)
    if token is None:
        raise errors.Unauthenticated("A seller API key is required.")
    return SellerContext(key_sha256=key_digest(token))


async def require_operator(
    request: Request,
    x_operator_id: Annotated[str | None, Header()] = None,
) -> OperatorContext:
    await require_console(request)
    if not x_operator_id:
        raise errors.OperatorUnknown("X-Operator-Id must name a known operator.")
    return OperatorContext(operator_id=x_operator_id)


BuyerDep = Annotated[BuyerContext, Depends(require_buyer)]
SellerDep = Annotated[SellerContext, Depends(require_seller)]
ProvenBuyerDep = Annotated[ProvenBuyer, Depends(optional_buyer)]
OperatorDep = Annotated[OperatorContext, Depends(require_operator)]
