"""Seller endpoints (Authorization: Bearer <the seller's API key>)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from ..auth import SellerDep, SessionDep
from ..models import Dispute, Party
from ..services import disputes as dispute_svc
from ..services import evidence as evidence_svc
from . import schemas as s
from . import views
from .buyer import upload_evidence
from .common import IdempotencyKey, IfMatch, expected_version, idempotent, now, rule_settings

router = APIRouter(prefix="/api/v1/seller", tags=["seller"], responses=s.PROBLEM_RESPONSES)

SELLER_ACTIONS: list[s.NextAction] = ["send_message", "upload_evidence"]


def _out(request: Request, session: SessionDep, d: Dispute) -> s.DisputeOut:
    actions: list[s.NextAction] = [] if d.state.value == "ended" else SELLER_ACTIONS
    return views.dispute_out(
        session, d, now=now(request), rs=rule_settings(request), next_actions=actions
    )


@router.get("/disputes", response_model=list[s.DisputeOut])
def list_disputes(
    request: Request, seller_ctx: SellerDep, session: SessionDep
) -> list[s.DisputeOut]:
    seller = seller_ctx.load(session)
    rows = dispute_svc.list_disputes(session, seller_id=seller.id)
    return [_out(request, session, d) for d in rows]


@router.get("/disputes/{dispute_id}", response_model=s.DisputeOut)
def get_dispute(
    request: Request, dispute_id: str, seller_ctx: SellerDep, session: SessionDep
) -> s.DisputeOut:
    seller = seller_ctx.load(session)
    d = dispute_svc.get_for_seller(session, seller_id=seller.id, public_id=dispute_id)
    return _out(request, session, d)


@router.post("/disputes/{dispute_id}/accept", response_model=s.DisputeOut)
def accept(
    request: Request,
    dispute_id: str,
    seller_ctx: SellerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    seller = seller_ctx.load(session)

    def action() -> s.DisputeOut:
        d = dispute_svc.get_for_seller(session, seller_id=seller.id, public_id=dispute_id)
        dispute_svc.seller_accept(
            session,
            dispute=d,
            seller_id=seller.id,
            expected_version=expected_version(if_match),
            now=now(request),
        )
        return _out(request, session, d)

    return idempotent(
        request,
        session,
        principal=f"seller:{seller.id}",
        key=idempotency_key,
        payload=None,
        action=action,
    )


@router.post("/disputes/{dispute_id}/reject", response_model=s.DisputeOut)
def reject(
    request: Request,
    dispute_id: str,
    body: s.Note,
    seller_ctx: SellerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    seller = seller_ctx.load(session)

    def action() -> s.DisputeOut:
        d = dispute_svc.get_for_seller(session, seller_id=seller.id, public_id=dispute_id)
        dispute_svc.seller_reject(
            session,
            dispute=d,
            seller_id=seller.id,
            expected_version=expected_version(if_match),
            note=body.note,
            now=now(request),
        )
        return _out(request, session, d)

    return idempotent(
        request,
        session,
        principal=f"seller:{seller.id}",
        key=idempotency_key,
        payload=body,
        action=action,
    )


@router.post("/disputes/{dispute_id}/counter", response_model=s.DisputeOut)
def counter(
    request: Request,
    dispute_id: str,
    body: s.Counter,
    seller_ctx: SellerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    seller = seller_ctx.load(session)

    def action() -> s.DisputeOut:
        d = dispute_svc.get_for_seller(session, seller_id=seller.id, public_id=dispute_id)
        dispute_svc.seller_counter(
            session,
            dispute=d,
            seller_id=seller.id,
            expected_version=expected_version(if_match),
            refund_amount=body.refund_amount,
            with_return=body.with_return,
            note=body.note,
            now=now(request),
        )
        return _out(request, session, d)

    return idempotent(
        request,
        session,
        principal=f"seller:{seller.id}",
        key=idempotency_key,
        payload=body,
        action=action,
    )


@router.post("/disputes/{dispute_id}/messages", status_code=201, response_model=s.MessageOut)
def post_message(
    request: Request,
    dispute_id: str,
    body: s.NewMessage,
    seller_ctx: SellerDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    seller = seller_ctx.load(session)

    def action() -> s.MessageOut:
        d = dispute_svc.get_for_seller(session, seller_id=seller.id, public_id=dispute_id)
        m = evidence_svc.add_message(
            session,
            dispute=d,
            party=Party.seller,
            author_id=seller.id,
            body=body.body,
            now=now(request),
        )
        return views.message_out(m)

    return idempotent(
        request,
        session,
        principal=f"seller:{seller.id}",
        key=idempotency_key,
        payload=body,
        action=action,
        status_code=201,
    )


@router.post("/disputes/{dispute_id}/evidence", status_code=201, response_model=s.EvidenceOut)
def add_evidence(
    request: Request,
    dispute_id: str,
    seller_ctx: SellerDep,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
    description: Annotated[str, Form(max_length=2000)] = "",
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    seller = seller_ctx.load(session)
    return upload_evidence(
        request,
        session,
        dispute_loader=lambda: dispute_svc.get_for_seller(
            session, seller_id=seller.id, public_id=dispute_id
        ),
        party=Party.seller,
        author_id=seller.id,
        principal=f"seller:{seller.id}",
        file=file,
        description=description,
        idempotency_key=idempotency_key,
    )
