"""Small factories: a buyer, a seller, an order in a given situation, headers for a buyer."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from dispute_backend.auth import CHANNEL_IDENTITY_AUDIENCE, issue_chat_token
from dispute_backend.db import make_engine
from dispute_backend.enums import DisputeReason, RequestedOutcome, ShippingStatus
from dispute_backend.models import (
    AbuseReview,
    Buyer,
    ChatSession,
    Dispute,
    Event,
    Evidence,
    HandoffTicket,
    IdempotencyRecord,
    Message,
    Operator,
    Order,
    Proposal,
    Seller,
)
from dispute_backend.rules import RuleSettings
from dispute_backend.seed import OrderSpec
from dispute_backend.seed import _order as seed_order
from dispute_backend.services import disputes, handoff
from dispute_backend.settings import Settings

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ASSISTANT_TOKEN = "test-assistant-token"
STOREFRONT_TOKEN = "test-storefront-token"
CONSOLE_TOKEN = "test-console-token"
SECRET = "test-chat-secret-0123456789abcdef0123456789"
IDENTITY_SECRET = "test-identity-secret-0123456789abcdef0123"

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
    """An order placed 10 days before NOW, built as the demo data builds its orders."""

    def days_ago(at: datetime | None) -> float | None:
        return None if at is None else (NOW - at) / DAY

    spec = OrderSpec(
        f"8{next(_ids):015d}",
        buyer_id,
        seller_id,
        "Test item",
        amount,
        placed_days_ago=10,
        tracking_days_ago=days_ago(tracking_at),
        deadline_in_days=(deadline - NOW) / DAY,
        receipt_days_ago=days_ago(receipt_at),
        status=status,
    )
    row = seed_order(spec, NOW)
    session.add(row)
    session.flush()
    return row


def dispute(
    session: Session,
    buyer: Buyer,
    order: Order,
    *,
    reason: DisputeReason = DisputeReason.damaged,
    description: str = "",
    now: datetime = NOW,
) -> Dispute:
    """A buyer's dispute on an order, opened through the service (full refund, no return)."""
    return disputes.open_dispute(
        session,
        buyer=buyer,
        order_id=order.id,
        reason=reason,
        requested_outcome=RequestedOutcome.full_refund,
        refund_amount=None,
        with_return=False,
        description=description,
        now=now,
        rs=RuleSettings(),
    )


def _sent(dispute: Dispute, *, now: datetime = NOW, version: int | None = None) -> dict[str, Any]:
    """What every answer on a dispute through the service names: the dispute, the version
    its sender holds (the current one unless told) and the time."""
    held = dispute.version if version is None else version
    return {"dispute": dispute, "expected_version": held, "now": now}


def _offer(dispute: Dispute, amount: str, with_return: bool = False, **sent: Any) -> dict[str, Any]:
    """`_sent`, and the refund proposed: `amount`, with the item sent back only if told.
    The helpers below take `with_return`, `now` and `version` as keywords (`kw`)."""
    refund = {"refund_amount": Decimal(amount), "with_return": with_return}
    return _sent(dispute, **sent) | refund


def counter(session: Session, dispute: Dispute, amount: str, note: str = "", **kw: Any) -> Dispute:
    """The dispute's seller offers a refund of `amount`, through the service."""
    offer = _offer(dispute, amount, **kw)
    return disputes.seller_counter(session, seller_id=dispute.seller_id, note=note, **offer)


def modify(
    session: Session, dispute: Dispute, amount: str, request: str | None = None, **kw: Any
) -> Dispute:
    """The dispute's buyer asks for a refund of `amount` instead, through the service."""
    offer = _offer(dispute, amount, **kw)
    return disputes.modify_proposal(session, buyer_id=dispute.buyer_id, request=request, **offer)


def decide(
    session: Session, dispute: Dispute, amount: str, note: str = "", by: str = "op-ana", **kw: Any
) -> Dispute:
    """Operator `by` decides a refund of `amount` on a dispute in mediation, through the
    service."""
    offer = _offer(dispute, amount, **kw)
    return disputes.platform_decide(session, operator_id=by, note=note, **offer)


def reject(session: Session, dispute: Dispute, note: str = "", **kw: Any) -> Dispute:
    """The dispute's seller rejects the buyer's proposal, through the service (`now` and
    `version` in `kw`)."""
    sent = _sent(dispute, **kw)
    return disputes.seller_reject(session, seller_id=dispute.seller_id, note=note, **sent)


def request_handoff(
    session: Session,
    conversation: str,
    *,
    channel: str = "rest",
    reason: str = "user_request",
    buyer_id: str | None = None,
    now: datetime = NOW,
) -> tuple[HandoffTicket, bool]:
    """A conversation asks for a person, through the service: its open ticket, and whether
    the ticket is new (a conversation has one open ticket at a time)."""
    return handoff.request_handoff(
        session,
        conversation_id=conversation,
        channel=channel,
        reason=reason,
        buyer_id=buyer_id,
        now=now,
    )


CONVERSATION = "0123456789abcdef0123456789abcdef"


def buyer_headers(
    settings: Settings,
    buyer_id: str,
    session: Session | None = None,
    *,
    now: datetime = NOW,
    conversation: str | None = CONVERSATION,
) -> dict[str, str]:
    """The assistant's headers for a buyer: a chat token of a new chat session (committed in
    `session`, or straight to the database for tests of committed data), bound to
    `conversation` and sent from it. For a buyer the database does not know, the token
    names a session that does not exist either."""
    chat = ChatSession(
        id=uuid.uuid4().hex,
        buyer_id=buyer_id,
        conversation_id=conversation,
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    token, _ = issue_chat_token(chat=chat, now=now, settings=settings)
    if session is None:
        engine = make_engine(settings.database_url)
        try:
            with Session(engine) as own:
                _store_chat_session(own, chat)
        finally:
            engine.dispose()
    else:
        _store_chat_session(session, chat)
    headers = {"Authorization": f"Bearer {ASSISTANT_TOKEN}", "X-Buyer-Token": token}
    if conversation is not None:
        headers["X-Conversation-Id"] = conversation
    return headers


def _store_chat_session(session: Session, chat: ChatSession) -> None:
    if session.get(Buyer, chat.buyer_id) is not None:
        session.add(chat)
        session.commit()


def channel_headers(
    account: str,
    *,
    now: datetime = NOW,
    conversation: str | None = None,
    secret: str = IDENTITY_SECRET,
) -> dict[str, str]:
    """The assistant's headers for a Telegram/Messenger user: the identity the Rasa server
    signs once the platform's webhook is verified (extensions/identity.py), sent from the
    account's own conversation unless another is named."""
    issued = int(now.timestamp())
    claims = {"sub": account, "aud": CHANNEL_IDENTITY_AUDIENCE, "iat": issued, "exp": issued + 900}
    proof = jwt.encode(claims, secret, algorithm="HS256")
    return {
        "Authorization": f"Bearer {ASSISTANT_TOKEN}",
        "X-Channel-Identity": proof,
        "X-Conversation-Id": conversation or account,
    }


def seller_headers(key: str = SELLER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def operator_headers(operator_id: str = "op-ana") -> dict[str, str]:
    return {"Authorization": f"Bearer {CONSOLE_TOKEN}", "X-Operator-Id": operator_id}


def key(name: str) -> dict[str, str]:
    return {"Idempotency-Key": f"{name}-{next(_ids)}"}


def purge(session: Session, *, buyer_id: str, seller_id: str) -> None:
    """Delete and commit what a test of committed data wrote for one buyer and one seller."""
    disputes = select(Dispute.id).where(Dispute.buyer_id == buyer_id)
    session.execute(delete(Event).where(Event.buyer_id == buyer_id))
    for table in (Proposal, Evidence, Message):
        session.execute(delete(table).where(table.dispute_id.in_(disputes)))
    session.execute(delete(Dispute).where(Dispute.buyer_id == buyer_id))
    principal = IdempotencyRecord.principal == f"buyer:{buyer_id}"
    session.execute(delete(IdempotencyRecord).where(principal))
    session.execute(delete(Order).where(Order.buyer_id == buyer_id))
    session.execute(delete(AbuseReview).where(AbuseReview.buyer_id == buyer_id))
    session.execute(delete(ChatSession).where(ChatSession.buyer_id == buyer_id))
    session.execute(delete(Buyer).where(Buyer.id == buyer_id))
    session.execute(delete(Seller).where(Seller.id == seller_id))
    session.commit()


@contextlib.contextmanager
def purged_after(engine: Engine, *, buyer_id: str, seller_id: str) -> Iterator[None]:
    """For tests of committed data: once the block ends, `purge` the buyer and the seller."""
    try:
        yield
    finally:
        with Session(engine) as session:
            purge(session, buyer_id=buyer_id, seller_id=seller_id)
