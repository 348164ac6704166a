"""Disputes in mediation: the list, and the operator's decision."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.api.common import decided, page
from console.api.deps import BackendDep, CsrfForm, CurrentOperator

router = APIRouter(prefix="/disputes")


@router.get("", response_class=HTMLResponse)
async def disputes_page(
    request: Request, operator: CurrentOperator, backend: BackendDep
) -> Response:
    disputes = await backend.mediated_disputes(operator.id)
    return page(request, "disputes.html", {"disputes": disputes})


@router.post("/{dispute_id}/decision")
async def decide_dispute(
    request: Request,
    dispute_id: str,
    form: CsrfForm,
    operator: CurrentOperator,
    backend: BackendDep,
) -> Response:
    body = {
        "refund_amount": form.get("refund_amount", "0").strip() or "0",
        "with_return": form.get("with_return") == "on",
        "note": form.get("note", ""),
    }
    version, key = form.get("version", ""), form.get("key")
    decision = backend.decide_dispute(operator.id, dispute_id, version=version, key=key, body=body)
    return await decided(
        request,
        decision,
        done=f"Dispute {dispute_id} decided.",
        refused=dispute_id,
        back="/disputes",
    )
