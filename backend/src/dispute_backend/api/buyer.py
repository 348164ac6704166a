"""Buyer endpoints, called by the assistant's action server and by the storefront.

Every route acts for exactly the buyer named in the X-Buyer-Token; anything else is 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from ..auth import BuyerDep, SessionDep
from ..models import ORDER_ID_PATTERN, Dispute, Event
from ..services import abuse
from ..services import disputes as dispute_svc
from ..services import evidence as evidence_svc
from ..services import orders as order_svc
from . import schemas as s
from . import views
from .common import IfMatch, expected_version
from .deps import BuyerDispute, BuyerWrite, BuyerWriteContext, CurrentBuyer, Now, Rules

router = APIRouter(prefix="/api/v1", tags=["buyer"], responses=s.PROBLEM_RESPONSES)


@router.get("/me", response_model=s.Me)
def me(buyer: CurrentBuyer, session: SessionDep) -> s.Me:
    disputes, purchases = abuse.counts(session, buyer_id=buyer.id)
    review = abuse.open_review(session, buyer_id=buyer.id)
    return s.Me(
        id=buyer.id,
        name=buyer.name,
        email=buyer.email,
        account_status=buyer.account_status.value,
        orders_count=purchases,
        disputes_count=disputes,
        abuse_review=s.AbuseReviewState(
            under_review=review is not None,
            review_opened_at=review.opened_at if review else None,
        ),
    )


@router.get("/orders", response_model=list[s.OrderOut])
def list_orders(buyer: CurrentBuyer, session: SessionDep, at: Now, rs: Rules) -> list[s.OrderOut]:
    return views.orders_out(session, buyer_id=buyer.id, now=at, rs=rs)


@router.get("/orders/{order_id}", response_model=s.OrderOut)
def get_order(
    order_id: str, buyer: CurrentBuyer, session: SessionDep, at: Now, rs: Rules
) -> s.OrderOut:
    order = order_svc.get_order(session, buyer_id=buyer.id, order_id=order_id)
    active = order_svc.active_disputes_by_order(session, order_ids=[order.id])
    return views.order_out(order, active_dispute=active.get(order.id), now=at, rs=rs)


# async: one of the measured exceptions listed in api/common.py ON_THE_EVENT_LOOP.
@router.get("/orders/{order_id}/eligibility", response_model=s.EligibilityOut)
async def eligibility(
    order_id: str, ctx: BuyerDep, session: SessionDep, at: Now, rs: Rules
) -> s.EligibilityOut:
    verdict = order_svc.eligibility_of(
        session, buyer_id=ctx.buyer_id, order_id=order_id, now=at, rs=rs
    )
    return views.eligibility_out(order_id, verdict)


@router.post("/disputes", status_code=201, response_model=s.DisputeOut)
def open_dispute(body: s.OpenDispute, w: BuyerWrite) -> JSONResponse:
    def action() -> s.DisputeOut:
        dispute = dispute_svc.open_dispute(
            w.session, buyer=w.buyer, now=w.now, rs=w.rs, **body.model_dump()
        )
        return w.dispute_out(dispute)

    return w.run(body, action, status_code=201)


@router.get("/disputes", response_model=list[s.DisputeOut])
def list_disputes(
    buyer: CurrentBuyer,
    session: SessionDep,
    at: Now,
    rs: Rules,
    order_id: Annotated[str | None, Query(pattern=ORDER_ID_PATTERN)] = None,
    status: Annotated[Literal["in_progress", "ended"] | None, Query()] = None,
) -> list[s.DisputeOut]:
    rows = dispute_svc.list_disputes(
        session,
        buyer_id=buyer.id,
        order_id=order_id,
        in_progress=None if status is None else status == "in_progress",
    )
    return [views.dispute_out(session, d, now=at, rs=rs) for d in rows]


# async: one of the measured exceptions listed in api/common.py ON_THE_EVENT_LOOP.
@router.get("/disputes/{dispute_id}", response_model=s.DisputeOut)
async def get_dispute(
    dispute_id: str, ctx: BuyerDep, session: SessionDep, at: Now, rs: Rules
) -> s.DisputeOut:
    d = dispute_svc.read_for_buyer(session, buyer_id=ctx.buyer_id, public_id=dispute_id)
    return views.dispute_out(session, d, now=at, rs=rs)


@router.get("/disputes/{dispute_id}/events", response_model=list[s.EventOut])
def dispute_events(d: BuyerDispute, session: SessionDep) -> list[s.EventOut]:
    rows = session.scalars(select(Event).where(Event.dispute_id == d.id).order_by(Event.id))
    return [views.event_out(e) for e in rows]


def _change(
    w: BuyerWriteContext,
    dispute_id: str,
    body: BaseModel | None,
    if_match: str | None,
    change: Callable[..., Dispute],
) -> JSONResponse:
    """One change of the buyer's dispute, once per Idempotency-Key: `change`, a service
    function, runs for this buyer at the version the buyer read, with the body's fields as its
    keyword arguments; the dispute is the answer."""

    def action() -> s.DisputeOut:
        version = expected_version(if_match)
        d = w.dispute(dispute_id)
        fields = body.model_dump() if body is not None else {}
        change(
            w.session, dispute=d, buyer_id=w.buyer.id, expected_version=version, now=w.now, **fields
        )
        return w.dispute_out(d)

    return w.run(body, action)


@router.post("/disputes/{dispute_id}/proposal", response_model=s.DisputeOut)
def modify_proposal(
    dispute_id: str, body: s.ModifyProposal, w: BuyerWrite, if_match: IfMatch = None
) -> JSONResponse:
    return _change(w, dispute_id, body, if_match, dispute_svc.modify_proposal)


@router.post("/disputes/{dispute_id}/cancel", response_model=s.DisputeOut)
def cancel(dispute_id: str, w: BuyerWrite, if_match: IfMatch = None) -> JSONResponse:
    return _change(w, dispute_id, None, if_match, dispute_svc.cancel)


@router.post("/disputes/{dispute_id}/accept-seller-proposal", response_model=s.DisputeOut)
def accept_seller_proposal(
    dispute_id: str, w: BuyerWrite, if_match: IfMatch = None
) -> JSONResponse:
    return _change(w, dispute_id, None, if_match, dispute_svc.buyer_accept_seller_proposal)


@router.post("/disputes/{dispute_id}/evidence", status_code=201, response_model=s.EvidenceOut)
def add_evidence(
    dispute_id: str,
    w: BuyerWrite,
    file: Annotated[UploadFile, File(description="JPEG, PNG, GIF, PDF or MP4, at most 10 MB")],
    description: Annotated[str, Form(max_length=2000)] = "",
) -> JSONResponse:
    return w.upload(dispute_id, file, description)


@router.get("/disputes/{dispute_id}/evidence", response_model=list[s.EvidenceOut])
def list_evidence(d: BuyerDispute, session: SessionDep) -> list[s.EvidenceOut]:
    return [views.evidence_out(e) for e in evidence_svc.list_evidence(session, dispute=d)]


@router.get("/disputes/{dispute_id}/messages", response_model=list[s.MessageOut])
def list_messages(d: BuyerDispute, session: SessionDep) -> list[s.MessageOut]:
    return [views.message_out(m) for m in evidence_svc.list_messages(session, dispute=d)]


@router.post("/disputes/{dispute_id}/messages", status_code=201, response_model=s.MessageOut)
def post_message(dispute_id: str, body: s.NewMessage, w: BuyerWrite) -> JSONResponse:
    return w.message(dispute_id, body)
