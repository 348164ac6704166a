"""The marketplace web page: the demo sign-in picker, chat tokens and their sessions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select

from .. import errors
from ..auth import SessionDep, issue_chat_token, require_storefront, settings_of
from ..models import Buyer, Order
from ..services import chat_sessions
from ..settings import AppEnv
from . import schemas as s
from .deps import Now

router = APIRouter(
    prefix="/api/v1/storefront",
    tags=["storefront"],
    dependencies=[Depends(require_storefront)],
    responses=s.PROBLEM_RESPONSES,
)


@router.get("/buyers", response_model=list[s.BuyerSummary])
def buyers(request: Request, session: SessionDep) -> list[s.BuyerSummary]:
    """The demo sign-in picker's list, which shows every buyer's e-mail: development only."""
    if settings_of(request).app_env == AppEnv.production:
        raise errors.NotFound("The demo buyer list does not exist in production.")
    stmt = (
        select(Buyer, func.count(Order.id))
        .outerjoin(Order, Order.buyer_id == Buyer.id)
        .group_by(Buyer.id)
        .order_by(Buyer.id)
    )
    return [
        s.BuyerSummary(id=b.id, name=b.name, email=b.email, orders_count=n)
        for b, n in session.execute(stmt)
    ]


@router.post("/chat-tokens", response_model=s.ChatToken)
def chat_token(
    request: Request, body: s.ChatTokenRequest, session: SessionDep, at: Now
) -> s.ChatToken:
    """Not idempotency-keyed: a retry opens another session, as good as the first."""
    settings = settings_of(request)
    ttl = settings.chat_token_ttl_seconds
    if body.session_id is not None:
        chat = chat_sessions.renew(
            session, session_id=body.session_id, buyer_id=body.buyer_id, now=at, ttl_seconds=ttl
        )
    else:
        chat = chat_sessions.start(
            session,
            buyer_id=body.buyer_id,
            conversation_id=body.conversation_id,
            now=at,
            ttl_seconds=ttl,
        )
    token, expires_at = issue_chat_token(chat=chat, now=at, settings=settings)
    session.commit()
    return s.ChatToken(
        token=token, expires_at=expires_at, session_id=chat.id, conversation_id=chat.conversation_id
    )


@router.delete("/chat-sessions/{session_id}", status_code=204)
def end_chat_session(session_id: str, session: SessionDep, at: Now) -> Response:
    """Sign-out: every token of the session stops working at once. Idempotent."""
    chat_sessions.revoke(session, session_id=session_id, now=at)
    session.commit()
    return Response(status_code=204)
