"""The targeting service's own queryable tables, written in the same transaction as its events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from services.targeting.sasaran import KelurahanSasaran
from shared.consumer import upsert
from shared.migrations import Migrations

metadata = MetaData()

# One row per kelurahan and period: what lists and the matrix of a city's targeting are built from.
kelurahan_sasaran = Table(
    "kelurahan_sasaran",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("population", Integer),
    Column("households", Integer),
    Column("poor_households", Integer),
    Column("criteria_version", Integer),
    Column("version", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

MIGRATIONS: Migrations = (Path(__file__).parent / "migrations", "alembic_version_targeting", metadata)


async def record_sasaran(conn: AsyncConnection, sasaran: KelurahanSasaran, at: datetime) -> None:
    indicators = sasaran.indicators
    await upsert(
        conn,
        kelurahan_sasaran,
        {
            "period_code": sasaran.period_code,
            "kelurahan_code": sasaran.kelurahan_code,
            "city_code": sasaran.city_code,
            "status": str(sasaran.status),
            "population": indicators.population if indicators else None,
            "households": indicators.households if indicators else None,
            "poor_households": indicators.poor_households if indicators else None,
            "criteria_version": sasaran.criteria_version,
            "version": sasaran.version + len(sasaran.pending),
            "changed_at": at,
        },
        ("period_code", "kelurahan_code"),
    )
