"""The household vault: encrypted personal data, and the per-household keys with NIK fingerprints.

Revision ID: t0002
Revises: t0001
"""

import sqlalchemy as sa
from alembic import op

revision = "t0002"
down_revision = "t0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "household_personal_data",
        sa.Column("household_id", sa.String(36), primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("nonce", sa.LargeBinary(12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The key store. In distributed mode it belongs in its own database (see services/targeting/vault.py).
    op.create_table(
        "household_keys",
        sa.Column("household_id", sa.String(36), primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("nik_fingerprint", sa.String(64), nullable=False),
        sa.Column("key", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("period_code", "nik_fingerprint", name="uq_household_keys_nik"),
    )


def downgrade() -> None:
    op.drop_table("household_keys")
    op.drop_table("household_personal_data")
