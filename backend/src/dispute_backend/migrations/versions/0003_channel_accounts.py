"""Channel accounts (Telegram, Messenger users) linked to buyers, and one-time link codes."""

from alembic import op

from dispute_backend.migrations.tables import create_table, integer, key, moment, string

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_table(
        "channel_accounts",
        key(),
        string("channel", 40),
        string("external_id", 120),
        string("buyer_id", 40, nullable=True),
        moment("created_at"),
        moment("linked_at", nullable=True),
        references={"buyer_id": "buyers"},
        unique=["channel", "external_id"],
        indexed=["buyer_id"],
    )
    create_table(
        "link_codes",
        key(),
        integer("channel_account_id"),
        string("buyer_id", 40, nullable=True),
        string("code_hash", 64),
        integer("attempts"),
        moment("created_at"),
        moment("expires_at"),
        moment("used_at", nullable=True),
        references={"channel_account_id": "channel_accounts", "buyer_id": "buyers"},
        indexed=["channel_account_id"],
    )


def downgrade() -> None:
    op.drop_table("link_codes")
    op.drop_table("channel_accounts")
