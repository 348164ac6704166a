"""The data model (SQLAlchemy 2 style). Money is Numeric + currency; times are UTC."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, UTCDateTime
from .enums import (
    AccountStatus,
    ActorType,
    DisputeReason,
    DisputeState,
    Outcome,
    Party,
    PaymentStatus,
    ProposalStatus,
    RequestedOutcome,
    Resolution,
    ReviewStatus,
    ShippingStatus,
    TicketOutcome,
    TicketParty,
    TicketState,
)

MONEY = Numeric(12, 2)


def _enum(cls: type[StrEnum]) -> Enum:
    # Stored as plain strings with a CHECK-free VARCHAR, so adding a value needs no migration.
    return Enum(cls, native_enum=False, create_constraint=False, length=32, values_callable=_values)


def _values(cls: type[StrEnum]) -> list[str]:
    return [m.value for m in cls]


def _one_per(name: str, column: str, *, where: str) -> Index:
    """A partial unique index: at most one row per `column` among the rows `where` holds."""
    return Index(name, column, unique=True, sqlite_where=text(where), postgresql_where=text(where))


class _Account:
    """What buyers, sellers and operators all have: an id, a name to show, and when the
    account was made."""

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Buyer(_Account, Base):
    __tablename__ = "buyers"

    email: Mapped[str] = mapped_column(String(200), unique=True)
    account_status: Mapped[AccountStatus] = mapped_column(
        _enum(AccountStatus), default=AccountStatus.active
    )


class Seller(_Account, Base):
    __tablename__ = "sellers"

    # sha256 of the seller's API key: the keys are long random strings, not passwords.
    api_key_sha256: Mapped[str] = mapped_column(String(64), unique=True)


class Operator(_Account, Base):
    __tablename__ = "operators"

    email: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Presence for the handoff queue: online while the console's heartbeat is recent.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# What an order id may look like (the marketplace's are 16 digits); anything else is no order,
# answered before a query (PostgreSQL refuses a NUL in a string parameter outright).
ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


def is_order_id(value: str) -> bool:
    return re.fullmatch(ORDER_ID_PATTERN, value) is not None


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id"), index=True)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_added_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipping_deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    receipt_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipping_status: Mapped[ShippingStatus] = mapped_column(_enum(ShippingStatus))
    payment_status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus), default=PaymentStatus.held
    )
    refunded_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    payment_settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    seller: Mapped[Seller] = relationship(lazy="joined")


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (
        # At most one dispute in progress per order, whatever the races.
        _one_per("uq_disputes_one_active_per_order", "order_id", where="state != 'ended'"),
        Index("ix_disputes_state_negotiation_ends_at", "state", "negotiation_ends_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id"), index=True)
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), index=True)
    reason: Mapped[DisputeReason] = mapped_column(_enum(DisputeReason))
    description: Mapped[str] = mapped_column(Text, default="")
    requested_outcome: Mapped[RequestedOutcome] = mapped_column(_enum(RequestedOutcome))
    state: Mapped[DisputeState] = mapped_column(_enum(DisputeState))
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome))
    resolution: Mapped[Resolution | None] = mapped_column(_enum(Resolution))
    resolved_refund_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    resolved_with_return: Mapped[bool | None] = mapped_column(Boolean)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    negotiation_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mediation_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    order: Mapped[Order] = relationship(lazy="joined")
    proposals: Mapped[list[Proposal]] = relationship(
        order_by="Proposal.id", back_populates="dispute", lazy="selectin"
    )

    # The services bump `version` on every change; SQLAlchemy adds "WHERE version = <read>"
    # to the UPDATE and raises StaleDataError when another writer got there first.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012

    @property
    def public_id(self) -> str:
        return public_dispute_id(self.id)


DISPUTE_ID_OFFSET = 10000


def public_dispute_id(pk: int) -> str:
    return f"D-{DISPUTE_ID_OFFSET + pk}"


# ASCII digits only: str.isdigit() also takes superscripts (which int() refuses) and other
# scripts' digits (which int() reads, making Arabic-Indic "D-10001" another name of D-10001).
_PUBLIC_DISPUTE_ID = re.compile(r"[Dd]-([0-9]{1,12})")


def parse_dispute_id(public_id: str) -> int | None:
    match = _PUBLIC_DISPUTE_ID.fullmatch(public_id)
    if match is None:
        return None
    pk = int(match.group(1)) - DISPUTE_ID_OFFSET
    return pk if pk > 0 else None


class _DisputeRecord:
    """What a party adds to a dispute (a proposal, evidence, a message): which dispute, which
    party and who of it, and when."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    party: Mapped[Party] = mapped_column(_enum(Party))
    author_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Proposal(_DisputeRecord, Base):
    __tablename__ = "proposals"

    refund_amount: Mapped[Decimal] = mapped_column(MONEY)
    with_return: Mapped[bool] = mapped_column(Boolean)
    request: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ProposalStatus] = mapped_column(_enum(ProposalStatus))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    dispute: Mapped[Dispute] = relationship(back_populates="proposals")


class Evidence(_DisputeRecord, Base):
    __tablename__ = "evidence"

    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")


class Message(_DisputeRecord, Base):
    __tablename__ = "messages"

    body: Mapped[str] = mapped_column(Text)


class Event(Base):
    """Append-only log of who did what and when. Rows are never updated or deleted."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_type: Mapped[ActorType] = mapped_column(_enum(ActorType))
    actor_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(60))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"), index=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), index=True)
    buyer_id: Mapped[str | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AbuseReview(Base):
    __tablename__ = "abuse_reviews"
    __table_args__ = (
        _one_per("uq_abuse_reviews_one_open_per_buyer", "buyer_id", where="status = 'open'"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id"), index=True)
    status: Mapped[ReviewStatus] = mapped_column(_enum(ReviewStatus))
    disputes_count: Mapped[int] = mapped_column(Integer)
    orders_count: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"))
    note: Mapped[str] = mapped_column(Text, default="")


class IdempotencyRecord(Base):
    """The first successful answer to a mutating request, replayed on retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class HandoffTicket(Base):
    """A conversation handed to a human: waiting in the queue, assigned, then closed."""

    __tablename__ = "handoff_tickets"
    __table_args__ = (
        # At most one open ticket per conversation, whatever the races.
        _one_per(
            "uq_handoff_tickets_one_open_per_conversation",
            "conversation_id",
            where="state != 'closed'",
        ),
        Index("ix_handoff_tickets_state_created_at", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(255))  # Rasa's sender id
    channel: Mapped[str] = mapped_column(String(40))  # the input channel, e.g. socketio, rest
    buyer_id: Mapped[str | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    state: Mapped[TicketState] = mapped_column(_enum(TicketState))
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[TicketOutcome | None] = mapped_column(_enum(TicketOutcome))  # once closed
    # Bumped by every transition; the transitions are conditional UPDATEs on the state.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class HandoffMessage(Base):
    """The stored transcript of the human part of a conversation."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("handoff_tickets.id"), index=True)
    party: Mapped[TicketParty] = mapped_column(_enum(TicketParty))
    author_id: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChannelAccount(Base):
    """A user of a messaging channel (Telegram, Messenger), linked to a buyer or not yet.

    `channel` is Rasa's input channel name and `external_id` the channel's user id (Rasa's
    sender id), so "telegram:12345" names one row. Unlinking clears `buyer_id`.
    """

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(120))
    buyer_id: Mapped[str | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LinkCode(Base):
    """A one-time code sent to the e-mail a channel user typed.

    Only a keyed hash of the code is stored. `buyer_id` is None when the e-mail matches no
    buyer: the row exists all the same, so asking for a code looks and takes the same either
    way, and no code can ever match it.
    """

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"), index=True)
    buyer_id: Mapped[str | None] = mapped_column(ForeignKey("buyers.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Keyed hash of the e-mail typed, so codes can be counted per address (known or not).
    email_digest: Mapped[str | None] = mapped_column(String(64), index=True)


class ChatSession(Base):
    """What a buyer's chat tokens point at: who, which conversation, and whether it still holds.

    Every chat token names one (its `sid` claim). The web page makes one per sign-in, bound to
    the conversation it opens; a token asked for without a conversation is bound to the first
    conversation that uses it. Signing out revokes it, and every token naming it with it.
    """

    __tablename__ = "chat_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id"), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed console sign-ins of one operator id (`operator:<id>`) or one client address
    (`client:<address>`) in the current window, and until when that key is refused. In the
    database so every console and backend process counts the same tries."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PasswordCheckSlot(Base):
    """One of the few password checks (Argon2 hashes) allowed at once, across processes. A
    check holds a slot until it ends, or until `taken_until` if its process died."""

    __tablename__ = "password_check_slots"

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(32))
    taken_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
