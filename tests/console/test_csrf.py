"""Every POST route of the console refuses a request without the session's CSRF token, or with
a wrong one, before it calls anyone: nothing reaches the backend or Rasa, nothing changes.

The routes are read from the app, so a new POST route is covered the day it is added."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from conftest import Backend, Browser, Console, console_settings
from console.app import create_app
from dispute_backend.models import AbuseReview, Dispute, HandoffMessage, HandoffTicket, Operator


def post_routes() -> list[str]:
    app = create_app(console_settings("http://127.0.0.1:9", "http://127.0.0.1:9"))
    # Included routers are walked into: every route the app answers, whatever its router.
    routes = iter_route_contexts(app.routes)
    return sorted(str(r.path) for r in routes if r.methods and "POST" in r.methods)


POST_PATHS = post_routes()


def test_the_console_has_post_routes() -> None:
    assert len(POST_PATHS) >= 5, POST_PATHS  # the enumeration found them


def fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"add a value for the parameter of {path}"
    return path


def snapshot(backend: Backend) -> dict[str, Any]:
    """Everything a console POST could change in the backend."""
    with backend.session() as s:
        return {
            "tickets": s.execute(
                select(
                    HandoffTicket.id,
                    HandoffTicket.state,
                    HandoffTicket.operator_id,
                    HandoffTicket.version,
                )
            ).all(),
            "messages": s.scalar(select(func.count()).select_from(HandoffMessage)),
            "disputes": s.execute(select(Dispute.id, Dispute.state, Dispute.version)).all(),
            "reviews": s.execute(select(AbuseReview.id, AbuseReview.status)).all(),
            "operators": s.execute(
                select(Operator.id, Operator.last_seen_at, Operator.password_hash)
            ).all(),
        }


def forgeries(marta: Browser, jordi: Browser) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(what, form fields, headers): no token; a wrong one in the field, in the header; a
    real token, but of another session; and one no token can be (not even comparable)."""
    return [
        ("no token", {}, {}),
        ("wrong field", {"csrf": "not-the-token"}, {}),
        ("wrong header", {"csrf": marta.csrf}, {"X-CSRF-Token": "not-the-token"}),
        ("another session's token", {"csrf": jordi.csrf}, {"X-CSRF-Token": jordi.csrf}),
        ("a non-ASCII token", {"csrf": "jeton-é"}, {}),
    ]


# What each route would need to act, so that a missing check would show as a change.
FIELDS = {
    "text": "forged",
    "operator_id": "op-jordi",
    "password": "jordi-demo-pass",
    "decision": "close_account",
    "refund_amount": "1.00",
    "note": "forged",
    "key": "forged-key",
}


@pytest.mark.parametrize("route", POST_PATHS)
def test_a_post_without_the_right_csrf_token_is_refused_and_reaches_no_one(
    console: Console, route: str
) -> None:
    backend, rasa = console.backend, console.rasa
    ticket_id, _ = backend.open_ticket(rasa, "my parcel")
    backend.claim(ticket_id, "op-marta")
    dispute, review = backend.mediated_dispute(), backend.open_review()
    path = fill(
        route,
        {"ticket_id": str(ticket_id), "dispute_id": dispute.public_id, "review_id": str(review.id)},
    )
    marta, jordi = console.signed_in("op-marta"), console.signed_in("op-jordi")
    stranger = console.browser()
    stranger.page("/login")  # a session with a token of its own, not signed in
    before = snapshot(backend)
    backend.recorder.calls.clear()
    rasa.requests.clear()

    attempts = [(marta, *f) for f in forgeries(marta, jordi)]
    attempts += [
        (stranger, "signed out, no token", {}, {}),
        (stranger, "signed out, marta's token", {"csrf": marta.csrf}, {}),
    ]
    for browser, what, fields, headers in attempts:
        data = {**FIELDS, "version": str(dispute.version), **fields}
        answer = browser.http.post(path, data=data, headers=headers)
        assert answer.status_code == 403, f"{what}: {answer.status_code} {answer.text[:200]}"
        assert "CSRF" in answer.json()["detail"], what

    assert backend.recorder.calls == []  # the backend never heard of them
    assert rasa.requests == []  # nor did Rasa
    assert snapshot(backend) == before
    assert marta.page("/").status_code == 200  # and marta is still signed in
