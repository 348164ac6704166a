"""The real dispute backend for the contract suite, run by backend/.venv's Python.

    backend/.venv/bin/python tests/contract/backend_server.py DIRECTORY

Migrates a fresh SQLite database in DIRECTORY, serves the backend app on a free port of
127.0.0.1 with a frozen clock, and prints `PORT <n>` once it listens. Next to the real API
it serves a few `/_contract/...` routes that only this test server has: they set the
scene (buyers, orders in a given situation, linked channel accounts, a closed account)
and move the clock. Everything a case then checks goes through the real API.
"""

from __future__ import annotations

import hashlib
import itertools
import socket
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from dispute_backend.app import create_app
from dispute_backend.clock import FrozenClock
from dispute_backend.enums import AccountStatus, ShippingStatus
from dispute_backend.migrate import upgrade
from dispute_backend.models import Buyer, ChannelAccount, Operator, Order, Seller
from dispute_backend.services import handoff
from dispute_backend.settings import Settings
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ASSISTANT_TOKEN = "contract-assistant-token"
STOREFRONT_TOKEN = "contract-storefront-token"
SELLER_ID, SELLER_KEY = "contract-shop", "contract-seller-key"
CHAT_SECRET = "contract-chat-secret-0123456789abcdef0123"
IDENTITY_SECRET = "contract-identity-secret-0123456789abcdef"
CHAT_TOKEN_TTL_SECONDS = 3600
MAX_EVIDENCE_FILES = 3
MAX_EVIDENCE_BYTES = 64 * 1024

# situation -> (tracking added, receipt confirmed, shipping deadline, shipping status)
SITUATIONS: dict[str, tuple[datetime | None, datetime | None, datetime, ShippingStatus]] = {
    "eligible": (NOW - 5 * DAY, NOW - 1 * DAY, NOW + 20 * DAY, ShippingStatus.delivered),
    "no_tracking": (None, None, NOW + 20 * DAY, ShippingStatus.awaiting_shipment),
    "expired": (NOW - 40 * DAY, NOW - 20 * DAY, NOW - 25 * DAY, ShippingStatus.delivered),
    "in_customs": (NOW - 5 * DAY, None, NOW + 10 * DAY, ShippingStatus.in_customs),
    "in_transit": (NOW - 5 * DAY, None, NOW + 10 * DAY, ShippingStatus.in_transit),
}


class NewBuyer(BaseModel):
    id: str


class NewOrder(BaseModel):
    buyer_id: str
    situation: str
    amount: str = "40.00"
    currency: str = "EUR"
    title: str = "Contract item"


class Link(BaseModel):
    channel: str
    external_id: str
    buyer_id: str


class ClockAt(BaseModel):
    at: datetime


class Scene:
    """What the test-only routes do: write the scene straight into the database, or move
    the clock."""

    def __init__(self, factory: sessionmaker[Session], clock: FrozenClock) -> None:
        self.factory = factory
        self.clock = clock
        self.serial = itertools.count(1)

    def add_buyer(self, body: NewBuyer) -> dict[str, str]:
        self._insert(
            Buyer(id=body.id, name=body.id.title(), email=f"{body.id}@example.com", created_at=NOW)
        )
        return {"id": body.id}

    def close_account(self, buyer_id: str) -> dict[str, str]:
        with self.factory() as session:
            buyer = session.get(Buyer, buyer_id)
            if buyer is None:
                raise HTTPException(404)
            buyer.account_status = AccountStatus.closed
            session.commit()
        return {"id": buyer_id}

    def add_order(self, body: NewOrder) -> dict[str, str]:
        tracking_at, receipt_at, deadline, status = SITUATIONS[body.situation]
        n = next(self.serial)
        order = Order(
            id=f"7{n:015d}",
            buyer_id=body.buyer_id,
            seller_id=SELLER_ID,
            title=body.title,
            amount=Decimal(body.amount),
            currency=body.currency,
            # each order placed after the one before: "newest first" is well defined
            placed_at=NOW - 30 * DAY + n * timedelta(minutes=1),
            tracking_number=f"LP{n:09d}CN" if tracking_at else None,
            tracking_added_at=tracking_at,
            shipping_deadline=deadline,
            receipt_confirmed_at=receipt_at,
            shipping_status=status,
            refunded_amount=Decimal("0"),
        )
        self._insert(order)
        return {"id": order.id}

    def link(self, body: Link) -> dict[str, str]:
        self._insert(
            ChannelAccount(
                channel=body.channel,
                external_id=body.external_id,
                buyer_id=body.buyer_id,
                created_at=NOW,
                linked_at=NOW,
            )
        )
        return {"account": f"{body.channel}:{body.external_id}"}

    def claim(self, conversation_id: str) -> dict[str, Any]:
        """An operator of the console takes the conversation's waiting ticket."""
        with self.factory() as session:
            ticket = handoff.open_ticket(session, conversation_id=conversation_id)
            if ticket is None:
                raise HTTPException(404, "no open ticket")
            operator = _contract_operator(session)
            handoff.claim(session, ticket_id=ticket.id, operator=operator, now=self.clock.now())
            session.commit()
        return {"claimed": conversation_id}

    def set_clock(self, body: ClockAt) -> dict[str, Any]:
        self.clock.at = body.at
        return {"at": self.clock.at.isoformat()}

    def _insert(self, row: Any) -> None:
        with self.factory() as session:
            session.add(row)
            session.commit()


def _contract_operator(session: Session) -> Operator:
    """The console's one operator in this server, made on first use."""
    operator = session.get(Operator, "op-contract")
    if operator is None:
        operator = Operator(
            id="op-contract",
            name="Contract Operator",
            email="op@contract.example",
            created_at=NOW,
        )
        session.add(operator)
        session.flush()
    return operator


def scene_router(factory: sessionmaker[Session], clock: FrozenClock) -> APIRouter:
    """The test-only routes that set the scene; never part of the backend's own app."""
    scene = Scene(factory, clock)
    router = APIRouter(prefix="/_contract")
    router.post("/buyers", status_code=201)(scene.add_buyer)
    router.post("/buyers/{buyer_id}/close")(scene.close_account)
    router.post("/orders", status_code=201)(scene.add_order)
    router.post("/channel-accounts", status_code=201)(scene.link)
    router.post("/handoffs/{conversation_id}/claim")(scene.claim)
    router.put("/clock")(scene.set_clock)
    return router


def build_app(directory: Path) -> FastAPI:
    url = f"sqlite:///{directory / 'contract.db'}"
    upgrade(url)
    settings = Settings(
        app_env="test",
        database_url=url,
        assistant_service_token=ASSISTANT_TOKEN,
        storefront_service_token=STOREFRONT_TOKEN,
        console_service_token="contract-console-token",
        chat_token_secret=CHAT_SECRET,
        channel_identity_secret=IDENTITY_SECRET,
        chat_token_ttl_seconds=CHAT_TOKEN_TTL_SECONDS,
        evidence_dir=directory / "evidence",
        outbox_dir=directory / "outbox",
        max_evidence_files=MAX_EVIDENCE_FILES,
        max_evidence_bytes=MAX_EVIDENCE_BYTES,
        scheduler_enabled=False,
    )
    clock = FrozenClock(NOW)
    app = create_app(settings, clock=clock)
    factory: sessionmaker[Session] = app.state.session_factory
    with factory() as session:
        key = hashlib.sha256(SELLER_KEY.encode()).hexdigest()
        session.add(Seller(id=SELLER_ID, name="Contract Shop", api_key_sha256=key, created_at=NOW))
        session.commit()
    app.include_router(scene_router(factory, clock))
    return app


def main(directory: str) -> None:
    app = build_app(Path(directory))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1])
