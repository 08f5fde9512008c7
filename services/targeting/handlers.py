"""Targeting command handlers: load the aggregate, decide, append with the version that was read."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection

from services.targeting.domain import ProgramPeriod
from services.targeting.readmodels import record_sasaran
from services.targeting.sasaran import KelurahanSasaran
from shared.aggregate import load, save
from shared.contracts.targeting import (
    CriteriaRule,
    CriteriaThresholds,
    KelurahanIndicators,
    PeriodParameters,
)
from shared.events import Actor, RecordedEvent
from shared.eventstore import EventStore
from shared.regions import Level, require


def period_missing(code: str) -> str:
    return f"There is no program period {code}."


def sasaran_missing(period_code: str, kelurahan_code: str) -> str:
    return f"Kelurahan {kelurahan_code} has not been nominated in program period {period_code}."


async def register_program_period(
    store: EventStore, actor: Actor, *, code: str, name: str, starts_on: date, ends_on: date
) -> list[RecordedEvent]:
    period = await load(store, ProgramPeriod(code))
    period.register(name, starts_on, ends_on)
    return await save(store, period, actor)


async def get_program_period(
    store: EventStore, code: str, conn: AsyncConnection | None = None
) -> ProgramPeriod:
    return await load(store, ProgramPeriod(code), missing=period_missing(code), conn=conn)


async def set_parameters(
    store: EventStore, actor: Actor, code: str, parameters: PeriodParameters
) -> list[RecordedEvent]:
    period = await get_program_period(store, code)
    period.set_parameters(parameters)
    return await save(store, period, actor)


async def publish_criteria(
    store: EventStore,
    actor: Actor,
    code: str,
    rule: CriteriaRule,
    thresholds: CriteriaThresholds,
    dataset: str,
) -> list[RecordedEvent]:
    period = await get_program_period(store, code)
    period.publish_criteria(rule, thresholds, dataset)
    return await save(store, period, actor)


async def get_sasaran(store: EventStore, period_code: str, kelurahan_code: str) -> KelurahanSasaran:
    return await load(
        store,
        KelurahanSasaran(period_code, kelurahan_code),
        missing=sasaran_missing(period_code, kelurahan_code),
    )


async def _save_sasaran(
    store: EventStore, sasaran: KelurahanSasaran, actor: Actor, conn: AsyncConnection
) -> list[RecordedEvent]:
    recorded = await save(store, sasaran, actor, conn=conn)
    await record_sasaran(conn, sasaran, recorded[-1].recorded_at)
    return recorded


async def nominate(
    store: EventStore,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    indicators: KelurahanIndicators,
    conn: AsyncConnection | None = None,
) -> list[RecordedEvent]:
    """Nominate a kelurahan; an identical repeat records nothing (and returns no events)."""
    if conn is None:
        async with store.transaction() as own:
            return await nominate(store, actor, period_code, kelurahan_code, indicators, own)
    region = require(kelurahan_code, Level.DESA_KELURAHAN, what="kelurahan")
    await get_program_period(store, period_code, conn)
    sasaran = await load(store, KelurahanSasaran(period_code, kelurahan_code), conn=conn)
    if not sasaran.nominate(region, indicators):
        return []
    return await _save_sasaran(store, sasaran, actor, conn)


async def decide(
    store: EventStore,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    *,
    verified: bool,
    criteria_version: int,
    reason: str,
) -> list[RecordedEvent]:
    period = await get_program_period(store, period_code)
    period.criteria_version(criteria_version)  # 404 unless that version was published
    sasaran = await get_sasaran(store, period_code, kelurahan_code)
    if verified:
        sasaran.verify(actor.subject, criteria_version, reason)
    else:
        sasaran.reject(actor.subject, criteria_version, reason)
    async with store.transaction() as conn:
        return await _save_sasaran(store, sasaran, actor, conn)


async def confirm(
    store: EventStore, actor: Actor, period_code: str, kelurahan_code: str, letter: str
) -> list[RecordedEvent]:
    sasaran = await get_sasaran(store, period_code, kelurahan_code)
    sasaran.confirm(letter)
    async with store.transaction() as conn:
        return await _save_sasaran(store, sasaran, actor, conn)


async def drop(
    store: EventStore, actor: Actor, period_code: str, kelurahan_code: str, reason: str
) -> list[RecordedEvent]:
    sasaran = await get_sasaran(store, period_code, kelurahan_code)
    sasaran.drop(reason)
    async with store.transaction() as conn:
        return await _save_sasaran(store, sasaran, actor, conn)
