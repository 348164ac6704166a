"""Demo data covers every situation of the issue; settings refuse placeholder secrets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.migrate import upgrade
from dispute_backend.models import AbuseReview, Dispute, Order
from dispute_backend.rules import RuleSettings
from dispute_backend.seed import has_data, seed, wipe
from dispute_backend.settings import Settings


@pytest.fixture
def seeded(session: Session) -> Session:
    seed(session, now=f.NOW, rs=RuleSettings())
    session.commit()
    return session


def eligibility(
    client: TestClient, seeded: Session, settings: Settings, buyer: str, order_id: str
) -> str:
    r = client.get(
        f"/api/v1/orders/{order_id}/eligibility", headers=f.buyer_headers(settings, buyer, seeded)
    )
    return r.json()["reason_code"]  # type: ignore[no-any-return]


def test_demo_situations(client: TestClient, settings: Settings, seeded: Session) -> None:
    assert has_data(seeded)
    expected = {
        ("alice", "8100000000000011"): "eligible",
        ("alice", "8100000000000013"): "no_tracking_yet",
        ("bruno", "8200000000000022"): "protection_expired",
        ("diego", "8400000000000042"): "eligible",  # after a cancelled dispute
        ("diego", "8400000000000041"): "order_already_resolved",
    }
    for (buyer, order_id), reason in expected.items():
        assert eligibility(client, seeded, settings, buyer, order_id) == reason
    orders = {o.id: o for o in seeded.scalars(select(Order))}
    assert orders["8200000000000021"].shipping_status.value == "in_customs"
    assert orders["8100000000000012"].shipping_status.value == "in_transit"
    assert orders["8200000000000022"].payment_status.value == "released"
    assert orders["8400000000000042"].payment_status.value == "held"
    assert orders["8400000000000041"].payment_status.value == "refunded"
    by_order = {d.order_id: d for d in seeded.scalars(select(Dispute))}
    assert by_order["8300000000000031"].state.value == "negotiation"
    mediated = by_order["8300000000000032"]
    assert mediated.state.value == "mediation" and mediated.opened_at <= f.NOW - 5 * f.DAY
    assert by_order["8400000000000041"].outcome.value == "full_refund"  # type: ignore[union-attr]
    assert by_order["8400000000000042"].outcome.value == "cancelled"  # type: ignore[union-attr]
    erin = [d for d in by_order.values() if d.buyer_id == "erin"]
    assert len(erin) == 25
    assert sum(1 for o in orders.values() if o.buyer_id == "erin") == 30
    review = seeded.scalars(select(AbuseReview)).one()
    assert (review.buyer_id, review.status.value) == ("erin", "open")
    sf = {"Authorization": f"Bearer {f.STOREFRONT_TOKEN}"}
    names = [b["id"] for b in client.get("/api/v1/storefront/buyers", headers=sf).json()]
    assert names == ["alice", "bruno", "carla", "diego", "erin"]
    seller = client.get("/api/v1/seller/disputes", headers=f.seller_headers("seller-moda-demo-key"))
    assert seller.status_code == 200 and seller.json()
    wipe(seeded)
    assert not has_data(seeded)


def test_migrate_is_safe_to_repeat(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValidationError):
        Settings(app_env="production", chat_token_secret="changeme")
    with pytest.raises(ValidationError):
        Settings(app_env="production")
    real = {
        "assistant_service_token": "a" * 32,
        "storefront_service_token": "b" * 32,
        "console_service_token": "c" * 32,
        "chat_token_secret": "d" * 40,
        "channel_identity_secret": "e" * 40,
    }
    ok = Settings(app_env="production", **real)
    assert ok.chat_token_ttl_seconds == 12 * 3600
    # every secret is checked, not only the chat token's: missing, short, or shared
    for name in real:
        with pytest.raises(ValidationError, match=name.upper()):
            Settings(app_env="production", **{**real, name: ""})
        with pytest.raises(ValidationError, match="at least 32"):
            Settings(app_env="production", **{**real, name: "s" * 20})
    with pytest.raises(ValidationError, match="differ"):
        Settings(app_env="production", **{**real, "console_service_token": "a" * 32})


def test_development_defaults_work_standalone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ASSISTANT_SERVICE_TOKEN", "CHAT_TOKEN_SECRET", "DATABASE_URL", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.assistant_service_token and s.chat_token_secret
    assert s.database_url.endswith("var/backend.db")
    assert (s.protection_days, s.negotiation_days, s.abuse_min_purchases) == (15, 5, 10)


def test_health_is_503_problem_when_the_database_does_not_answer(settings: Settings) -> None:
    from dispute_backend.app import create_app

    broken = settings.model_copy(update={"database_url": "sqlite:////nonexistent/dir/x.db"})
    with TestClient(create_app(broken)) as client:
        r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["type"] == "https://disputes.example/problems/service-unavailable"


def test_reading_one_dispute_shows_what_the_list_shows(
    client: TestClient, settings: Settings, seeded: Session
) -> None:
    """GET /disputes/{id} reads plain columns in one statement; the list goes through the ORM.
    Both must render every demo dispute identically: in negotiation with a seller's counter, in
    mediation, decided by the platform, ended by agreement, cancelled."""
    in_state = {
        d.state: d for d in seeded.scalars(select(Dispute).where(Dispute.buyer_id == "carla"))
    }
    negotiating, decided = in_state["negotiation"], in_state["mediation"]
    f.counter(seeded, negotiating, "10.00", "half, with the item back", with_return=True)
    f.decide(seeded, decided, "5.00", "partly", by="op-marta")
    seeded.commit()
    shown = 0
    for buyer in ("carla", "diego", "erin"):
        headers = f.buyer_headers(settings, buyer, seeded)
        listed = client.get("/api/v1/disputes", headers=headers).json()
        assert listed
        for item in listed:
            one = client.get(f"/api/v1/disputes/{item['id']}", headers=headers)
            assert one.status_code == 200
            assert one.json() == item
            shown += 1
    assert shown == 29
    parties = {p.party for d in seeded.scalars(select(Dispute)) for p in d.proposals}
    assert parties == {"buyer", "seller", "platform"}
