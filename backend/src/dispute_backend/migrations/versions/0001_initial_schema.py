"""Initial schema: accounts, orders, disputes, proposals, evidence, messages, events,
abuse reviews and idempotency records."""

from typing import Any

import sqlalchemy as sa
from alembic import op

from dispute_backend.migrations.tables import (
    choice,
    create_table,
    integer,
    key,
    moment,
    money,
    one_per,
    string,
    text,
)

revision = "0001"
down_revision = None

# In the order upgrade() creates them, each after the tables it refers to; downgrade() drops
# them in the reverse order.
TABLES = (
    "buyers",
    "idempotency_records",
    "operators",
    "sellers",
    "abuse_reviews",
    "orders",
    "disputes",
    "events",
    "evidence",
    "messages",
    "proposals",
)


def upgrade() -> None:
    _accounts_and_records()
    _orders_and_disputes()
    _events()
    _dispute_records()


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)


def _accounts_and_records() -> None:
    """Buyers, sellers and operators, the abuse reviews of buyers, and idempotency records."""
    create_table(
        "buyers",
        string("id", 40),
        string("name", 120),
        string("email", 200),
        choice("account_status", "accountstatus", "active", "closed"),
        moment("created_at"),
        unique=["email"],
    )
    create_table(
        "idempotency_records",
        key(),
        string("principal", 80),
        string("key", 200),
        string("fingerprint", 64),
        integer("status_code"),
        text("body"),
        moment("created_at"),
        unique=["principal", "key"],
    )
    create_table(
        "operators",
        string("id", 40),
        string("name", 120),
        string("email", 200),
        string("password_hash", 200, nullable=True),
        moment("created_at"),
        unique=["email"],
    )
    create_table(
        "sellers",
        string("id", 40),
        string("name", 120),
        string("api_key_sha256", 64),
        moment("created_at"),
        unique=["api_key_sha256"],
    )
    create_table(
        "abuse_reviews",
        key(),
        string("buyer_id", 40),
        choice("status", "reviewstatus", "open", "cleared", "account_closed"),
        integer("disputes_count"),
        integer("orders_count"),
        moment("opened_at"),
        moment("decided_at", nullable=True),
        string("operator_id", 40, nullable=True),
        text("note"),
        references={"buyer_id": "buyers", "operator_id": "operators"},
        indexed=["buyer_id"],
    )
    one_per(
        "uq_abuse_reviews_one_open_per_buyer", "abuse_reviews", "buyer_id", where="status = 'open'"
    )


def _orders_and_disputes() -> None:
    create_table(
        "orders",
        string("id", 16),
        string("buyer_id", 40),
        string("seller_id", 40),
        string("title", 200),
        money("amount"),
        string("currency", 3),
        moment("placed_at"),
        string("tracking_number", 64, nullable=True),
        moment("tracking_added_at", nullable=True),
        moment("shipping_deadline"),
        moment("receipt_confirmed_at", nullable=True),
        choice(
            "shipping_status",
            "shippingstatus",
            "awaiting_shipment",
            "in_transit",
            "in_customs",
            "delivered",
        ),
        choice("payment_status", "paymentstatus", "held", "released", "refunded"),
        money("refunded_amount"),
        moment("payment_settled_at", nullable=True),
        references={"buyer_id": "buyers", "seller_id": "sellers"},
        indexed=["buyer_id", "seller_id"],
    )
    create_table(
        "disputes",
        key(),
        string("order_id", 16),
        string("buyer_id", 40),
        string("seller_id", 40),
        choice(
            "reason",
            "disputereason",
            "damaged",
            "not_as_described",
            "wrong_item",
            "counterfeit",
            "missing_parts",
            "not_received",
        ),
        text("description"),
        choice("requested_outcome", "requestedoutcome", "full_refund", "partial_refund"),
        choice("state", "disputestate", "negotiation", "mediation", "ended"),
        choice(
            "outcome",
            "outcome",
            "full_refund",
            "partial_refund",
            "no_refund",
            "cancelled",
            nullable=True,
        ),
        choice(
            "resolution",
            "resolution",
            "agreement",
            "platform_decision",
            "cancellation",
            "timeout",
            nullable=True,
        ),
        money("resolved_refund_amount", nullable=True),
        sa.Column("resolved_with_return", sa.Boolean(), nullable=True),
        moment("opened_at"),
        moment("negotiation_ends_at"),
        moment("mediation_started_at", nullable=True),
        moment("ended_at", nullable=True),
        moment("updated_at"),
        integer("version"),
        references={"buyer_id": "buyers", "order_id": "orders", "seller_id": "sellers"},
        indexed=["buyer_id", "order_id", "seller_id"],
    )
    op.create_index(
        "ix_disputes_state_negotiation_ends_at", "disputes", ["state", "negotiation_ends_at"]
    )
    one_per("uq_disputes_one_active_per_order", "disputes", "order_id", where="state != 'ended'")


def _events() -> None:
    create_table(
        "events",
        key(),
        moment("occurred_at"),
        choice("actor_type", "actortype", "buyer", "seller", "operator", "system"),
        string("actor_id", 40),
        string("kind", 60),
        integer("dispute_id", nullable=True),
        string("order_id", 16, nullable=True),
        string("buyer_id", 40, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        references={"buyer_id": "buyers", "dispute_id": "disputes", "order_id": "orders"},
        indexed=["buyer_id", "dispute_id", "occurred_at", "order_id"],
    )


def _dispute_records() -> None:
    """What the parties add to a dispute: evidence, messages and proposals."""
    _dispute_record(
        "evidence",
        string("filename", 255),
        string("content_type", 100),
        integer("size_bytes"),
        string("sha256", 64),
        string("storage_path", 500),
        text("description"),
        moment("created_at"),
    )
    _dispute_record("messages", text("body"), moment("created_at"))
    _dispute_record(
        "proposals",
        money("refund_amount"),
        sa.Column("with_return", sa.Boolean(), nullable=False),
        text("request"),
        choice("status", "proposalstatus", "pending", "accepted", "rejected", "superseded"),
        moment("created_at"),
        moment("decided_at", nullable=True),
    )


def _dispute_record(table: str, *columns: sa.Column[Any]) -> None:
    """A row one party adds to one dispute: the dispute, the party and its author come first."""
    create_table(
        table,
        key(),
        integer("dispute_id"),
        choice("party", "party", "buyer", "seller", "platform"),
        string("author_id", 40),
        *columns,
        references={"dispute_id": "disputes"},
        indexed=["dispute_id"],
    )
