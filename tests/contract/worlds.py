"""Two worlds behind one interface: the in-memory fake, and the real backend over HTTP.

A contract case sets the scene through a `World` (a buyer, an order in a named situation,
time passing), then calls `world.backend`, the `DisputeBackend` and `ChannelBackend` the
actions use, and checks what comes back. Each world sets the scene its own way; the calls
and the checks are the same for both.
"""

from __future__ import annotations

import abc
import itertools
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import jwt
import requests

from actions.backend_client import (
    CHANNEL_IDENTITY,
    ChannelBackend,
    Credential,
    DisputeBackend,
    HttpDisputeBackend,
    ProtectionWindow,
)
from extensions.identity import assert_identity
from tests.actions.fake_backend import InMemoryChannelBackend, make_order

# What the contract server (backend_server.py) is configured with.
NOW = datetime.fromisoformat("2026-11-28T12:00:00+00:00")
ASSISTANT_TOKEN = "contract-assistant-token"
STOREFRONT_TOKEN = "contract-storefront-token"
SELLER_KEY = "contract-seller-key"
IDENTITY_SECRET = "contract-identity-secret-0123456789abcdef"
CHAT_TOKEN_TTL = timedelta(seconds=3600)
MAX_EVIDENCE_FILES = 3
MAX_EVIDENCE_BYTES = 64 * 1024
SITUATIONS = ("eligible", "no_tracking", "expired", "in_customs", "in_transit")

_names = itertools.count(1)


class Backend(DisputeBackend, ChannelBackend, abc.ABC):
    """Both interfaces, as the HTTP client and the channel fake implement them."""


class World(Protocol):
    backend: Backend
    max_evidence_files: int
    max_evidence_bytes: int

    def buyer(self) -> Credential:
        """A new buyer, signed in: a chat token bound to a conversation of its own."""

    def token_for(self, buyer: Credential) -> Credential:
        """Another chat token of the same buyer, bound to a new conversation."""

    def order(self, buyer: Credential, situation: str, *, amount: str = "40.00") -> str:
        """A new order of the buyer's in one of SITUATIONS; its id."""

    def close_account(self, buyer: Credential) -> None: ...

    def settle(self, buyer: Credential, dispute_id: str) -> None:
        """The seller accepts the buyer's proposal: the dispute ends with a refund."""

    def channel_buyer(self) -> Credential:
        """A new buyer on Telegram, account linked: the identity the channel signed."""

    def unlinked_channel_user(self) -> Credential:
        """A Telegram user the channel verified, whose account is linked to nobody."""

    def let_time_pass(self, delta: timedelta) -> None: ...

    def claim_handoff(self, conversation_id: str) -> None:
        """An operator claims the conversation's waiting ticket."""


def new_name(prefix: str) -> str:
    return f"{prefix}{next(_names)}{uuid.uuid4().hex[:6]}"


def conversation() -> str:
    return uuid.uuid4().hex  # a web chat's conversation id: 32 hex digits


# --- the fake ------------------------------------------------------------------------------


class FakeWorld:
    def __init__(self) -> None:
        self.fake = InMemoryChannelBackend(tokens={})
        self.fake.max_evidence_files = MAX_EVIDENCE_FILES
        self.fake.max_evidence_bytes = MAX_EVIDENCE_BYTES
        self.fake.chat_token_ttl = CHAT_TOKEN_TTL
        self.backend: Backend = self.fake  # type: ignore[assignment]
        self.max_evidence_files = MAX_EVIDENCE_FILES
        self.max_evidence_bytes = MAX_EVIDENCE_BYTES
        self._serial = itertools.count(1)

    def _buyer_id(self, buyer: Credential) -> str:
        if buyer.kind == CHANNEL_IDENTITY:
            return self.fake.tokens[f"channel:{buyer.conversation_id}"]
        return self.fake.tokens[buyer.proof]

    def buyer(self) -> Credential:
        chat = conversation()
        return Credential(self.fake.issue_token(new_name("buyer"), chat), chat)

    def token_for(self, buyer: Credential) -> Credential:
        chat = conversation()
        return Credential(self.fake.issue_token(self._buyer_id(buyer), chat), chat)

    def order(self, buyer: Credential, situation: str, *, amount: str = "40.00") -> str:
        order_id = f"7{next(self._serial):015d}"
        now = self.fake.now
        past, future = (now - timedelta(days=5)).isoformat(), (now + timedelta(days=5)).isoformat()
        situations = {
            "eligible": {},
            "no_tracking": {
                "tracking_number": None,
                "shipping_status": "awaiting_shipment",
                "receipt_confirmed_at": None,
            },
            "expired": {"window": ProtectionWindow(past, past, False)},
            "in_customs": {"shipping_status": "in_customs", "receipt_confirmed_at": None},
            "in_transit": {"shipping_status": "in_transit", "receipt_confirmed_at": None},
        }
        order = make_order(
            order_id,
            amount=Decimal(amount),
            currency="EUR",
            window=ProtectionWindow(past, future, True),
        )
        self.fake.add_order(self._buyer_id(buyer), replace(order, **situations[situation]))  # type: ignore[arg-type]
        return order_id

    def close_account(self, buyer: Credential) -> None:
        self.fake.closed_accounts.add(self._buyer_id(buyer))

    def settle(self, buyer: Credential, dispute_id: str) -> None:
        self.fake.settle(self._buyer_id(buyer), dispute_id)

    def channel_buyer(self) -> Credential:
        account = f"telegram:{next(self._serial)}"
        self.fake.tokens[f"channel:{account}"] = new_name("tg")
        return Credential(f"identity:{account}", account, kind=CHANNEL_IDENTITY)

    def unlinked_channel_user(self) -> Credential:
        account = f"telegram:{next(self._serial)}"
        return Credential(f"identity:{account}", account, kind=CHANNEL_IDENTITY)

    def let_time_pass(self, delta: timedelta) -> None:
        self.fake.now += delta

    def claim_handoff(self, conversation_id: str) -> None:
        tickets = self.fake._handoff_state()
        tickets[conversation_id] = replace(tickets[conversation_id], state="assigned")


# --- the real backend ----------------------------------------------------------------------


class HttpWorld:
    """The contract server from backend_server.py, its clock set back to NOW for each case."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        client = HttpDisputeBackend(base_url, ASSISTANT_TOKEN, timeout=10)
        self.backend: Backend = client  # type: ignore[assignment]
        self.max_evidence_files = MAX_EVIDENCE_FILES
        self.max_evidence_bytes = MAX_EVIDENCE_BYTES
        self.now = NOW
        self._scene("PUT", "/_contract/clock", {"at": NOW.isoformat()})

    def _scene(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        response = self.http.request(
            method, self.base_url + path, json=body, headers=headers, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def _chat_token(self, buyer_id: str, chat: str) -> Credential:
        token = self._scene(
            "POST",
            "/api/v1/storefront/chat-tokens",
            {"buyer_id": buyer_id, "conversation_id": chat},
            headers={"Authorization": f"Bearer {STOREFRONT_TOKEN}"},
        )["token"]
        return Credential(token, chat)

    def _buyer_id(self, buyer: Credential) -> str:
        if buyer.kind == CHANNEL_IDENTITY:
            return self.backend.me(buyer).id
        claims = jwt.decode(buyer.proof, options={"verify_signature": False})
        return str(claims["sub"])

    def buyer(self) -> Credential:
        buyer_id = new_name("buyer")
        self._scene("POST", "/_contract/buyers", {"id": buyer_id})
        return self._chat_token(buyer_id, conversation())

    def token_for(self, buyer: Credential) -> Credential:
        return self._chat_token(self._buyer_id(buyer), conversation())

    def order(self, buyer: Credential, situation: str, *, amount: str = "40.00") -> str:
        body = {"buyer_id": self._buyer_id(buyer), "situation": situation, "amount": amount}
        return str(self._scene("POST", "/_contract/orders", body)["id"])

    def close_account(self, buyer: Credential) -> None:
        self._scene("POST", f"/_contract/buyers/{self._buyer_id(buyer)}/close")

    def settle(self, buyer: Credential, dispute_id: str) -> None:
        version = next(d.version for d in self.backend.disputes(buyer) if d.id == dispute_id)
        headers = {
            "Authorization": f"Bearer {SELLER_KEY}",
            "If-Match": f'"{version}"',
            "Idempotency-Key": uuid.uuid4().hex,
        }
        self._scene("POST", f"/api/v1/seller/disputes/{dispute_id}/accept", headers=headers)

    def channel_buyer(self) -> Credential:
        buyer_id, user = new_name("tg"), str(next(_names))
        self._scene("POST", "/_contract/buyers", {"id": buyer_id})
        self._scene(
            "POST",
            "/_contract/channel-accounts",
            {"channel": "telegram", "external_id": user, "buyer_id": buyer_id},
        )
        proof = assert_identity("telegram", user, secret=IDENTITY_SECRET, now=NOW.timestamp())
        return Credential(proof, f"telegram:{user}", kind=CHANNEL_IDENTITY)

    def unlinked_channel_user(self) -> Credential:
        user = str(next(_names))
        proof = assert_identity("telegram", user, secret=IDENTITY_SECRET, now=self.now.timestamp())
        return Credential(proof, f"telegram:{user}", kind=CHANNEL_IDENTITY)

    def let_time_pass(self, delta: timedelta) -> None:
        self.now += delta
        self._scene("PUT", "/_contract/clock", {"at": self.now.isoformat()})

    def claim_handoff(self, conversation_id: str) -> None:
        self._scene("POST", f"/_contract/handoffs/{conversation_id}/claim")
