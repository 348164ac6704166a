"""Operator endpoints (Authorization: Bearer CONSOLE_SERVICE_TOKEN + X-Operator-Id)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ..auth import SessionDep
from ..enums import DisputeState, ReviewStatus
from ..services import abuse
from ..services import disputes as dispute_svc
from . import schemas as s
from . import views
from .common import IfMatch, IntId, expected_version
from .deps import CurrentOperator, Now, OperatorWrite, Rules

router = APIRouter(prefix="/api/v1/operator", tags=["operator"], responses=s.PROBLEM_RESPONSES)


@router.get("/disputes", response_model=list[s.DisputeOut])
def list_disputes(
    _: CurrentOperator,
    session: SessionDep,
    at: Now,
    rs: Rules,
    state: Annotated[DisputeState, Query()] = DisputeState.mediation,
) -> list[s.DisputeOut]:
    return [
        views.dispute_out(session, d, now=at, rs=rs, next_actions=[])
        for d in dispute_svc.list_disputes(session, state=state)
    ]


@router.get("/disputes/{dispute_id}", response_model=s.DisputeOut)
def get_dispute(
    dispute_id: str, _: CurrentOperator, session: SessionDep, at: Now, rs: Rules
) -> s.DisputeOut:
    d = dispute_svc.get_any(session, public_id=dispute_id)
    return views.dispute_out(session, d, now=at, rs=rs, next_actions=[])


@router.post("/disputes/{dispute_id}/decision", response_model=s.DisputeOut)
def decide(
    dispute_id: str, body: s.PlatformDecision, w: OperatorWrite, if_match: IfMatch = None
) -> JSONResponse:
    def action() -> s.DisputeOut:
        d = dispute_svc.get_any(w.session, public_id=dispute_id)
        dispute_svc.platform_decide(
            w.session,
            dispute=d,
            operator_id=w.operator.id,
            expected_version=expected_version(if_match),
            refund_amount=body.refund_amount,
            with_return=body.with_return,
            note=body.note,
            now=w.now,
        )
        return views.dispute_out(w.session, d, now=w.now, rs=w.rs, next_actions=[])

    return w.run(body, action)


@router.get("/abuse-reviews", response_model=list[s.AbuseReviewOut])
def list_reviews(
    _: CurrentOperator,
    session: SessionDep,
    status: Annotated[ReviewStatus | None, Query()] = ReviewStatus.open,
) -> list[s.AbuseReviewOut]:
    return [views.review_out(r) for r in abuse.list_reviews(session, status=status)]


@router.post("/abuse-reviews/{review_id}/decision", response_model=s.AbuseReviewOut)
def decide_review(review_id: IntId, body: s.ReviewDecision, w: OperatorWrite) -> JSONResponse:
    def action() -> s.AbuseReviewOut:
        review = abuse.decide(
            w.session,
            review_id=review_id,
            operator_id=w.operator.id,
            close_account=body.decision == "close_account",
            note=body.note,
            now=w.now,
        )
        return views.review_out(review)

    return w.run(body, action)
