"""The monitoring read models (tables in the monitoring database)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Date, DateTime, Integer, MetaData, String, Table, Text

from shared.migrations import Migrations

metadata = MetaData()

program_periods = Table(
    "program_periods",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("source_version", Integer, nullable=False),
)

# Which generation of each rebuildable projection's tables readers use (generations.py).
generations = Table(
    "projection_generations",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("active", Integer, nullable=False),
)

# Quarterly (or any) reports frozen as submitted: later corrections show as differences.
frozen_reports = Table(
    "frozen_reports",
    metadata,
    Column("report_id", String(60), primary_key=True),  # e.g. "2026-Q2/33.74" or "2026-Q2/national"
    Column("scope", String(20), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("frozen_at", DateTime(timezone=True), nullable=False),
    Column("frozen_by", String(200), nullable=False),
    Column("figures", Text, nullable=False),  # JSON
)

MIGRATIONS: Migrations = (Path(__file__).parent / "migrations", "alembic_version_monitoring", metadata)
