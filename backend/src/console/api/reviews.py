"""Open abuse reviews: the list, and the operator's decision (clear or close the account)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.api.common import decided, page
from console.api.deps import BackendDep, CsrfForm, CurrentOperator, ReviewId

router = APIRouter(prefix="/reviews")


@router.get("", response_class=HTMLResponse)
async def reviews_page(
    request: Request, operator: CurrentOperator, backend: BackendDep
) -> Response:
    reviews = await backend.abuse_reviews(operator.id)
    return page(request, "reviews.html", {"reviews": reviews})


@router.post("/{review_id}/decision")
async def decide_review(
    request: Request,
    review_id: ReviewId,
    form: CsrfForm,
    operator: CurrentOperator,
    backend: BackendDep,
) -> Response:
    body = {"decision": form.get("decision", ""), "note": form.get("note", "")}
    decision = backend.decide_review(operator.id, review_id, key=form.get("key"), body=body)
    return await decided(
        request,
        decision,
        done=f"Review {review_id} decided.",
        refused=f"Review {review_id}",
        back="/reviews",
    )
