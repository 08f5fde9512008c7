"""The trivial projection the consumer benchmarks run: one counter row per stream, upserted per event."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Column, Integer, MetaData, PrimaryKeyConstraint, String, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.events import RecordedEvent
from shared.transport import Message

bench_metadata = MetaData()
counters = Table(
    "bench_counters",
    bench_metadata,
    Column("projection", String(100), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("applied", Integer, nullable=False),
    PrimaryKeyConstraint("projection", "stream_id"),
)


async def create_counters(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(bench_metadata.create_all)


class CounterProjection:
    """A ``shared.consumer.Handler``: INSERT ... ON CONFLICT DO UPDATE applied = applied + 1 (PostgreSQL).

    With ``stamps``, it also notes when it applied each event (inside the batch's transaction, just
    before the runner stores the offset and commits).
    """

    def __init__(self, name: str, topic: str, stamps: dict[str, float] | None = None) -> None:
        self.name = name
        self.topics: Sequence[str] = (topic,)
        self.stamps = stamps

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        statement = pg_insert(counters).values(projection=self.name, stream_id=event.stream_id, applied=1)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["projection", "stream_id"], set_={"applied": counters.c.applied + 1}
            )
        )
        if self.stamps is not None:
            self.stamps[str(event.event_id)] = time.perf_counter()


class NoDeadLetters:
    """A ``Publisher`` for the runner's dead letters: a benchmark event must never be dead-lettered."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, messages: Sequence[Message]) -> None:
        raise RuntimeError(f"{len(messages)} benchmark event(s) were dead-lettered")
