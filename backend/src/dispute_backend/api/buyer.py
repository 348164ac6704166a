"""Buyer endpoints, called by the assistant's action server and by the storefront.

Every route acts for exactly the buyer named in the X-Buyer-Token; anything else is 404.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy import select

from ..auth import BuyerDep, SessionDep, settings_of
from ..models import Dispute, Event, Party
from ..services import abuse
from ..services import disputes as dispute_svc
from ..services import evidence as evidence_svc
from ..services import orders as order_svc
from . import schemas as s
from . import views
from .common import (
    IdempotencyKey,
    IfMatch,
    expected_version,
    idempotent,
    now,
    require_key,
    rule_settings,
)

router = APIRouter(prefix="/api/v1", tags=["buyer"], responses=s.PROBLEM_RESPONSES)


@router.get("/me", response_model=s.Me)
def me(request: Request, ctx: BuyerDep, session: SessionDep) -> s.Me:
    buyer = ctx.load(session)
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
def list_orders(request: Request, ctx: BuyerDep, session: SessionDep) -> list[s.OrderOut]:
    buyer = ctx.load(session)
    rows = order_svc.list_orders(session, buyer_id=buyer.id)
    active = order_svc.active_disputes_by_order(session, order_ids=[o.id for o in rows])
    at, rs = now(request), rule_settings(request)
    return [views.order_out(o, active_dispute=active.get(o.id), now=at, rs=rs) for o in rows]


@router.get("/orders/{order_id}", response_model=s.OrderOut)
def get_order(request: Request, order_id: str, ctx: BuyerDep, session: SessionDep) -> s.OrderOut:
    buyer = ctx.load(session)
    order = order_svc.get_order(session, buyer_id=buyer.id, order_id=order_id)
    active = order_svc.active_disputes_by_order(session, order_ids=[order.id])
    return views.order_out(
        order, active_dispute=active.get(order.id), now=now(request), rs=rule_settings(request)
    )


# The two reads the assistant makes most run on the event loop: a few indexed queries cost
# less than the hop to a worker thread and back (and the GIL hand-offs it brings). Writes, which
# may wait for a lock, and the heavier reads stay in the thread pool.
@router.get("/orders/{order_id}/eligibility", response_model=s.EligibilityOut)
async def eligibility(
    request: Request, order_id: str, ctx: BuyerDep, session: SessionDep
) -> s.EligibilityOut:
    verdict = order_svc.eligibility_of(
        session,
        buyer_id=ctx.buyer_id,
        order_id=order_id,
        now=now(request),
        rs=rule_settings(request),
    )
    return views.eligibility_out(order_id, verdict)


@router.post("/disputes", status_code=201, response_model=s.DisputeOut)
def open_dispute(
    request: Request,
    body: s.OpenDispute,
    ctx: BuyerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    buyer = ctx.load(session)
    at, rs = now(request), rule_settings(request)

    def action() -> s.DisputeOut:
        dispute = dispute_svc.open_dispute(
            session,
            buyer=buyer,
            order_id=body.order_id,
            reason=body.reason,
            requested_outcome=body.requested_outcome,
            refund_amount=body.refund_amount,
            with_return=body.with_return,
            description=body.description,
            now=at,
            rs=rs,
        )
        return views.dispute_out(session, dispute, now=at, rs=rs)

    return idempotent(
        request,
        session,
        principal=ctx.principal,
        key=idempotency_key,
        payload=body,
        action=action,
        status_code=201,
    )


@router.get("/disputes", response_model=list[s.DisputeOut])
def list_disputes(
    request: Request,
    ctx: BuyerDep,
    session: SessionDep,
    order_id: str | None = None,
    status: Annotated[Literal["in_progress", "ended"] | None, Query()] = None,
) -> list[s.DisputeOut]:
    buyer = ctx.load(session)
    at, rs = now(request), rule_settings(request)
    rows = dispute_svc.list_disputes(
        session,
        buyer_id=buyer.id,
        order_id=order_id,
        in_progress=None if status is None else status == "in_progress",
    )
    return [views.dispute_out(session, d, now=at, rs=rs) for d in rows]


@router.get("/disputes/{dispute_id}", response_model=s.DisputeOut)
async def get_dispute(
    request: Request, dispute_id: str, ctx: BuyerDep, session: SessionDep
) -> s.DisputeOut:
    d = dispute_svc.read_for_buyer(session, buyer_id=ctx.buyer_id, public_id=dispute_id)
    return views.dispute_out(session, d, now=now(request), rs=rule_settings(request))


@router.get("/disputes/{dispute_id}/events", response_model=list[s.EventOut])
def dispute_events(dispute_id: str, ctx: BuyerDep, session: SessionDep) -> list[s.EventOut]:
    buyer = ctx.load(session)
    d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)
    rows = session.scalars(select(Event).where(Event.dispute_id == d.id).order_by(Event.id))
    return [views.event_out(e) for e in rows]


@router.post("/disputes/{dispute_id}/proposal", response_model=s.DisputeOut)
def modify_proposal(
    request: Request,
    dispute_id: str,
    body: s.ModifyProposal,
    ctx: BuyerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    buyer = ctx.load(session)
    at, rs = now(request), rule_settings(request)

    def action() -> s.DisputeOut:
        version = expected_version(if_match)
        d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)
        dispute_svc.modify_proposal(
            session,
            dispute=d,
            buyer_id=buyer.id,
            expected_version=version,
            refund_amount=body.refund_amount,
            with_return=body.with_return,
            request=body.request,
            now=at,
        )
        return views.dispute_out(session, d, now=at, rs=rs)

    return idempotent(
        request, session, principal=ctx.principal, key=idempotency_key, payload=body, action=action
    )


@router.post("/disputes/{dispute_id}/cancel", response_model=s.DisputeOut)
def cancel(
    request: Request,
    dispute_id: str,
    ctx: BuyerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    buyer = ctx.load(session)
    at, rs = now(request), rule_settings(request)

    def action() -> s.DisputeOut:
        version = expected_version(if_match)
        d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)
        dispute_svc.cancel(session, dispute=d, buyer_id=buyer.id, expected_version=version, now=at)
        return views.dispute_out(session, d, now=at, rs=rs)

    return idempotent(
        request, session, principal=ctx.principal, key=idempotency_key, payload=None, action=action
    )


@router.post("/disputes/{dispute_id}/accept-seller-proposal", response_model=s.DisputeOut)
def accept_seller_proposal(
    request: Request,
    dispute_id: str,
    ctx: BuyerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    buyer = ctx.load(session)
    at, rs = now(request), rule_settings(request)

    def action() -> s.DisputeOut:
        version = expected_version(if_match)
        d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)
        dispute_svc.buyer_accept_seller_proposal(
            session, dispute=d, buyer_id=buyer.id, expected_version=version, now=at
        )
        return views.dispute_out(session, d, now=at, rs=rs)

    return idempotent(
        request, session, principal=ctx.principal, key=idempotency_key, payload=None, action=action
    )


def upload_evidence(
    request: Request,
    session: SessionDep,
    *,
    dispute_loader: Callable[[], Dispute],
    party: Party,
    author_id: str,
    principal: str,
    file: UploadFile,
    description: str,
    idempotency_key: str | None,
) -> JSONResponse:
    """Shared by buyers and sellers (R5: either party can upload)."""
    key = require_key(idempotency_key)
    settings = settings_of(request)
    dispute = dispute_loader()  # 404 before reading the upload
    staged = evidence_svc.stage_upload(
        file.file,
        directory=settings.evidence_dir / ".staging",
        max_bytes=settings.max_evidence_bytes,
    )
    print_ = hashlib.sha256(
        f"{request.url.path}|{staged.sha256}|{description}|{file.filename}".encode()
    ).hexdigest()
    at = now(request)

    def action() -> s.EvidenceOut:
        item = evidence_svc.add_evidence(
            session,
            dispute=dispute,
            party=party,
            author_id=author_id,
            staged=staged,
            filename=file.filename or "upload",
            description=description,
            evidence_dir=settings.evidence_dir,
            max_files=settings.max_evidence_files,
            now=at,
        )
        return views.evidence_out(item)

    try:
        return idempotent(
            request,
            session,
            principal=principal,
            key=key,
            payload=None,
            action=action,
            status_code=201,
            print_=print_,
        )
    finally:
        staged.path.unlink(missing_ok=True)  # moved into place on success; dropped otherwise


@router.post("/disputes/{dispute_id}/evidence", status_code=201, response_model=s.EvidenceOut)
def add_evidence(
    request: Request,
    dispute_id: str,
    ctx: BuyerDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="JPEG, PNG, GIF, PDF or MP4, at most 10 MB")],
    description: Annotated[str, Form(max_length=2000)] = "",
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    buyer = ctx.load(session)
    return upload_evidence(
        request,
        session,
        dispute_loader=lambda: dispute_svc.get_for_buyer(
            session, buyer_id=buyer.id, public_id=dispute_id
        ),
        party=Party.buyer,
        author_id=buyer.id,
        principal=ctx.principal,
        file=file,
        description=description,
        idempotency_key=idempotency_key,
    )


@router.get("/disputes/{dispute_id}/evidence", response_model=list[s.EvidenceOut])
def list_evidence(dispute_id: str, ctx: BuyerDep, session: SessionDep) -> list[s.EvidenceOut]:
    buyer = ctx.load(session)
    d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)
    return [views.evidence_out(e) for e in evidence_svc.list_evidence(session, dispute=d)]


@router.get("/disputes/{dispute_id}/messages", response_model=list[s.MessageOut])
def list_messages(dispute_id: str, ctx: BuyerDep, session: SessionDep) -> list[s.MessageOut]:
    buyer = ctx.load(session)
    d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)
    return [views.message_out(m) for m in evidence_svc.list_messages(session, dispute=d)]


@router.post("/disputes/{dispute_id}/messages", status_code=201, response_model=s.MessageOut)
def post_message(
    request: Request,
    dispute_id: str,
    body: s.NewMessage,
    ctx: BuyerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    buyer = ctx.load(session)
    at = now(request)

    def action() -> s.MessageOut:
        d = dispute_svc.get_for_buyer(session, buyer_id=buyer.id, public_id=dispute_id)
        m = evidence_svc.add_message(
            session, dispute=d, party=Party.buyer, author_id=buyer.id, body=body.body, now=at
        )
        return views.message_out(m)

    return idempotent(
        request,
        session,
        principal=ctx.principal,
        key=idempotency_key,
        payload=body,
        action=action,
        status_code=201,
    )
