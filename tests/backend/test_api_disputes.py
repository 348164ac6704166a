"""The buyer's dispute flow through HTTP, and every allowed and forbidden transition."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.enums import PaymentStatus, ShippingStatus
from dispute_backend.models import Dispute, Event, IdempotencyRecord, Order
from dispute_backend.settings import Settings

P = "https://disputes.example/problems/"
DAY = f.DAY


@pytest.fixture
def alice(session: Session, settings: Settings) -> dict[str, str]:
    f.seller(session)
    f.buyer(session, "alice")
    f.operator(session)
    session.commit()
    return f.buyer_headers(settings, "alice", session)


def open_body(order_id: str, **extra: object) -> dict[str, object]:
    return {"order_id": order_id, "reason": "damaged", "requested_outcome": "full_refund"} | extra


def open_ok(client: TestClient, headers: dict[str, str], order_id: str, **extra: object) -> dict:
    r = client.post(
        "/api/v1/disputes", json=open_body(order_id, **extra), headers=headers | f.key("o")
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def opened(client: TestClient, session: Session, headers: dict[str, str], **extra: object) -> dict:
    """A dispute on a new order (committed first, as a request needs it)."""
    order = f.order(session)
    session.commit()
    return open_ok(client, headers, order.id, **extra)


def post(
    client: TestClient,
    path: str,
    headers: dict[str, str],
    version: int | None = None,
    json: object = None,
) -> object:
    extra = f.key("k") | ({"If-Match": f'"{version}"'} if version is not None else {})
    return client.post(path, json=json, headers=headers | extra)


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_orders_newest_first_with_window_and_status(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    o1 = f.order(session)
    o2 = f.order(
        session, tracking_at=None, receipt_at=None, status=ShippingStatus.awaiting_shipment
    )
    o2.placed_at = f.NOW - DAY
    session.commit()
    orders = client.get("/api/v1/orders", headers=alice).json()
    assert [o["id"] for o in orders] == [o2.id, o1.id]
    first = orders[1]
    assert first["amount"] == "40.00" and first["currency"] == "EUR"
    assert first["protection_window"]["is_open"] is True
    assert first["protection_window"]["ends_at"].startswith("2026-12-12")
    assert first["payment_status"] == "held" and first["active_dispute_id"] is None
    assert orders[0]["protection_window"] is None


@pytest.mark.parametrize(
    ("situation", "code"),
    [
        ("inside", "eligible"),
        ("no_tracking", "no_tracking_yet"),
        ("day_15", "eligible"),
        ("day_16", "protection_expired"),
    ],
)
def test_eligibility_reasons(
    client: TestClient, session: Session, alice: dict[str, str], situation: str, code: str
) -> None:
    receipt = {"day_15": f.NOW - 15 * DAY, "day_16": f.NOW - 16 * DAY}.get(situation, f.NOW - DAY)
    tracking = None if situation == "no_tracking" else f.NOW - 20 * DAY
    order = f.order(session, tracking_at=tracking, receipt_at=receipt)
    session.commit()
    body = client.get(f"/api/v1/orders/{order.id}/eligibility", headers=alice).json()
    assert body["reason_code"] == code
    assert body["eligible"] is (code == "eligible")
    assert body["reason"]
    r = client.post("/api/v1/disputes", json=open_body(order.id), headers=alice | f.key("o"))
    expected = {"eligible": 201, "no_tracking_yet": 422, "protection_expired": 422}[code]
    assert r.status_code == expected
    if expected != 201:
        assert r.json()["type"] == P + code.replace("_", "-").replace("-yet", "-yet")


def test_open_dispute_and_read_it_back(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    order = f.order(session)
    session.commit()
    d = open_ok(client, alice, order.id, description="Cracked screen", with_return=True)
    assert d["id"].startswith("D-") and d["order_id"] == order.id
    assert d["state"] == "negotiation" and d["status_label"] == "Dispute in progress"
    assert d["proposals"]["buyer"]["refund_amount"] == "40.00"
    assert d["proposals"]["buyer"]["status"] == "pending"
    assert d["deadlines"]["negotiation_ends_at"].startswith("2026-12-03T12:00")
    assert d["version"] == 1
    assert d["next_actions"][:3] == ["modify_proposal", "cancel", "upload_evidence"]
    assert client.get(f"/api/v1/disputes/{d['id']}", headers=alice).json() == d
    assert [
        x["id"] for x in client.get("/api/v1/disputes?status=in_progress", headers=alice).json()
    ] == [d["id"]]
    assert client.get("/api/v1/disputes?status=ended", headers=alice).json() == []
    elig = client.get(f"/api/v1/orders/{order.id}/eligibility", headers=alice).json()
    assert (elig["reason_code"], elig["active_dispute_id"]) == ("dispute_already_open", d["id"])
    r = client.post("/api/v1/disputes", json=open_body(order.id), headers=alice | f.key("o"))
    assert (r.status_code, r.json()["type"]) == (409, P + "dispute-already-open")
    events = client.get(f"/api/v1/disputes/{d['id']}/events", headers=alice).json()
    assert [e["kind"] for e in events] == ["dispute.opened"]


def test_retry_with_same_key_replays_and_creates_one_dispute(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    order = f.order(session)
    session.commit()
    headers = alice | {"Idempotency-Key": "retry-1"}
    first = client.post("/api/v1/disputes", json=open_body(order.id), headers=headers)
    second = client.post("/api/v1/disputes", json=open_body(order.id), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert count(session, Dispute) == 1
    reused = client.post(
        "/api/v1/disputes", json=open_body(order.id, description="other"), headers=headers
    )
    assert (reused.status_code, reused.json()["type"]) == (422, P + "idempotency-key-reused")


@pytest.mark.parametrize(
    ("extra", "with_key", "status", "problem"),
    [
        ({}, False, 400, "idempotency-key-missing"),  # mutations require an idempotency key
        ({"description": "x" * 70_000}, True, 413, "payload-too-large"),  # refused unread
    ],
    ids=["no idempotency key", "oversized json body"],
)
def test_a_refused_open_writes_no_dispute(
    client: TestClient,
    session: Session,
    alice: dict[str, str],
    extra: dict[str, object],
    with_key: bool,
    status: int,
    problem: str,
) -> None:
    order = f.order(session)
    session.commit()
    headers = (alice | f.key("o")) if with_key else alice
    r = client.post("/api/v1/disputes", json=open_body(order.id, **extra), headers=headers)
    assert (r.status_code, r.json()["type"]) == (status, P + problem)
    assert count(session, Dispute) == 0


def test_modify_proposal_with_version(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    d = opened(client, session, alice)
    path = f"/api/v1/disputes/{d['id']}/proposal"
    body = {"refund_amount": "25.50", "with_return": True, "request": "Keep it, partial refund"}
    r = post(client, path, alice, 1, body)
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["version"] == 2 and m["requested_outcome"] == "partial_refund"
    assert m["proposals"]["buyer"]["refund_amount"] == "25.50"
    assert [p["status"] for p in m["proposal_history"]] == ["superseded", "pending"]
    # a second client still holding version 1 loses, and nothing changes
    stale = post(client, path, alice, 1, {"refund_amount": "10.00", "with_return": False})
    assert (stale.status_code, stale.json()["type"]) == (412, P + "version-conflict")
    assert stale.json()["current_version"] == 2
    again = client.get(f"/api/v1/disputes/{d['id']}", headers=alice).json()
    assert again["version"] == 2 and again["proposals"]["buyer"]["refund_amount"] == "25.50"
    missing = client.post(path, json=body, headers=alice | f.key("m"))
    assert (missing.status_code, missing.json()["type"]) == (428, P + "precondition-required")


@pytest.mark.parametrize(
    ("amount", "slug"),
    [
        ("-5", "invalid-refund-amount"),
        ("0", "invalid-refund-amount"),
        ("40.01", "invalid-refund-amount"),
        ("1.234", "validation-error"),
        ("abc", "validation-error"),
    ],
)
def test_bad_refund_amounts_store_nothing(
    client: TestClient, session: Session, alice: dict[str, str], amount: str, slug: str
) -> None:
    order = f.order(session)
    session.commit()
    r = client.post(
        "/api/v1/disputes",
        json=open_body(order.id, requested_outcome="partial_refund", refund_amount=amount),
        headers=alice | f.key("o"),
    )
    assert (r.status_code, r.json()["type"]) == (422, P + slug)
    assert (
        count(session, Dispute) == count(session, Event) == count(session, IdempotencyRecord) == 0
    )
    d = open_ok(client, alice, order.id)
    r = post(
        client,
        f"/api/v1/disputes/{d['id']}/proposal",
        alice,
        1,
        {"refund_amount": amount, "with_return": False},
    )
    assert r.status_code == 422
    assert client.get(f"/api/v1/disputes/{d['id']}", headers=alice).json()["version"] == 1


def test_malformed_json_and_unknown_fields(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    r = client.post(
        "/api/v1/disputes",
        content=b'{"order_id": ',
        headers=alice | f.key("o") | {"Content-Type": "application/json"},
    )
    assert (r.status_code, r.json()["type"]) == (400, P + "malformed-json")
    r = client.post(
        "/api/v1/disputes",
        json={
            "order_id": "8000000000000001",
            "reason": "bored",
            "requested_outcome": "full_refund",
        },
        headers=alice | f.key("o"),
    )
    assert (r.status_code, r.json()["type"]) == (422, P + "validation-error")
    assert r.json()["errors"]
    r = client.post(
        "/api/v1/disputes", json=open_body("8999999999999999"), headers=alice | f.key("o")
    )
    assert (r.status_code, r.json()["type"]) == (404, P + "order-not-found")
    assert count(session, Dispute) == 0


def test_cancel_keeps_payment_held_and_allows_a_new_dispute(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    d = opened(client, session, alice)
    r = post(client, f"/api/v1/disputes/{d['id']}/cancel", alice, 1)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["state"] == "ended" and c["status_label"] == "Dispute ended"
    assert c["outcome"] == "cancelled" and c["resolution"]["how"] == "cancellation"
    assert c["next_actions"] == ["open_new_dispute", "send_message"]
    session.expire_all()
    assert session.get(Order, d["order_id"]).payment_status is PaymentStatus.held  # type: ignore[union-attr]
    # ended: no more changes
    for path, body in (
        ("cancel", None),
        ("proposal", {"refund_amount": "5", "with_return": False}),
    ):
        r = post(client, f"/api/v1/disputes/{d['id']}/{path}", alice, 2, body)
        assert (r.status_code, r.json()["type"]) == (409, P + "transition-not-allowed")
    again = open_ok(client, alice, d["order_id"])
    assert again["id"] != d["id"]


def test_not_received_in_customs_goes_to_the_carrier(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    order = f.order(session, receipt_at=None, status=ShippingStatus.in_customs)
    session.commit()
    r = client.post(
        "/api/v1/disputes",
        json=open_body(order.id, reason="not_received"),
        headers=alice | f.key("o"),
    )
    assert (r.status_code, r.json()["type"]) == (422, P + "package-in-customs")
    open_ok(client, alice, order.id, reason="damaged")


def test_seller_counter_then_buyer_accepts(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    d = opened(client, session, alice)
    seller = f.seller_headers()
    r = post(
        client,
        f"/api/v1/seller/disputes/{d['id']}/counter",
        seller,
        1,
        {"refund_amount": "15.00", "with_return": False, "note": "Half?"},
    )
    assert r.status_code == 200, r.text
    mine = client.get(f"/api/v1/disputes/{d['id']}", headers=alice).json()
    assert mine["proposals"]["buyer"]["status"] == "rejected"
    assert mine["proposals"]["seller"]["refund_amount"] == "15.00"
    assert "accept_seller_proposal" in mine["next_actions"]
    r = post(client, f"/api/v1/disputes/{d['id']}/accept-seller-proposal", alice, 2)
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["resolution"] == {
        "how": "agreement",
        "outcome": "partial_refund",
        "refund_amount": "15.00",
        "with_return": False,
        "decided_at": ended["ended_at"],
    }
    assert ended["next_actions"] == ["contact_customer_service", "send_message"]
    session.expire_all()
    o = session.get(Order, d["order_id"])
    assert o is not None and o.payment_status is PaymentStatus.refunded
    assert o.refunded_amount == Decimal("15.00")
    elig = client.get(f"/api/v1/orders/{d['order_id']}/eligibility", headers=alice).json()
    assert elig["reason_code"] == "order_already_resolved"


def test_seller_accepts_buyer_proposal(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    d = opened(client, session, alice)
    r = post(client, f"/api/v1/seller/disputes/{d['id']}/accept", f.seller_headers(), 1)
    assert r.status_code == 200
    assert r.json()["outcome"] == "full_refund" and r.json()["resolution"]["how"] == "agreement"
    r = post(client, f"/api/v1/seller/disputes/{d['id']}/reject", f.seller_headers(), 2, {})
    assert (r.status_code, r.json()["type"]) == (409, P + "transition-not-allowed")


def test_seller_reject_keeps_negotiating_and_nothing_left_to_accept(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    d = opened(client, session, alice)
    r = post(
        client, f"/api/v1/seller/disputes/{d['id']}/reject", f.seller_headers(), 1, {"note": "No"}
    )
    assert r.status_code == 200 and r.json()["state"] == "negotiation"
    r = post(client, f"/api/v1/seller/disputes/{d['id']}/accept", f.seller_headers(), 2)
    assert (r.status_code, r.json()["type"]) == (409, P + "no-pending-proposal")
    r = post(client, f"/api/v1/disputes/{d['id']}/accept-seller-proposal", alice, 2)
    assert (r.status_code, r.json()["type"]) == (409, P + "no-pending-proposal")


def test_platform_decides_only_in_mediation(
    client: TestClient, session: Session, alice: dict[str, str], clock: object
) -> None:
    d = opened(client, session, alice)
    path = f"/api/v1/operator/disputes/{d['id']}/decision"
    body = {"refund_amount": "30.00", "with_return": True, "note": "Photos convincing"}
    r = post(client, path, f.operator_headers(), 1, body)
    assert (r.status_code, r.json()["type"]) == (409, P + "transition-not-allowed")
    from dispute_backend.rules import RuleSettings
    from dispute_backend.services import transitions

    applied = transitions.apply_due(session, now=f.NOW + 5 * DAY, rs=RuleSettings())
    session.commit()
    assert applied.mediations == 1
    listed = client.get("/api/v1/operator/disputes", headers=f.operator_headers()).json()
    assert [x["id"] for x in listed] == [d["id"]]
    assert listed[0]["version"] == 2
    r = post(client, path, f.operator_headers(), 2, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["resolution"]["how"] == "platform_decision"
    assert out["proposals"]["platform"]["status"] == "accepted"
    assert out["outcome"] == "partial_refund"


def test_operator_can_decide_for_the_seller(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    from dispute_backend.rules import RuleSettings
    from dispute_backend.services import transitions

    d = opened(client, session, alice)
    transitions.apply_due(session, now=f.NOW + 6 * DAY, rs=RuleSettings())
    session.commit()
    r = post(
        client,
        f"/api/v1/operator/disputes/{d['id']}/decision",
        f.operator_headers(),
        2,
        {"refund_amount": "0", "note": "No evidence"},
    )
    assert r.status_code == 200 and r.json()["outcome"] == "no_refund"
    session.expire_all()
    assert session.get(Order, d["order_id"]).payment_status is PaymentStatus.released  # type: ignore[union-attr]


def test_messages(client: TestClient, session: Session, alice: dict[str, str]) -> None:
    d = opened(client, session, alice)
    r = client.post(
        f"/api/v1/disputes/{d['id']}/messages", json={"body": "Hello"}, headers=alice | f.key("m")
    )
    assert r.status_code == 201
    r = client.post(
        f"/api/v1/seller/disputes/{d['id']}/messages",
        json={"body": "Hi"},
        headers=f.seller_headers() | f.key("m"),
    )
    assert r.status_code == 201
    msgs = client.get(f"/api/v1/disputes/{d['id']}/messages", headers=alice).json()
    assert [(m["party"], m["body"]) for m in msgs] == [("buyer", "Hello"), ("seller", "Hi")]
    r = client.post(
        f"/api/v1/disputes/{d['id']}/messages", json={"body": ""}, headers=alice | f.key("m")
    )
    assert r.status_code == 422


def test_retried_modify_and_cancel_replay_their_first_answer(
    client: TestClient, session: Session, alice: dict[str, str]
) -> None:
    d = opened(client, session, alice)
    base = f"/api/v1/disputes/{d['id']}"
    modify = alice | {"Idempotency-Key": "mod-1", "If-Match": '"1"'}
    body = {"refund_amount": "12.00", "with_return": False}
    first = client.post(f"{base}/proposal", json=body, headers=modify)
    again = client.post(f"{base}/proposal", json=body, headers=modify)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["version"] == 2
    cancel = alice | {"Idempotency-Key": "cancel-1", "If-Match": '"2"'}
    first = client.post(f"{base}/cancel", headers=cancel)
    again = client.post(f"{base}/cancel", headers=cancel)
    assert first.status_code == again.status_code == 200
    assert again.json()["version"] == 3 and again.headers["Idempotent-Replayed"] == "true"
    events = client.get(f"{base}/events", headers=alice).json()
    assert [e["kind"] for e in events] == ["dispute.opened", "proposal.modified", "dispute.ended"]
