"""Evidence uploads (types, size, sha256, storage) and abuse reviews (R5, R9)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.models import Evidence
from dispute_backend.settings import Settings

P = "https://disputes.example/problems/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.4\n" + b"x" * 100

Opened = tuple[str, dict[str, str]]  # a dispute's public id, and its buyer's headers


@pytest.fixture
def dispute(client: TestClient, session: Session, settings: Settings) -> Opened:
    f.seller(session)
    f.buyer(session, "alice")
    order = f.order(session)
    session.commit()
    headers = f.buyer_headers(settings, "alice", session)
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


def test_upload_png_and_pdf(client: TestClient, settings: Settings, dispute: Opened) -> None:
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
    dispute: Opened,
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
    client: TestClient, settings: Settings, dispute: Opened
) -> None:
    did, headers = dispute
    client.post(
        f"/api/v1/disputes/{did}/cancel", headers=headers | f.key("c") | {"If-Match": '"1"'}
    )
    r = upload(client, did, headers, "box.png", PNG)
    assert (r.status_code, r.json()["type"]) == (409, P + "transition-not-allowed")
    assert stored_files(settings) == []


def test_seller_can_upload_evidence(client: TestClient, dispute: Opened) -> None:
    did, _ = dispute
    r = upload(client, did, f.seller_headers(), "receipt.pdf", PDF, prefix="/api/v1/seller")
    assert r.status_code == 201 and r.json()["party"] == "seller"


def _png(i: int) -> bytes:
    """A distinct small PNG per i: each is its own file on disk (files are named by sha256)."""
    return PNG + i.to_bytes(4, "big")


def refused(r: Response, status: int, slug: str) -> None:
    """`r` is a problem+json answer with that status and problem type."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == P + slug


def _evidence_rows(session: Session) -> int:
    return int(session.scalar(select(func.count(Evidence.id))) or 0)


def test_the_21st_file_is_refused_and_stores_nothing(
    client: TestClient, session: Session, settings: Settings, dispute: Opened
) -> None:
    did, headers = dispute
    assert settings.max_evidence_files == 20
    for i in range(20):
        r = upload(client, did, headers, f"photo-{i}.png", _png(i))
        assert r.status_code == 201, r.text
    before = sorted(stored_files(settings))
    assert len(before) == 20 and _evidence_rows(session) == 20

    for name, data in (("photo-21.png", _png(21)), ("again.png", _png(0))):
        refused(upload(client, did, headers, name, data), 409, "evidence-limit-reached")
        assert _evidence_rows(session) == 20
        assert sorted(stored_files(settings)) == before  # no new file, none left staged


def test_a_file_over_the_size_cap_stores_nothing_beside_the_others(
    client: TestClient, session: Session, settings: Settings, dispute: Opened
) -> None:
    did, headers = dispute
    assert upload(client, did, headers, "ok.png", _png(1)).status_code == 201
    before = sorted(stored_files(settings))
    cap = settings.max_evidence_bytes
    for size in (cap + 1, cap + 60 * 1024):  # under the body cap: refused by the file check
        r = upload(client, did, headers, "big.png", PNG + b"\x00" * (size - len(PNG)))
        refused(r, 413, "evidence-too-large")
    at_cap = upload(client, did, headers, "cap.png", PNG + b"\x01" * (cap - len(PNG)))
    assert at_cap.status_code == 201, at_cap.text  # exactly the cap is allowed
    assert _evidence_rows(session) == 2
    assert len(stored_files(settings)) == len(before) + 1


def test_abuse_review_opens_for_an_operator_and_never_closes_by_itself(
    client: TestClient, session: Session, settings: Settings
) -> None:
    f.seller(session)
    f.buyer(session, "erin")
    f.operator(session)
    orders = [f.order(session, buyer_id="erin") for _ in range(10)]
    session.commit()
    headers = f.buyer_headers(settings, "erin", session)
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
