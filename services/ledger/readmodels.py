"""The ledger service's own tables.

Kept from other services' events (by the consumer ``ledger.facts``): program periods and parameters,
what the tranche gates need from the institutions service, and each KSM's type and last published loan
eligibility. Written beside our own events, in the same transaction: the journal lines every entry
posts (the books are queried from them) and a row per loan for listing a kelurahan's portfolio.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, Text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.loans import Loan
from shared.consumer import upsert
from shared.events import RecordedEvent
from shared.migrations import Migrations
from shared.periods import PeriodTables

metadata = MetaData()
PERIODS = PeriodTables.on(metadata)

institution_facts = Table(
    "institution_facts",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("bkm_term_starts_on", Date),
    Column("bkm_term_ends_on", Date),
    Column("pjm_approved_on", Date),
    Column("renta_years", String(100), nullable=False, default=""),  # "1,2,3"
)

ksm_facts = Table(
    "ksm_facts",
    metadata,
    Column("ksm_id", String(36), primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("kelurahan_code", String(13), nullable=False),
    Column("type", String(20), nullable=False),
    Column("eligible", Boolean),  # None until an eligibility was published (never, for a non-ekonomi KSM)
    Column("eligibility", Text),  # the KsmLoanEligibilityChanged event, as JSON
    Column("eligibility_event_id", String(36)),
)

journal_lines = Table(
    "journal_lines",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("book", String(13), nullable=False, index=True),
    Column("account", String(90), nullable=False),
    Column("debit", BigInteger, nullable=False),
    Column("credit", BigInteger, nullable=False),
    Column("posted_on", Date, nullable=False),
    Column("memo", String(300), nullable=False),
    Column("reverses", String(36)),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
)

loans = Table(
    "loans",
    metadata,
    Column("loan_id", String(36), primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("kelurahan_code", String(13), nullable=False, index=True),
    Column("ksm_id", String(36), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("principal", BigInteger, nullable=False),
    Column("loan_cycle", Integer, nullable=False),
    Column("approved_on", Date, nullable=False),
    Column("version", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

MIGRATIONS: Migrations = (Path(__file__).parent / "migrations", "alembic_version_ledger", metadata)


async def record_entries(conn: AsyncConnection, recorded: list[RecordedEvent]) -> None:
    """Post the journal lines of every recorded event that carries an entry."""
    for event in recorded:
        booked = getattr(event.payload, "entry", None)
        if booked is None:
            continue
        await conn.execute(
            journal_lines.insert(),
            [
                {
                    "entry_id": str(booked.entry_id),
                    "line_no": n,
                    "book": booked.book,
                    "account": line.account,
                    "debit": line.debit,
                    "credit": line.credit,
                    "posted_on": booked.posted_on,
                    "memo": booked.memo,
                    "reverses": str(booked.reverses) if booked.reverses else None,
                    "stream_id": event.stream_id,
                    "stream_version": event.stream_version,
                }
                for n, line in enumerate(booked.lines, start=1)
            ],
        )


async def record_loan(conn: AsyncConnection, loan: Loan, at: datetime) -> None:
    a = loan.approved
    assert a is not None
    await upsert(
        conn,
        loans,
        {
            "loan_id": str(loan.loan_id),
            "period_code": a.period_code,
            "kelurahan_code": a.kelurahan_code,
            "ksm_id": str(a.ksm_id),
            "status": str(loan.status),
            "principal": a.principal_rupiah,
            "loan_cycle": a.loan_cycle,
            "approved_on": a.approved_on,
            "version": loan.version + len(loan.pending),
            "changed_at": at,
        },
        ("loan_id",),
    )
