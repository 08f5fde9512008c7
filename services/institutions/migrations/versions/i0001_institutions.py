"""Institutions: what it keeps from targeting, its views, the person register.

Revision ID: i0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "i0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "program_periods",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
    )
    op.create_table(
        "cycles",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_on", sa.Date),
        sa.Column("last_step", sa.String(30)),
        sa.Column("last_step_on", sa.Date),
        sa.Column("bkm_term_ends_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cycles_city_code", "cycles", ["city_code"])
    op.create_table(
        "ksm_groups",
        sa.Column("ksm_id", sa.String(36), primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("women", sa.Integer, nullable=False),
        sa.Column("flagged", sa.Integer, nullable=False),
        sa.Column("loan_eligible", sa.Boolean),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ksm_groups_kelurahan_code", "ksm_groups", ["kelurahan_code"])
    op.create_index("ix_ksm_groups_city_code", "ksm_groups", ["city_code"])
    op.create_table(
        "ksm_members",
        sa.Column("ksm_id", sa.String(36), primary_key=True),
        sa.Column("household_id", sa.String(36), primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_ksm_members_household_id", "ksm_members", ["household_id"])
    op.create_table(
        "people",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("city_code", sa.String(5), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("woman", sa.Boolean, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_people_kelurahan_code", "people", ["kelurahan_code"])
    op.create_table(
        "period_parameters",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("parameters", sa.Text, nullable=False),
    )
    op.create_table(
        "person_trainings",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("training_id", sa.String(36), primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("module_code", sa.String(20), nullable=False),
        sa.Column("jpl", sa.Integer, nullable=False),
        sa.Column("delivered_on", sa.Date, nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("trainer_role", sa.String(10), nullable=False),
    )
    op.create_table(
        "ps2_members",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("household_id", sa.String(36), primary_key=True),
        sa.Column("on_list", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ps2_versions",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("published_on", sa.Date, nullable=False),
        sa.Column("member_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "targeted_kelurahan",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("targeted_on", sa.Date),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("program_periods")
    op.drop_table("targeted_kelurahan")
    op.drop_table("ps2_versions")
    op.drop_table("ps2_members")
    op.drop_table("person_trainings")
    op.drop_table("period_parameters")
    op.drop_table("people")
    op.drop_table("ksm_members")
    op.drop_table("ksm_groups")
    op.drop_table("cycles")
