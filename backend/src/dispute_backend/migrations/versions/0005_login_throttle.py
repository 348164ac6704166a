"""Console sign-in throttling: failed tries per operator id and per client address, and the
slots that cap how many password checks run at once across processes."""

import sqlalchemy as sa
from alembic import op

from dispute_backend.migrations.tables import create_table, integer, moment, string

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    create_table(
        "login_throttles",
        string("key", 120),
        integer("failures"),
        moment("window_started_at"),
        moment("blocked_until", nullable=True),
        key="key",
        indexed=["window_started_at"],
    )
    create_table(
        "password_check_slots",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        string("holder", 32, nullable=True),
        moment("taken_until", nullable=True),
        key="slot",
    )


def downgrade() -> None:
    op.drop_table("password_check_slots")
    op.drop_table("login_throttles")
