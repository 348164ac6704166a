"""Chat sessions behind chat tokens (binding to a conversation, revocation at sign-out), and the
keyed e-mail digest of link codes (per-e-mail limits without storing what was typed)."""

from alembic import op

from dispute_backend.migrations.tables import create_table, moment, string

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    create_table(
        "chat_sessions",
        string("id", 64),
        string("buyer_id", 40),
        string("conversation_id", 128, nullable=True),
        moment("created_at"),
        moment("expires_at"),
        moment("revoked_at", nullable=True),
        references={"buyer_id": "buyers"},
        indexed=["buyer_id"],
    )
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.add_column(string("email_digest", 64, nullable=True))
        batch_op.create_index(batch_op.f("ix_link_codes_email_digest"), ["email_digest"])
        batch_op.create_index(batch_op.f("ix_link_codes_created_at"), ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_codes_created_at"))
        batch_op.drop_index(batch_op.f("ix_link_codes_email_digest"))
        batch_op.drop_column("email_digest")
    op.drop_table("chat_sessions")
