"""Who is calling: service tokens, the buyer's signed chat token, seller keys, operators."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, Header, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import errors
from .db import begin_write
from .models import Buyer, Operator, Seller
from .settings import Settings

CHAT_TOKEN_AUDIENCE = "dispute-backend:buyer"  # noqa: S105  (a JWT audience, not a secret)


def issue_chat_token(*, buyer_id: str, now: datetime, settings: Settings) -> tuple[str, datetime]:
    expires_at = now + timedelta(seconds=settings.chat_token_ttl_seconds)
    claims = {"sub": buyer_id, "aud": CHAT_TOKEN_AUDIENCE, "iat": now, "exp": expires_at}
    token = jwt.encode(claims, settings.chat_token_secret, algorithm="HS256")
    return token, expires_at


def read_chat_token(token: str, *, now: datetime, settings: Settings) -> str:
    """The buyer id in a valid token; BuyerTokenInvalid for an edited or expired one."""
    try:
        claims = jwt.decode(
            token,
            settings.chat_token_secret,
            algorithms=["HS256"],
            audience=CHAT_TOKEN_AUDIENCE,
            options={"require": ["sub", "exp"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise errors.BuyerTokenInvalid("The chat token is invalid.") from exc
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now.timestamp():
        raise errors.BuyerTokenInvalid("The chat token has expired; sign in again.")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise errors.BuyerTokenInvalid("The chat token names no buyer.")
    return sub


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
    buyer: Buyer
    service: str  # "assistant" or "storefront"

    @property
    def principal(self) -> str:
        return f"buyer:{self.buyer.id}"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; a mutating request takes SQLite's write lock up front."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            begin_write(session)
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def require_storefront(request: Request) -> None:
    token = bearer(request)
    if token is None or not same(token, settings_of(request).storefront_service_token):
        raise errors.Unauthenticated("A valid storefront service token is required.")


def require_buyer(
    request: Request,
    session: SessionDep,
    x_buyer_token: Annotated[str | None, Header()] = None,
) -> BuyerContext:
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
    if not x_buyer_token:
        raise errors.BuyerTokenInvalid("The X-Buyer-Token header is missing.")
    buyer_id = read_chat_token(x_buyer_token, now=now_of(request), settings=settings)
    buyer = session.get(Buyer, buyer_id)
    if buyer is None:
        raise errors.BuyerTokenInvalid("The chat token names an unknown buyer.")
    return BuyerContext(buyer=buyer, service=service)


def require_seller(request: Request, session: SessionDep) -> Seller:
    token = bearer(request)
    if token is None:
        raise errors.Unauthenticated("A seller API key is required.")
    stmt = select(Seller).where(Seller.api_key_sha256 == key_digest(token))
    seller = session.scalars(stmt).one_or_none()
    if seller is None:
        raise errors.Unauthenticated("Unknown seller API key.")
    return seller


def require_operator(
    request: Request,
    session: SessionDep,
    x_operator_id: Annotated[str | None, Header()] = None,
) -> Operator:
    token = bearer(request)
    if token is None or not same(token, settings_of(request).console_service_token):
        raise errors.Unauthenticated("A valid console service token is required.")
    operator = session.get(Operator, x_operator_id) if x_operator_id else None
    if operator is None:
        raise errors.OperatorUnknown("X-Operator-Id must name a known operator.")
    return operator


BuyerDep = Annotated[BuyerContext, Depends(require_buyer)]
SellerDep = Annotated[Seller, Depends(require_seller)]
OperatorDep = Annotated[Operator, Depends(require_operator)]
