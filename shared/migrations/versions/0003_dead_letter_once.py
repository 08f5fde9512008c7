"""Dead-letter each record once per consumer.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letter_log") as batch:
        batch.create_unique_constraint("uq_dead_letter_record", ["consumer", "topic", "partition", "offset"])


def downgrade() -> None:
    with op.batch_alter_table("dead_letter_log") as batch:
        batch.drop_constraint("uq_dead_letter_record", type_="unique")
