"""Targeting command handlers: load the aggregate, decide, append with the version that was read."""

from __future__ import annotations

from datetime import date

from services.targeting.domain import ProgramPeriod
from shared.context import metadata_for
from shared.errors import NotFound
from shared.events import Actor, RecordedEvent
from shared.eventstore import EventStore


async def load_program_period(store: EventStore, code: str) -> ProgramPeriod:
    history = await store.read_stream(ProgramPeriod.stream_id(code))
    return ProgramPeriod.load(code, [e.payload for e in history])


async def register_program_period(
    store: EventStore, actor: Actor, *, code: str, name: str, starts_on: date, ends_on: date
) -> list[RecordedEvent]:
    period = await load_program_period(store, code)
    period.register(name, starts_on, ends_on)
    async with store.transaction() as conn:
        return await store.append(
            ProgramPeriod.stream_id(code),
            period.pending,
            expected_version=period.version,
            metadata=metadata_for(actor),
            conn=conn,
        )


async def get_program_period(store: EventStore, code: str) -> ProgramPeriod:
    period = await load_program_period(store, code)
    if not period.version:
        raise NotFound(f"There is no program period {code}.")
    return period
