"""Kelurahan sasaran per program period.

Revision ID: t0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "t0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kelurahan_sasaran",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("city_code", sa.String(5), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("population", sa.Integer),
        sa.Column("households", sa.Integer),
        sa.Column("poor_households", sa.Integer),
        sa.Column("criteria_version", sa.Integer),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kelurahan_sasaran")
