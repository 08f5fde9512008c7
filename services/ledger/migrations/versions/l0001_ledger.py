"""Ledger: facts kept from targeting and institutions, journal lines, loans.

Revision ID: l0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "l0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "institution_facts",
        sa.Column("period_code", sa.String(32), primary_key=True),
        sa.Column("kelurahan_code", sa.String(13), primary_key=True),
        sa.Column("bkm_term_starts_on", sa.Date),
        sa.Column("bkm_term_ends_on", sa.Date),
        sa.Column("pjm_approved_on", sa.Date),
        sa.Column("renta_years", sa.String(100), nullable=False),
    )
    op.create_table(
        "journal_lines",
        sa.Column("entry_id", sa.String(36), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("book", sa.String(13), nullable=False),
        sa.Column("account", sa.String(90), nullable=False),
        sa.Column("debit", sa.BigInteger, nullable=False),
        sa.Column("credit", sa.BigInteger, nullable=False),
        sa.Column("posted_on", sa.Date, nullable=False),
        sa.Column("memo", sa.String(300), nullable=False),
        sa.Column("reverses", sa.String(36)),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
    )
    op.create_index("ix_journal_lines_book", "journal_lines", ["book"])
    op.create_table(
        "ksm_facts",
        sa.Column("ksm_id", sa.String(36), primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("eligible", sa.Boolean),
        sa.Column("eligibility", sa.Text),
        sa.Column("eligibility_event_id", sa.String(36)),
    )
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.String(36), primary_key=True),
        sa.Column("period_code", sa.String(32), nullable=False),
        sa.Column("kelurahan_code", sa.String(13), nullable=False),
        sa.Column("ksm_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("principal", sa.BigInteger, nullable=False),
        sa.Column("loan_cycle", sa.Integer, nullable=False),
        sa.Column("approved_on", sa.Date, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_loans_kelurahan_code", "loans", ["kelurahan_code"])
    op.create_index("ix_loans_ksm_id", "loans", ["ksm_id"])
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


def downgrade() -> None:
    op.drop_table("program_periods")
    op.drop_table("period_parameters")
    op.drop_table("loans")
    op.drop_table("ksm_facts")
    op.drop_table("journal_lines")
    op.drop_table("institution_facts")
