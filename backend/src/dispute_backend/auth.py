"""Who is calling: service tokens, the buyer's signed chat token, seller keys, operators."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated

import jwt
from anyio import to_thread
from fastapi import Depends, Header, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import errors
from .db import mark_read, mark_write
from .models import Buyer, Operator, Seller
from .services import accounts
from .settings import Settings

CHAT_TOKEN_AUDIENCE = "dispute-backend:buyer"  # noqa: S105  (a JWT audience, not a secret)


def issue_chat_token(*, buyer_id: str, now: datetime, settings: Settings) -> tuple[str, datetime]:
    expires_at = now + timedelta(seconds=settings.chat_token_ttl_seconds)
    claims = {"sub": buyer_id, "aud": CHAT_TOKEN_AUDIENCE, "iat": now, "exp": expires_at}
    token = jwt.encode(claims, settings.chat_token_secret, algorithm="HS256")
    return token, expires_at


def read_chat_token(token: str, *, now: datetime, settings: Settings) -> str:
    """The buyer id in a valid token; BuyerTokenInvalid for an edited or expired one."""
    buyer_id, exp = _verified_claims(token, settings.chat_token_secret)
    if exp <= now.timestamp():
        raise errors.BuyerTokenInvalid("The chat token has expired; sign in again.")
    return buyer_id


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str) -> tuple[str, float]:
    """Signature and shape checks, cached per (token, secret): a token never changes, and the
    expiry is compared with the clock on every request by the caller."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=CHAT_TOKEN_AUDIENCE,
            options={"require": ["sub", "exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise errors.BuyerTokenInvalid("The chat token is invalid.") from exc
    exp = claims.get("exp")
    sub = claims.get("sub")
    if not isinstance(exp, int | float) or not isinstance(sub, str) or not sub:
        raise errors.BuyerTokenInvalid("The chat token names no buyer or no expiry.")
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
    """The checked credentials; `load` fetches the buyer in the route's worker thread."""

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
    settings: Settings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


# The dependencies below are async and do no I/O, so they run on the event loop without a
# thread hop each; database work happens in the route's single worker thread.


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; a mutating request takes SQLite's write lock at BEGIN, a GET
    (which never writes) runs without a transaction on PostgreSQL."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        mark_write(session)
    elif request.method in ("GET", "HEAD"):
        mark_read(session)
    try:
        yield session
    finally:
        session.close()


# scope="function": the session closes, and its connection goes back to the pool, as soon as
# the route has returned, before the response is sent. A route on the event loop therefore never
# holds a connection across an await, so it can never wait for the pool on the loop itself.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def require_storefront(request: Request) -> None:
    token = bearer(request)
    if token is None or not same(token, settings_of(request).storefront_service_token):
        raise errors.Unauthenticated("A valid storefront service token is required.")


async def require_buyer(
    request: Request,
    session: SessionDep,
    x_buyer_token: Annotated[str | None, Header()] = None,
    x_channel_account: Annotated[str | None, Header()] = None,
) -> BuyerContext:
    """The buyer named by the chat token; or, for the assistant only, by a linked channel
    account (`X-Channel-Account: telegram:12345`) when the conversation has no chat token."""
    settings = settings_of(request)
    token = bearer(request)
    service = None
    if token is not None:
        if same(token, settings.assistant_service_token):
            service = "assistant"
        elif same(token, settings.storefront_service_token):
            service = "storefront"
    if service is None:
        raise errors.Unauthenticated("A valid service token is required.")
    if not x_buyer_token and x_channel_account and service == "assistant":
        channel, external_id = accounts.parse_account(x_channel_account)
        linked = await to_thread.run_sync(
            lambda: accounts.linked_buyer_id(session, channel=channel, external_id=external_id)
        )
        return BuyerContext(buyer_id=linked, service=service)
    if not x_buyer_token:
        raise errors.BuyerTokenInvalid("The X-Buyer-Token header is missing.")
    buyer_id = read_chat_token(x_buyer_token, now=now_of(request), settings=settings)
    return BuyerContext(buyer_id=buyer_id, service=service)


async def require_seller(request: Request) -> SellerContext:
    token = bearer(request)
    if token is None:
        raise errors.Unauthenticated("A seller API key is required.")
    return SellerContext(key_sha256=key_digest(token))


async def require_operator(
    request: Request,
    x_operator_id: Annotated[str | None, Header()] = None,
) -> OperatorContext:
    token = bearer(request)
    if token is None or not same(token, settings_of(request).console_service_token):
        raise errors.Unauthenticated("A valid console service token is required.")
    if not x_operator_id:
        raise errors.OperatorUnknown("X-Operator-Id must name a known operator.")
    return OperatorContext(operator_id=x_operator_id)


BuyerDep = Annotated[BuyerContext, Depends(require_buyer)]
SellerDep = Annotated[SellerContext, Depends(require_seller)]
OperatorDep = Annotated[OperatorContext, Depends(require_operator)]
