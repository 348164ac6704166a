"""Human handoff: tickets, their transcript, and operator presence."""

from alembic import op

from dispute_backend.migrations.tables import (
    choice,
    create_table,
    integer,
    key,
    moment,
    one_per,
    string,
    text,
)

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.add_column(moment("last_seen_at", nullable=True))
    create_table(
        "handoff_tickets",
        key(),
        string("conversation_id", 255),
        string("channel", 40),
        string("buyer_id", 40, nullable=True),
        string("reason", 40),
        choice("state", "ticketstate", "waiting", "assigned", "closed"),
        string("operator_id", 40, nullable=True),
        moment("created_at"),
        moment("assigned_at", nullable=True),
        moment("closed_at", nullable=True),
        integer("version"),
        references={"buyer_id": "buyers", "operator_id": "operators"},
        indexed=["buyer_id", "operator_id"],
    )
    op.create_index(
        "ix_handoff_tickets_state_created_at", "handoff_tickets", ["state", "created_at"]
    )
    one_per(
        "uq_handoff_tickets_one_open_per_conversation",
        "handoff_tickets",
        "conversation_id",
        where="state != 'closed'",
    )
    create_table(
        "handoff_messages",
        key(),
        integer("ticket_id"),
        choice("party", "ticketparty", "user", "operator", "system"),
        string("author_id", 40, nullable=True),
        text("body"),
        moment("created_at"),
        references={"ticket_id": "handoff_tickets"},
        indexed=["ticket_id"],
    )


def downgrade() -> None:
    op.drop_table("handoff_messages")
    op.drop_table("handoff_tickets")
    with op.batch_alter_table("operators", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
