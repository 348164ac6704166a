"""Chat sessions behind chat tokens (binding to a conversation, revocation at sign-out), and the
keyed e-mail digest of link codes (per-e-mail limits without storing what was typed).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_chat_sessions_buyer_id_buyers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_sessions")),
    )
    with op.batch_alter_table("chat_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_sessions_buyer_id"), ["buyer_id"])
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_link_codes_email_digest"), ["email_digest"])
        batch_op.create_index(batch_op.f("ix_link_codes_created_at"), ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("link_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_codes_created_at"))
        batch_op.drop_index(batch_op.f("ix_link_codes_email_digest"))
        batch_op.drop_column("email_digest")
    op.drop_table("chat_sessions")
