"""The institutions service's own tables.

Two kinds. What it keeps from the targeting service's events (which kelurahan are targets, the period
parameters, PS-2 membership and versions), written by its consumer; and its queryable views of its own
aggregates plus the person register, written in the same transaction as the events they follow.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.institutions.cycle import KelurahanCycle
from services.institutions.ksm import Ksm
from shared.consumer import upsert
from shared.contracts.targeting import PeriodParameters
from shared.migrations import Migrations
from shared.periods import PeriodTables

metadata = MetaData()

# --- kept from targeting's events -------------------------------------------------------------------

PERIODS = PeriodTables.on(metadata)
program_periods, period_parameters = PERIODS.periods, PERIODS.parameters

targeted_kelurahan = Table(
    "targeted_kelurahan",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("status", String(20), nullable=False),
    # The day the kelurahan became a target (its verification was recorded): the schedule's anchor.
    Column("targeted_on", Date),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

ps2_members = Table(
    "ps2_members",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("household_id", String(36), primary_key=True),
    Column("on_list", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

ps2_versions = Table(
    "ps2_versions",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("published_on", Date, nullable=False),
    Column("member_count", Integer, nullable=False),
)

# --- views of our own aggregates ---------------------------------------------------------------------

cycles = Table(
    "cycles",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("started_on", Date),
    Column("last_step", String(30)),
    Column("last_step_on", Date),
    Column("bkm_term_ends_on", Date),
    Column("version", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

ksm_groups = Table(
    "ksm_groups",
    metadata,
    Column("ksm_id", String(36), primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("kelurahan_code", String(13), nullable=False, index=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("members", Integer, nullable=False),
    Column("women", Integer, nullable=False),
    Column("flagged", Integer, nullable=False),
    Column("loan_eligible", Boolean),  # None: not a KSM ekonomi
    Column("version", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# Which KSM each household belongs to: how a PS-2 removal finds the groups to flag.
ksm_members = Table(
    "ksm_members",
    metadata,
    Column("ksm_id", String(36), primary_key=True),
    Column("household_id", String(36), primary_key=True, index=True),
    Column("active", Boolean, nullable=False),
)

# The person register: relawan, utusan, BKM members, UP staff. The name is personal data and never
# leaves this table (events carry ``person_id``); erasure blanks it.
people = Table(
    "people",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("kelurahan_code", String(13), nullable=False, index=True),
    Column("city_code", String(5), nullable=False),
    Column("name", String(200)),
    Column("woman", Boolean, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),
)

person_trainings = Table(
    "person_trainings",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("training_id", String(36), primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("kelurahan_code", String(13), nullable=False),
    Column("module_code", String(20), nullable=False),
    Column("jpl", Integer, nullable=False),
    Column("delivered_on", Date, nullable=False),
    Column("role", String(10), nullable=False),
    Column("trainer_role", String(10), nullable=False),
)

MIGRATIONS: Migrations = (Path(__file__).parent / "migrations", "alembic_version_institutions", metadata)


# --- reads and writes shared by the command handlers and the targeting consumer ----------------------


async def parameters_of(
    conn: AsyncConnection, period_code: str, version: int | None = None
) -> tuple[int, PeriodParameters]:
    return await PERIODS.parameters_of(conn, period_code, version)


async def record_cycle(conn: AsyncConnection, cycle: KelurahanCycle, at: datetime) -> None:
    done = sorted(cycle.done.items(), key=lambda item: item[1])
    await upsert(
        conn,
        cycles,
        {
            "period_code": cycle.period_code,
            "kelurahan_code": cycle.kelurahan_code,
            "city_code": cycle.city_code,
            "status": str(cycle.status),
            "started_on": cycle.started_on,
            "last_step": str(done[-1][0]) if done else None,
            "last_step_on": done[-1][1] if done else None,
            "bkm_term_ends_on": cycle.bkm.term_ends_on if cycle.bkm else None,
            "version": cycle.version + len(cycle.pending),
            "changed_at": at,
        },
        ("period_code", "kelurahan_code"),
    )


async def record_ksm(conn: AsyncConnection, ksm: Ksm, at: datetime) -> None:
    eligibility = ksm.eligibility
    await upsert(
        conn,
        ksm_groups,
        {
            "ksm_id": str(ksm.ksm_id),
            "period_code": ksm.period_code,
            "kelurahan_code": ksm.kelurahan_code,
            "city_code": ksm.city_code,
            "name": ksm.name,
            "type": str(ksm.type),
            "members": len(ksm.members),
            "women": sum(ksm.members.values()),
            "flagged": len(ksm.flagged),
            "loan_eligible": eligibility.eligible if eligibility else None,
            "version": ksm.version + len(ksm.pending),
            "changed_at": at,
        },
        ("ksm_id",),
    )
    # Members who left stay as inactive rows: a PS-2 removal only concerns current members.
    await conn.execute(
        update(ksm_members).where(ksm_members.c.ksm_id == str(ksm.ksm_id)).values(active=False)
    )
    for household in ksm.members:
        await upsert(
            conn,
            ksm_members,
            {"ksm_id": str(ksm.ksm_id), "household_id": str(household), "active": True},
            ("ksm_id", "household_id"),
        )
