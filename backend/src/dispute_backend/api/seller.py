"""Seller endpoints (Authorization: Bearer <the seller's API key>)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from .. import rules
from ..auth import SessionDep
from ..models import Dispute
from ..services import disputes as dispute_svc
from . import schemas as s
from . import views
from .common import IfMatch, expected_version
from .deps import CurrentSeller, Now, Rules, SellerDispute, SellerWrite, SellerWriteContext

router = APIRouter(prefix="/api/v1/seller", tags=["seller"], responses=s.PROBLEM_RESPONSES)

SELLER_ACTIONS: list[s.NextAction] = ["send_message", "upload_evidence"]


def _out(session: Session, d: Dispute, at: datetime, rs: rules.RuleSettings) -> s.DisputeOut:
    actions: list[s.NextAction] = [] if d.state.value == "ended" else SELLER_ACTIONS
    return views.dispute_out(session, d, now=at, rs=rs, next_actions=actions)


@router.get("/disputes", response_model=list[s.DisputeOut])
def list_disputes(
    seller: CurrentSeller, session: SessionDep, at: Now, rs: Rules
) -> list[s.DisputeOut]:
    rows = dispute_svc.list_disputes(session, seller_id=seller.id)
    return [_out(session, d, at, rs) for d in rows]


@router.get("/disputes/{dispute_id}", response_model=s.DisputeOut)
def get_dispute(d: SellerDispute, session: SessionDep, at: Now, rs: Rules) -> s.DisputeOut:
    return _out(session, d, at, rs)


def _answer(
    w: SellerWriteContext,
    dispute_id: str,
    body: BaseModel | None,
    if_match: str | None,
    change: Callable[..., Dispute],
) -> JSONResponse:
    """One seller answer to a dispute, once per Idempotency-Key: `change`, a service function,
    runs for this seller at the version the seller read, with the body's fields as its keyword
    arguments; the dispute is the answer."""

    def action() -> s.DisputeOut:
        d = w.dispute(dispute_id)
        version = expected_version(if_match)
        fields = body.model_dump() if body is not None else {}
        change(
            w.session,
            dispute=d,
            seller_id=w.seller.id,
            expected_version=version,
            now=w.now,
            **fields,
        )
        return _out(w.session, d, w.now, w.rs)

    return w.run(body, action)


@router.post("/disputes/{dispute_id}/accept", response_model=s.DisputeOut)
def accept(dispute_id: str, w: SellerWrite, if_match: IfMatch = None) -> JSONResponse:
    return _answer(w, dispute_id, None, if_match, dispute_svc.seller_accept)


@router.post("/disputes/{dispute_id}/reject", response_model=s.DisputeOut)
def reject(dispute_id: str, body: s.Note, w: SellerWrite, if_match: IfMatch = None) -> JSONResponse:
    return _answer(w, dispute_id, body, if_match, dispute_svc.seller_reject)


@router.post("/disputes/{dispute_id}/counter", response_model=s.DisputeOut)
def counter(
    dispute_id: str, body: s.Counter, w: SellerWrite, if_match: IfMatch = None
) -> JSONResponse:
    return _answer(w, dispute_id, body, if_match, dispute_svc.seller_counter)


@router.post("/disputes/{dispute_id}/messages", status_code=201, response_model=s.MessageOut)
def post_message(dispute_id: str, body: s.NewMessage, w: SellerWrite) -> JSONResponse:
    return w.message(dispute_id, body)


@router.post("/disputes/{dispute_id}/evidence", status_code=201, response_model=s.EvidenceOut)
def add_evidence(
    dispute_id: str,
    w: SellerWrite,
    file: Annotated[UploadFile, File()],
    description: Annotated[str, Form(max_length=2000)] = "",
) -> JSONResponse:
    return w.upload(dispute_id, file, description)
