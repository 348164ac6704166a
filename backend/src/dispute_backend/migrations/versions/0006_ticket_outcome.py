"""How a closed handoff ticket ended: `handled` by an operator, or `withdrawn` by the buyer
who no longer needed a person."""

from alembic import op

from dispute_backend.migrations.tables import string

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("handoff_tickets", schema=None) as batch_op:
        batch_op.add_column(string("outcome", 32, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_tickets", schema=None) as batch_op:
        batch_op.drop_column("outcome")
