"""Write authority per city (fed by the handover service's events).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "city_authority",
        sa.Column("city_code", sa.String(5), primary_key=True),
        sa.Column("holder", sa.String(10), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("city_authority")
