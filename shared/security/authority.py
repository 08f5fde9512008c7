"""Who holds write authority over each city, as every service learns it from the handover service.

Until a city's alih kelola the national program manages it; the handover service's
``authority-transferred`` event moves write authority to the city's own operators. Each service keeps
this small read model itself (services never ask each other synchronously).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Column, DateTime, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.consumer import upsert
from shared.contracts.handover import AuthorityReturned, AuthorityTransferred
from shared.db import metadata
from shared.events import DomainEvent, RecordedEvent
from shared.transport.topics import event_topic

city_authority = Table(
    "city_authority",
    metadata,
    Column("city_code", String(5), primary_key=True),
    Column("holder", String(10), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("event_id", String(36), nullable=False),
)


class Holder(StrEnum):
    NATIONAL = "national"
    CITY = "city"


class AuthorityProjection:
    """Included in every service's runtime under ``<service>.authority``."""

    topics = (event_topic("handover"),)
    # The other handover events stay undecoded.
    reads: tuple[type[DomainEvent], ...] = (AuthorityTransferred, AuthorityReturned)

    def __init__(self, service: str) -> None:
        self.name = f"{service}.authority"

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        payload = event.payload
        if isinstance(payload, AuthorityTransferred):
            holder = Holder.CITY
        elif isinstance(payload, AuthorityReturned):
            holder = Holder.NATIONAL
        else:
            return
        await upsert(
            conn,
            city_authority,
            {
                "city_code": payload.city_code,
                "holder": str(holder),
                "changed_at": event.recorded_at,
                "event_id": str(event.event_id),
            },
            ("city_code",),
        )


async def holder_of(engine: AsyncEngine, city_code: str) -> Holder:
    async with engine.connect() as conn:
        found = (
            await conn.execute(select(city_authority.c.holder).where(city_authority.c.city_code == city_code))
        ).scalar_one_or_none()
    return Holder(found) if found else Holder.NATIONAL
