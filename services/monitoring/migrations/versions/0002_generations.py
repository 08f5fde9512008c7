"""Projection generations and frozen reports.

Revision ID: m0002
Revises: m0001
"""

import sqlalchemy as sa
from alembic import op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projection_generations",
        sa.Column("projection", sa.String(100), primary_key=True),
        sa.Column("active", sa.Integer, nullable=False),
    )
    op.create_table(
        "frozen_reports",
        sa.Column("report_id", sa.String(60), primary_key=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("frozen_by", sa.String(200), nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("frozen_reports")
    op.drop_table("projection_generations")
