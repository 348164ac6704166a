"""Authentication and access control: nothing but /health and the docs without credentials,
and a buyer sees only their own orders and disputes (404, never 403)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.settings import Settings

P = "https://disputes.example/problems/"


@pytest.fixture
def world(session: Session) -> dict[str, str]:
    f.seller(session)
    f.seller(session, "other-shop", key="other-key")
    f.buyer(session, "alice")
    f.buyer(session, "bob")
    f.operator(session)
    alice_order = f.order(session, buyer_id="alice")
    bob_order = f.order(session, buyer_id="bob")
    session.commit()
    return {"alice_order": alice_order.id, "bob_order": bob_order.id}


def open_dispute(client: TestClient, headers: dict[str, str], order_id: str) -> dict[str, object]:
    body = {"order_id": order_id, "reason": "damaged", "requested_outcome": "full_refund"}
    r = client.post("/api/v1/disputes", json=body, headers={**headers, **f.key("open")})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_health_and_docs_are_public(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/me",
        "/api/v1/orders",
        "/api/v1/disputes",
        "/api/v1/storefront/buyers",
        "/api/v1/seller/disputes",
        "/api/v1/operator/disputes",
    ],
)
def test_everything_else_needs_credentials(client: TestClient, world: object, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == P + "unauthenticated"


def test_wrong_service_token_is_unauthenticated(
    client: TestClient, settings: Settings, world: object, session: Session
) -> None:
    headers = f.buyer_headers(settings, "alice", session) | {"Authorization": "Bearer nope"}
    r = client.get("/api/v1/orders", headers=headers)
    assert (r.status_code, r.json()["type"]) == (401, P + "unauthenticated")


def test_both_services_may_act_for_a_buyer(
    client: TestClient, settings: Settings, world: object, session: Session
) -> None:
    headers = f.buyer_headers(settings, "alice", session)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    headers["Authorization"] = f"Bearer {f.STOREFRONT_TOKEN}"
    assert client.get("/api/v1/me", headers=headers).json()["id"] == "alice"


@pytest.mark.parametrize("token", [None, "", "garbage", "edited"])
def test_missing_or_invalid_buyer_token(
    client: TestClient, settings: Settings, world: object, token: str | None, session: Session
) -> None:
    headers = {"Authorization": f"Bearer {f.ASSISTANT_TOKEN}"}
    if token == "edited":
        good = f.buyer_headers(settings, "alice", session)["X-Buyer-Token"]
        head, payload, sig = good.split(".")
        headers["X-Buyer-Token"] = f"{head}.{payload[:-2]}xx.{sig}"
    elif token is not None:
        headers["X-Buyer-Token"] = token
    r = client.get("/api/v1/orders", headers=headers)
    assert (r.status_code, r.json()["type"]) == (401, P + "buyer-token-invalid")


def test_token_signed_with_another_secret_is_rejected(
    client: TestClient, settings: Settings, world: object, session: Session
) -> None:
    forged = settings.model_copy(update={"chat_token_secret": "x" * 40})
    r = client.get("/api/v1/orders", headers=f.buyer_headers(forged, "alice", session))
    assert r.json()["type"] == P + "buyer-token-invalid"


def test_expired_buyer_token(
    client: TestClient, settings: Settings, world: object, session: Session
) -> None:
    issued = f.NOW - timedelta(seconds=settings.chat_token_ttl_seconds + 1)
    r = client.get(
        "/api/v1/orders", headers=f.buyer_headers(settings, "alice", session, now=issued)
    )
    assert (r.status_code, r.json()["type"]) == (401, P + "buyer-token-invalid")
    assert "expired" in r.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders",
        "/api/v1/orders/{alice_order}/eligibility",  # one statement: the buyer is checked in it
        "/api/v1/disputes/D-10001",  # likewise
        "/api/v1/disputes/not-an-id",
    ],
)
def test_unknown_buyer_in_token(
    client: TestClient, settings: Settings, world: dict[str, str], path: str, session: Session
) -> None:
    r = client.get(path.format(**world), headers=f.buyer_headers(settings, "ghost", session))
    assert (r.status_code, r.json()["type"]) == (401, P + "buyer-token-invalid")


def test_storefront_lists_buyers_and_issues_tokens(client: TestClient, world: object) -> None:
    sf = {"Authorization": f"Bearer {f.STOREFRONT_TOKEN}"}
    buyers = client.get("/api/v1/storefront/buyers", headers=sf).json()
    assert [b["id"] for b in buyers] == ["alice", "bob"]
    assert buyers[0]["orders_count"] == 1
    r = client.post("/api/v1/storefront/chat-tokens", json={"buyer_id": "alice"}, headers=sf)
    assert r.status_code == 200
    token = r.json()["token"]
    assistant = {"Authorization": f"Bearer {f.ASSISTANT_TOKEN}", "X-Buyer-Token": token}
    me = client.get("/api/v1/me", headers={**assistant, "X-Conversation-Id": "conv-a"})
    assert me.json()["id"] == "alice"
    # the storefront itself reads with the token in no conversation
    assert client.get("/api/v1/me", headers={**sf, "X-Buyer-Token": token}).status_code == 200
    r = client.post("/api/v1/storefront/chat-tokens", json={"buyer_id": "ghost"}, headers=sf)
    assert (r.status_code, r.json()["type"]) == (404, P + "buyer-not-found")
    assert (
        client.get(
            "/api/v1/storefront/buyers", headers={"Authorization": f"Bearer {f.ASSISTANT_TOKEN}"}
        ).status_code
        == 401
    )


def test_another_buyers_order_and_dispute_are_not_found(
    client: TestClient, settings: Settings, world: dict[str, str], session: Session
) -> None:
    alice = f.buyer_headers(settings, "alice", session)
    bob = f.buyer_headers(settings, "bob", session)
    dispute = open_dispute(client, bob, world["bob_order"])
    bob_order, did = world["bob_order"], dispute["id"]
    for path in (
        f"/api/v1/orders/{bob_order}",
        f"/api/v1/orders/{bob_order}/eligibility",
        f"/api/v1/disputes/{did}",
        f"/api/v1/disputes/{did}/evidence",
        f"/api/v1/disputes/{did}/messages",
        f"/api/v1/disputes/{did}/events",
        "/api/v1/orders/9999999999999999/eligibility",
        "/api/v1/disputes/D-99999",
        "/api/v1/disputes/not-an-id",
    ):
        r = client.get(path, headers=alice)
        assert r.status_code == 404, path
    assert client.get(f"/api/v1/disputes?order_id={bob_order}", headers=alice).json() == []
    r = client.post(
        f"/api/v1/disputes/{did}/cancel", headers={**alice, **f.key("c"), "If-Match": '"1"'}
    )
    assert (r.status_code, r.json()["type"]) == (404, P + "dispute-not-found")
    r = client.post(
        "/api/v1/disputes",
        json={"order_id": bob_order, "reason": "damaged", "requested_outcome": "full_refund"},
        headers={**alice, **f.key("o")},
    )
    assert (r.status_code, r.json()["type"]) == (404, P + "order-not-found")
    assert client.get(f"/api/v1/disputes/{did}", headers=bob).json()["state"] == "negotiation"


def test_sellers_see_only_their_shop(
    client: TestClient, settings: Settings, world: dict[str, str], session: Session
) -> None:
    d = open_dispute(client, f.buyer_headers(settings, "alice", session), world["alice_order"])
    assert (
        client.get(f"/api/v1/seller/disputes/{d['id']}", headers=f.seller_headers()).status_code
        == 200
    )
    r = client.get(f"/api/v1/seller/disputes/{d['id']}", headers=f.seller_headers("other-key"))
    assert r.status_code == 404
    r = client.get("/api/v1/seller/disputes", headers=f.seller_headers("wrong-key"))
    assert (r.status_code, r.json()["type"]) == (401, P + "unauthenticated")


def test_operators_need_the_console_token_and_a_known_id(client: TestClient, world: object) -> None:
    assert client.get("/api/v1/operator/disputes", headers=f.operator_headers()).status_code == 200
    r = client.get("/api/v1/operator/disputes", headers=f.operator_headers("op-nobody"))
    assert (r.status_code, r.json()["type"]) == (401, P + "operator-unknown")
    r = client.get(
        "/api/v1/operator/disputes",
        headers={"Authorization": f"Bearer {f.ASSISTANT_TOKEN}", "X-Operator-Id": "op-ana"},
    )
    assert r.status_code == 401


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert (r.status_code, r.json()["type"]) == (404, P + "not-found")
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.delete("/health")
    assert (r.status_code, r.json()["type"]) == (405, P + "method-not-allowed")
