"""Handover: readiness facts, the city feed, webhook subscriptions, handovers.

Revision ID: h0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "h0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("opinion", sa.String(5), nullable=False),
        sa.Column("audited_on", sa.Date, nullable=False),
    )
    op.create_index("ix_audits_city_code", "audits", ["city_code"])
    op.create_table(
        "bkm_terms",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("election", sa.Integer, primary_key=True),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
    )
    op.create_index("ix_bkm_terms_city_code", "bkm_terms", ["city_code"])
    op.create_table(
        "ddub_committed",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("committed_on", sa.Date, nullable=False),
    )
    op.create_index("ix_ddub_committed_city_code", "ddub_committed", ["city_code"])
    op.create_table(
        "feed",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("cloudevent", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "handovers",
        sa.Column("city_code", sa.String(5), primary_key=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("held", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "period_parameters",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("parameters", sa.Text, nullable=False),
    )
    op.create_table(
        "program_periods",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(36), primary_key=True),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_seq", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(500)),
        sa.UniqueConstraint("city_code", "url", name="uq_subscriptions_city_url"),
    )
    op.create_index("ix_subscriptions_city_code", "subscriptions", ["city_code"])
    op.create_table(
        "target_kelurahan",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("targeted_on", sa.Date),
        sa.Column("dropped_on", sa.Date),
    )
    op.create_index("ix_target_kelurahan_city_code", "target_kelurahan", ["city_code"])
    op.create_table(
        "tranches_received",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(10), primary_key=True),
        sa.Column("tranche", sa.Integer, primary_key=True),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("lpj_accepted_on", sa.Date),
    )
    op.create_index("ix_tranches_received_city_code", "tranches_received", ["city_code"])
    op.create_table(
        "upk_closings",
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("par_band", sa.String(20)),
        sa.Column("rr_band", sa.String(20)),
    )
    op.create_index("ix_upk_closings_city_code", "upk_closings", ["city_code"])
    op.create_index("ix_feed_city_seq", "feed", ["city_code", "seq"])


def downgrade() -> None:
    op.drop_table("upk_closings")
    op.drop_table("tranches_received")
    op.drop_table("target_kelurahan")
    op.drop_table("subscriptions")
    op.drop_table("program_periods")
    op.drop_table("period_parameters")
    op.drop_table("handovers")
    op.drop_table("feed")
    op.drop_table("ddub_committed")
    op.drop_table("bkm_terms")
    op.drop_table("audits")
