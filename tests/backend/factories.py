"""Small factories: a buyer, a seller, an order in a given situation, headers for a buyer."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from dispute_backend.auth import issue_chat_token
from dispute_backend.models import Buyer, Operator, Order, Seller, ShippingStatus
from dispute_backend.settings import Settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ASSISTANT_TOKEN = "test-assistant-token"
STOREFRONT_TOKEN = "test-storefront-token"
CONSOLE_TOKEN = "test-console-token"
SECRET = "test-chat-secret-0123456789abcdef0123456789"

DAY = timedelta(days=1)
_ids = itertools.count(1)
SELLER_KEY = "test-seller-key"


def buyer(session: Session, buyer_id: str = "alice") -> Buyer:
    row = Buyer(id=buyer_id, name=buyer_id.title(), email=f"{buyer_id}@example.com", created_at=NOW)
    session.add(row)
    session.flush()
    return row


def seller(session: Session, seller_id: str = "shop", key: str = SELLER_KEY) -> Seller:
    row = Seller(
        id=seller_id,
        name=seller_id.title(),
        api_key_sha256=hashlib.sha256(key.encode()).hexdigest(),
        created_at=NOW,
    )
    session.add(row)
    session.flush()
    return row


def operator(session: Session, operator_id: str = "op-ana") -> Operator:
    row = Operator(
        id=operator_id,
        name="Ana",
        email=f"{operator_id}@example.com",
        password_hash=None,
        created_at=NOW,
    )
    session.add(row)
    session.flush()
    return row


def order(
    session: Session,
    *,
    buyer_id: str = "alice",
    seller_id: str = "shop",
    amount: str = "40.00",
    tracking_at: datetime | None = NOW - 5 * DAY,
    deadline: datetime = NOW + 20 * DAY,
    receipt_at: datetime | None = NOW - 1 * DAY,
    status: ShippingStatus = ShippingStatus.delivered,
) -> Order:
    row = Order(
        id=f"8{next(_ids):015d}",
        buyer_id=buyer_id,
        seller_id=seller_id,
        title="Test item",
        amount=Decimal(amount),
        currency="EUR",
        placed_at=NOW - 10 * DAY,
        tracking_number="LP1" if tracking_at else None,
        tracking_added_at=tracking_at,
        shipping_deadline=deadline,
        receipt_confirmed_at=receipt_at,
        shipping_status=status,
        refunded_amount=Decimal("0"),
    )
    session.add(row)
    session.flush()
    return row


def buyer_headers(settings: Settings, buyer_id: str, *, now: datetime = NOW) -> dict[str, str]:
    token, _ = issue_chat_token(buyer_id=buyer_id, now=now, settings=settings)
    return {"Authorization": f"Bearer {ASSISTANT_TOKEN}", "X-Buyer-Token": token}


def seller_headers(key: str = SELLER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def operator_headers(operator_id: str = "op-ana") -> dict[str, str]:
    return {"Authorization": f"Bearer {CONSOLE_TOKEN}", "X-Operator-Id": operator_id}


def key(name: str) -> dict[str, str]:
    return {"Idempotency-Key": f"{name}-{next(_ids)}"}
