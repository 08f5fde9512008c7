"""Handover command handlers and the feed's reads."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.handover.domain import Handover
from services.handover.readmodels import feed, handovers
from shared.aggregate import load, save
from shared.consumer import upsert
from shared.events import Actor, RecordedEvent, utcnow
from shared.eventstore import EventStore
from shared.transport import Message, Publisher
from shared.transport.topics import city_topic

log = structlog.get_logger(__name__)


async def on_handover(
    store: EventStore, actor: Actor, city: str, decide: Callable[[Handover, AsyncConnection], object]
) -> list[RecordedEvent]:
    async with store.transaction() as conn:
        handover = await load(store, Handover(city), conn=conn)
        if inspect.isawaitable(outcome := decide(handover, conn)):
            await outcome
        recorded = await save(store, handover, actor, conn=conn)
        if recorded:
            await _record(conn, handover, recorded[-1].recorded_at)
        return recorded


async def _record(conn: AsyncConnection, handover: Handover, at: datetime) -> None:
    values = {
        "city_code": handover.city,
        "stage": str(handover.stage),
        "held": handover.held is not None,
        "version": handover.version + len(handover.pending),
        "changed_at": at,
    }
    await upsert(conn, handovers, values, ("city_code",))


async def get_handover(store: EventStore, city: str) -> Handover:
    return await load(store, Handover(city))


# --- the feed -------------------------------------------------------------------------------------------


async def read_feed(engine: AsyncEngine, city: str, after: int, limit: int) -> list[tuple[int, str]]:
    """The city's feed after position ``after``: (position, CloudEvent JSON), oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(feed.c.seq, feed.c.cloudevent)
            .where(feed.c.city_code == city, feed.c.seq > after)
            .order_by(feed.c.seq)
            .limit(limit)
        )
        return [(seq, body) for seq, body in rows]


async def feed_end(engine: AsyncEngine, city: str) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(select(func.max(feed.c.seq)).where(feed.c.city_code == city))
        return int(found.scalar_one() or 0)


class CityTopics:
    """Publishes each city's feed, in order, to the city's own topic (key = stream id). At least once:
    a crash between the broker's acknowledgement and the mark publishes those records again, with the
    same ``ce_id`` for readers to drop."""

    name = "city-topics"

    def __init__(self, engine: AsyncEngine, publisher: Publisher, poll_interval: float = 0.5) -> None:
        self.engine, self.publisher, self.poll_interval = engine, publisher, poll_interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def publish_pending(self, limit: int = 500) -> int:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        feed.c.seq,
                        feed.c.city_code,
                        feed.c.stream_id,
                        feed.c.event_id,
                        feed.c.type,
                        feed.c.cloudevent,
                    )
                    .where(feed.c.published_at.is_(None))
                    .order_by(feed.c.seq)
                    .limit(limit)
                )
            ).all()
        if not rows:
            return 0
        await self.publisher.publish(
            [
                Message(
                    topic=city_topic(city),
                    key=stream,
                    value=body.encode(),
                    headers=(("ce_id", event_id.encode()), ("ce_type", kind.encode())),
                )
                for _, city, stream, event_id, kind, body in rows
            ]
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                update(feed).where(feed.c.seq.in_([r[0] for r in rows])).values(published_at=utcnow())
            )
        return len(rows)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            if await self.publish_pending():
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()
