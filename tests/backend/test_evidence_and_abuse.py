"""Evidence uploads (types, size, sha256, storage) and abuse reviews (R5, R9)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.models import Evidence
from dispute_backend.settings import Settings

P = "https://disputes.example/problems/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.4\n" + b"x" * 100


@pytest.fixture
def dispute(client: TestClient, session: Session, settings: Settings) -> tuple[str, dict[str, str]]:
    f.seller(session)
    f.buyer(session, "alice")
    order = f.order(session)
    session.commit()
    headers = f.buyer_headers(settings, "alice")
    body = {"order_id": order.id, "reason": "damaged", "requested_outcome": "full_refund"}
    r = client.post("/api/v1/disputes", json=body, headers=headers | f.key("o"))
    return r.json()["id"], headers


def upload(
    client: TestClient,
    did: str,
    headers: dict[str, str],
    name: str,
    data: bytes,
    key: str | None = None,
    prefix: str = "/api/v1",
) -> object:
    return client.post(
        f"{prefix}/disputes/{did}/evidence",
        files={"file": (name, data, "application/octet-stream")},
        data={"description": "photo of the box"},
        headers=headers | ({"Idempotency-Key": key} if key else f.key("e")),
    )


def stored_files(settings: Settings) -> list[Path]:
    return [p for p in settings.evidence_dir.rglob("*") if p.is_file()]


def test_upload_png_and_pdf(
    client: TestClient, settings: Settings, dispute: tuple[str, dict[str, str]]
) -> None:
    did, headers = dispute
    r = upload(client, did, headers, "box.png", PNG, key="ev-1")
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["content_type"] == "image/png" and e["size_bytes"] == len(PNG)
    assert e["sha256"] == hashlib.sha256(PNG).hexdigest()
    again = upload(client, did, headers, "box.png", PNG, key="ev-1")
    assert again.json() == e
    assert upload(client, did, headers, "invoice.pdf", PDF).status_code == 201
    listed = client.get(f"/api/v1/disputes/{did}/evidence", headers=headers).json()
    assert [x["filename"] for x in listed] == ["box.png", "invoice.pdf"]
    assert len(stored_files(settings)) == 2


@pytest.mark.parametrize(
    ("name", "data", "status", "slug"),
    [
        ("virus.exe", b"MZ\x90\x00" + b"\x00" * 50, 415, "evidence-type-not-allowed"),
        ("fake.png", b"just text, not an image", 415, "evidence-type-not-allowed"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200_001, 413, "evidence-too-large"),
    ],
)
def test_bad_uploads_store_nothing(
    client: TestClient,
    session: Session,
    settings: Settings,
    dispute: tuple[str, dict[str, str]],
    name: str,
    data: bytes,
    status: int,
    slug: str,
) -> None:
    did, headers = dispute
    r = upload(client, did, headers, name, data)
    assert (r.status_code, r.json()["type"]) == (status, P + slug)
    assert session.scalar(select(func.count(Evidence.id))) == 0
    assert stored_files(settings) == []


def test_no_evidence_after_the_dispute_ended(
    client: TestClient, settings: Settings, dispute: tuple[str, dict[str, str]]
) -> None:
    did, headers = dispute
    client.post(
        f"/api/v1/disputes/{did}/cancel", headers=headers | f.key("c") | {"If-Match": '"1"'}
    )
    r = upload(client, did, headers, "box.png", PNG)
    assert (r.status_code, r.json()["type"]) == (409, P + "transition-not-allowed")
    assert stored_files(settings) == []


def test_seller_can_upload_evidence(
    client: TestClient, dispute: tuple[str, dict[str, str]]
) -> None:
    did, _ = dispute
    r = upload(client, did, f.seller_headers(), "receipt.pdf", PDF, prefix="/api/v1/seller")
    assert r.status_code == 201 and r.json()["party"] == "seller"


def test_abuse_review_opens_for_an_operator_and_never_closes_by_itself(
    client: TestClient, session: Session, settings: Settings
) -> None:
    f.seller(session)
    f.buyer(session, "erin")
    f.operator(session)
    orders = [f.order(session, buyer_id="erin") for _ in range(10)]
    session.commit()
    headers = f.buyer_headers(settings, "erin")
    for i, o in enumerate(orders[:8]):
        body = {"order_id": o.id, "reason": "damaged", "requested_outcome": "full_refund"}
        assert (
            client.post("/api/v1/disputes", json=body, headers=headers | f.key("o")).status_code
            == 201
        )
        under = client.get("/api/v1/me", headers=headers).json()["abuse_review"]["under_review"]
        assert under is (i == 7)  # 8 of 10 purchases disputed
    op = f.operator_headers()
    reviews = client.get("/api/v1/operator/abuse-reviews", headers=op).json()
    assert [(r["buyer_id"], r["disputes_count"], r["orders_count"]) for r in reviews] == [
        ("erin", 8, 10)
    ]
    # still allowed to open disputes while under review (no automatic closure)
    body = {"order_id": orders[8].id, "reason": "damaged", "requested_outcome": "full_refund"}
    assert (
        client.post("/api/v1/disputes", json=body, headers=headers | f.key("o")).status_code == 201
    )
    rid = reviews[0]["id"]
    r = client.post(
        f"/api/v1/operator/abuse-reviews/{rid}/decision",
        json={"decision": "close_account", "note": "Pattern confirmed"},
        headers=op | f.key("d"),
    )
    assert r.status_code == 200 and r.json()["status"] == "account_closed"
    assert client.get("/api/v1/me", headers=headers).json()["account_status"] == "closed"
    elig = client.get(f"/api/v1/orders/{orders[9].id}/eligibility", headers=headers).json()
    assert elig["reason_code"] == "account_closed"
    body = {"order_id": orders[9].id, "reason": "damaged", "requested_outcome": "full_refund"}
    r = client.post("/api/v1/disputes", json=body, headers=headers | f.key("o"))
    assert (r.status_code, r.json()["type"]) == (403, P + "account-closed")
    r = client.post(
        f"/api/v1/operator/abuse-reviews/{rid}/decision",
        json={"decision": "clear"},
        headers=op | f.key("d"),
    )
    assert (r.status_code, r.json()["type"]) == (409, P + "transition-not-allowed")
