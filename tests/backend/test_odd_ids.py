"""Odd ids: superscript, Arabic-Indic or full-width digits, numbers too long for any column,
signs, spaces, NUL, nothing. Each answers a clean 404 or 422 problem (never a 500), and none
is read as another spelling of a real id."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from console.app import create_app as create_console
from console.settings import Settings as ConsoleSettings
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.db import make_engine
from dispute_backend.enums import ReviewStatus
from dispute_backend.models import AbuseReview
from dispute_backend.services import handoff
from dispute_backend.settings import Settings
from live import serving

PROBLEM = "application/problem+json"
P = "https://disputes.example/problems/"
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
EN_DASH = "\u2013"


def odd_numbers(real: int) -> list[str]:
    """Spellings that are not the ASCII decimal `real`, some of which str.isdigit accepts."""
    digits = str(real)
    return [
        "²",
        digits.translate(SUPERSCRIPT),
        digits.translate(ARABIC_INDIC),
        digits.translate(FULL_WIDTH),
        "9" * 40,
        "9" * 19,
        "-1",
        f"+{digits}",
        f" {digits}",
        f"{digits} ",
        f"{digits[:1]}_{digits[1:]}",
        "\x00",
        f"{digits}\x00",
        "",
        " ",
    ]


@dataclass
class World:
    dispute: str  # alice's dispute, D-<n>
    order: str  # its order
    ticket: int
    review: int


@pytest.fixture
def world(client: TestClient, session: Session, settings: Settings) -> World:
    f.seller(session)
    f.buyer(session, "alice")
    f.operator(session)
    order = f.order(session)
    ticket, _ = f.request_handoff(session, "odd-ids", buyer_id="alice")
    review = AbuseReview(
        buyer_id="alice",
        status=ReviewStatus.open,
        disputes_count=9,
        orders_count=10,
        opened_at=f.NOW,
    )
    session.add(review)
    session.commit()
    body = {"order_id": order.id, "reason": "damaged", "requested_outcome": "full_refund"}
    alice = f.buyer_headers(settings, "alice", session)
    r = client.post("/api/v1/disputes", json=body, headers=alice | f.key("o"))
    assert r.status_code == 201, r.text
    return World(r.json()["id"], order.id, ticket.id, review.id)


def _unclean(r: Response, what: str) -> list[str]:
    """[] for a 404 or 422 problem; else what went wrong (all are gathered, then reported)."""
    if r.status_code in (404, 422) and r.headers["content-type"] == PROBLEM:
        return []
    return [f"{what}: {r.status_code} {r.text[:200]}"]


def _segment(odd: str, name: str) -> str | None:
    """The id as a path segment; None for an empty id ending a path (that is the list)."""
    return None if not odd and name.endswith("get") else quote(odd, safe="")


Call = Callable[[TestClient, str], Response]


def _get(path: str, headers: dict[str, str]) -> Call:
    """A GET of `path`, the id put in for its `{}`."""
    return lambda c, i: c.get(path.format(i), headers=headers)


def _post(path: str, headers: dict[str, str], body: object = None) -> Call:
    """A POST of `body` (none if None) to `path`, the id put in for its `{}`."""
    return lambda c, i: c.post(path.format(i), json=body, headers=headers)


def _buyer(settings: Settings, session: Session) -> dict[str, str]:
    return f.buyer_headers(settings, "alice", session) | f.key("x") | {"If-Match": '"1"'}


def _dispute_calls(settings: Settings, session: Session) -> dict[str, Call]:
    alice, seller, op = (
        _buyer(settings, session),
        f.seller_headers() | f.key("s"),
        f.operator_headers(),
    )
    op_write = op | f.key("d") | {"If-Match": '"1"'}
    seller_write = seller | {"If-Match": '"1"'}
    proposal = {"refund_amount": "10.00", "with_return": False}
    decision = {"refund_amount": "0.00", "with_return": False, "note": "x"}
    buyer_path = "/api/v1/disputes/{}"
    seller_path = "/api/v1/seller/disputes/{}"
    operator_path = "/api/v1/operator/disputes/{}"
    return {
        "buyer get": _get(buyer_path, alice),
        "buyer events": _get(buyer_path + "/events", alice),
        "buyer evidence": _get(buyer_path + "/evidence", alice),
        "buyer messages": _get(buyer_path + "/messages", alice),
        "buyer modify": _post(buyer_path + "/proposal", alice, proposal),
        "buyer cancel": _post(buyer_path + "/cancel", alice),
        "buyer accept": _post(buyer_path + "/accept-seller-proposal", alice),
        "buyer message": _post(buyer_path + "/messages", alice, {"body": "hi"}),
        "seller get": _get(seller_path, seller),
        "seller counter": _post(seller_path + "/counter", seller_write, proposal),
        "seller reject": _post(seller_path + "/reject", seller_write, {"note": "no"}),
        "operator get": _get(operator_path, op),
        "operator decision": _post(operator_path + "/decision", op_write, decision),
    }


def test_odd_dispute_ids_answer_a_clean_404(
    client: TestClient, settings: Settings, world: World, session: Session
) -> None:
    number = int(world.dispute.removeprefix("D-"))
    odd = [f"D-{n}" for n in odd_numbers(number)]
    odd += [world.dispute.replace("-", EN_DASH), f"D--{number}", "D-", "D", "-", "", "\x00"]
    calls = _dispute_calls(settings, session)
    bad: list[str] = []
    for name, call in calls.items():
        for public_id in odd:
            if (segment := _segment(public_id, name)) is not None:
                bad += _unclean(call(client, segment), f"{name} {public_id!r}")
    assert not bad, "\n".join(bad)
    # The real id still works: the odd spellings were not refused for some other reason.
    assert calls["buyer get"](client, world.dispute).status_code == 200


def test_odd_order_ids_answer_a_clean_404_or_422(
    client: TestClient, settings: Settings, world: World, session: Session
) -> None:
    alice = f.buyer_headers(settings, "alice", session)
    odd = [*odd_numbers(int(world.order)), "x" * 5000, "8" * 33, "'; --", "..", "%"]
    bad: list[str] = []
    for order_id in odd:
        path = quote(order_id, safe="")
        if order_id:
            bad += _unclean(
                client.get(f"/api/v1/orders/{path}", headers=alice), f"get {order_id!r}"
            )
        url = f"/api/v1/orders/{path}/eligibility"
        bad += _unclean(client.get(url, headers=alice), f"eligibility {order_id!r}")
        listed = client.get("/api/v1/disputes", params={"order_id": order_id}, headers=alice)
        if listed.status_code != 200 or listed.json() != []:  # an empty list is clean too
            bad += _unclean(listed, f"list {order_id!r}")
        body = {"order_id": order_id, "reason": "damaged", "requested_outcome": "full_refund"}
        opened = client.post("/api/v1/disputes", json=body, headers=alice | f.key("o"))
        bad += _unclean(opened, f"open {order_id!r}")
    assert not bad, "\n".join(bad)
    assert client.get(f"/api/v1/orders/{world.order}", headers=alice).status_code == 200


def _ticket_calls() -> dict[str, Call]:
    op = f.operator_headers()
    ticket = "/api/v1/operator/handoff/tickets/{}"
    write = op | f.key("t")
    review = {"decision": "clear", "note": "x"}
    return {
        "get": _get(ticket, op),
        "claim": _post(ticket + "/claim", write),
        "release": _post(ticket + "/release", write),
        "close": _post(ticket + "/close", write),
        "transfer": _post(ticket + "/transfer", write, {"operator_id": "op-ana"}),
        "message": _post(ticket + "/messages", write, {"body": "hi"}),
        "user messages": _post(ticket + "/user-messages", write, {"messages": []}),
        "review decision": _post(
            "/api/v1/operator/abuse-reviews/{}/decision", op | f.key("r"), review
        ),
    }


def test_odd_ticket_and_review_ids_answer_a_clean_404_or_422(
    client: TestClient, world: World
) -> None:
    bad: list[str] = []
    for name, call in _ticket_calls().items():
        real = world.review if name == "review decision" else world.ticket
        for odd in [*odd_numbers(real), "0", "1.0", "1e3", "0x1"]:
            if (segment := _segment(odd, name)) is not None:
                bad += _unclean(call(client, segment), f"{name} {odd!r}")
    assert not bad, "\n".join(bad)
    op = f.operator_headers()
    got = client.get(f"/api/v1/operator/handoff/tickets/{world.ticket}", headers=op)
    assert got.status_code == 200


def test_odd_conversation_ids_answer_a_clean_404(client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {f.ASSISTANT_TOKEN}"}
    bad: list[str] = []
    for odd in ["²", "\x00", "x\x00y", "x" * 5000, " ", "%"]:
        url = f"/api/v1/handoff/conversations/{quote(odd, safe='')}/ticket"
        bad += _unclean(client.get(url, headers=headers), f"conversation {odd!r}")
    assert not bad, "\n".join(bad)


def test_a_nul_in_an_id_in_a_body_is_a_422(
    client: TestClient, settings: Settings, world: World, session: Session
) -> None:
    assistant = {"Authorization": f"Bearer {f.ASSISTANT_TOKEN}"} | f.key("h")
    handoff_body = {"conversation_id": "x\x00y", "channel": "rest", "reason": "user_request"}
    op = f.operator_headers() | f.key("t")
    transfer = f"/api/v1/operator/handoff/tickets/{world.ticket}/transfer"
    alice = f.buyer_headers(settings, "alice", session) | f.key("m")
    for r in (
        client.post("/api/v1/handoff/tickets", json=handoff_body, headers=assistant),
        client.post(transfer, json={"operator_id": "op-\x00"}, headers=op),
        client.post(
            f"/api/v1/disputes/{world.dispute}/messages", json={"body": "a\x00b"}, headers=alice
        ),
    ):
        assert (r.status_code, r.json()["type"]) == (422, P + "validation-error"), r.text


# --- the operator console ---------------------------------------------------------------------


@pytest.fixture
def console(sqlite_settings: Settings) -> Iterator[tuple[TestClient, int]]:
    """The console, signed in as op-ana, before a real backend (a server on its own SQLite
    file); and a real ticket's id. Rasa is not running: the pages say so, as they do live."""
    engine = make_engine(sqlite_settings.database_url)
    with Session(engine) as s:
        op = f.operator(s)
        op.password_hash = handoff.hash_password("ana-pass")
        ticket, _ = f.request_handoff(s, "c-1", buyer_id="alice")
        s.commit()
        ticket_id = ticket.id
    engine.dispose()
    backend_app = create_app(sqlite_settings, clock=FrozenClock(f.NOW))
    with serving(backend_app) as base:
        settings = ConsoleSettings(
            app_env="test",
            backend_url=base,
            console_service_token=f.CONSOLE_TOKEN,
            rasa_url="http://127.0.0.1:9",  # the discard port: nothing answers
            console_session_secret="console-test-secret-0123456789abcdef",
            reconcile_interval_seconds=0,
        )
        with TestClient(create_console(settings), follow_redirects=False) as c:
            csrf = _csrf(c.get("/login").text)
            form = {"csrf": csrf, "operator_id": "op-ana", "password": "ana-pass"}
            assert c.post("/login", data=form).status_code == 303
            c.headers["X-CSRF-Token"] = _csrf(c.get("/").text)
            yield c, ticket_id


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


def test_odd_ticket_ids_in_the_console_answer_a_clean_422(
    console: tuple[TestClient, int],
) -> None:
    c, real = console
    bad: list[str] = []
    for odd in [*odd_numbers(real), "0", "1.0", "abc"]:
        segment = quote(odd, safe="")
        if odd:  # an empty id is another page (the queue, or no route)
            bad += _unclean(c.get(f"/tickets/{segment}"), f"page {odd!r}")
            bad += _unclean(c.get(f"/events/tickets/{segment}"), f"events {odd!r}")
        for action in ("claim", "release", "reply", "transfer", "give-back", "close"):
            r = c.post(f"/tickets/{segment}/{action}", headers={"Accept": "application/json"})
            bad += _unclean(r, f"{action} {odd!r}")
    for seen in ["²", "-1", "1.0", "9" * 40, " 1", ""]:
        bad += _unclean(c.get(f"/events/tickets/{real}", params={"seen": seen}), f"seen {seen!r}")
    assert not bad, "\n".join(bad)
    assert c.get(f"/tickets/{real}").status_code == 200  # the real id still opens its page
