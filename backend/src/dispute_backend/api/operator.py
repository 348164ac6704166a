"""Operator endpoints (Authorization: Bearer CONSOLE_SERVICE_TOKEN + X-Operator-Id)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ..auth import OperatorDep, SessionDep
from ..models import Dispute, DisputeState, ReviewStatus
from ..services import abuse
from ..services import disputes as dispute_svc
from . import schemas as s
from . import views
from .common import IdempotencyKey, IfMatch, expected_version, idempotent, now, rule_settings

router = APIRouter(prefix="/api/v1/operator", tags=["operator"], responses=s.PROBLEM_RESPONSES)


def _out(request: Request, session: SessionDep, d: Dispute) -> s.DisputeOut:
    return views.dispute_out(
        session, d, now=now(request), rs=rule_settings(request), next_actions=[]
    )


@router.get("/disputes", response_model=list[s.DisputeOut])
def list_disputes(
    request: Request,
    operator_ctx: OperatorDep,
    session: SessionDep,
    state: Annotated[DisputeState, Query()] = DisputeState.mediation,
) -> list[s.DisputeOut]:
    operator_ctx.load(session)  # authenticates the operator
    return [_out(request, session, d) for d in dispute_svc.list_disputes(session, state=state)]


@router.get("/disputes/{dispute_id}", response_model=s.DisputeOut)
def get_dispute(
    request: Request, dispute_id: str, operator_ctx: OperatorDep, session: SessionDep
) -> s.DisputeOut:
    operator_ctx.load(session)  # authenticates the operator
    return _out(request, session, dispute_svc.get_any(session, public_id=dispute_id))


@router.post("/disputes/{dispute_id}/decision", response_model=s.DisputeOut)
def decide(
    request: Request,
    dispute_id: str,
    body: s.PlatformDecision,
    operator_ctx: OperatorDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> JSONResponse:
    operator = operator_ctx.load(session)

    def action() -> s.DisputeOut:
        d = dispute_svc.get_any(session, public_id=dispute_id)
        dispute_svc.platform_decide(
            session,
            dispute=d,
            operator_id=operator.id,
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
        principal=f"operator:{operator.id}",
        key=idempotency_key,
        payload=body,
        action=action,
    )


@router.get("/abuse-reviews", response_model=list[s.AbuseReviewOut])
def list_reviews(
    operator_ctx: OperatorDep,
    session: SessionDep,
    status: Annotated[ReviewStatus | None, Query()] = ReviewStatus.open,
) -> list[s.AbuseReviewOut]:
    operator_ctx.load(session)  # authenticates the operator
    return [views.review_out(r) for r in abuse.list_reviews(session, status=status)]


@router.post("/abuse-reviews/{review_id}/decision", response_model=s.AbuseReviewOut)
def decide_review(
    request: Request,
    review_id: int,
    body: s.ReviewDecision,
    operator_ctx: OperatorDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    operator = operator_ctx.load(session)

    def action() -> s.AbuseReviewOut:
        review = abuse.decide(
            session,
            review_id=review_id,
            operator_id=operator.id,
            close_account=body.decision == "close_account",
            note=body.note,
            now=now(request),
        )
        return views.review_out(review)

    return idempotent(
        request,
        session,
        principal=f"operator:{operator.id}",
        key=idempotency_key,
        payload=body,
        action=action,
    )
