"""The monitoring read models (tables in the monitoring database)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Date, Integer, MetaData, String, Table

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

MIGRATIONS: Migrations = (Path(__file__).parent / "migrations", "alembic_version_monitoring", metadata)
