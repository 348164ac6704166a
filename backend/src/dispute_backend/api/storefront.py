"""The marketplace web page: the demo sign-in picker and chat tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select

from .. import errors
from ..auth import SessionDep, issue_chat_token, require_storefront, settings_of
from ..models import Buyer, Order
from . import schemas as s
from .common import now

router = APIRouter(
    prefix="/api/v1/storefront",
    tags=["storefront"],
    dependencies=[Depends(require_storefront)],
    responses=s.PROBLEM_RESPONSES,
)


@router.get("/buyers", response_model=list[s.BuyerSummary])
def buyers(session: SessionDep) -> list[s.BuyerSummary]:
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
def chat_token(request: Request, body: s.ChatTokenRequest, session: SessionDep) -> s.ChatToken:
    """Not idempotency-keyed: it changes nothing stored, and a new token is as good as the old."""
    if session.get(Buyer, body.buyer_id) is None:
        raise errors.BuyerNotFound(f"No buyer {body.buyer_id}.")
    token, expires_at = issue_chat_token(
        buyer_id=body.buyer_id, now=now(request), settings=settings_of(request)
    )
    return s.ChatToken(token=token, expires_at=expires_at)
