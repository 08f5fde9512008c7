"""Projections: each applies events to read-model tables inside the runner's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.monitoring.readmodels import program_periods
from shared.consumer import upsert
from shared.contracts.targeting import ProgramPeriodRegistered
from shared.events import RecordedEvent
from shared.runtime import topic_of


class ProgramPeriodsProjection:
    name = "monitoring.program-periods"
    topics = (topic_of("targeting"),)
    reads = frozenset({ProgramPeriodRegistered})  # the other targeting events stay undecoded

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        payload = event.payload
        if isinstance(payload, ProgramPeriodRegistered):
            await upsert(
                conn,
                program_periods,
                {
                    "code": payload.code,
                    "name": payload.name,
                    "starts_on": payload.starts_on,
                    "ends_on": payload.ends_on,
                    "source_version": event.stream_version,
                },
                ("code",),
            )


PROJECTIONS = (ProgramPeriodsProjection(),)
