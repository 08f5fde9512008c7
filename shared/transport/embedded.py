"""The embedded transport: an in-process, durable topic log in one SQLite file.

Each topic has one partition; offsets are row ids, so they only grow (with gaps, as in Kafka). Relays and
consumers use it through the same ``Publisher`` and ``Subscriber`` interfaces as Kafka, and store their
positions the same way, so restarting the process resumes exactly where each consumer stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.transport import Message, OnAssign, Received, TopicPartition

_metadata = MetaData()
bus_messages = Table(
    "bus_messages",
    _metadata,
    Column("offset", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False, index=True),
    Column("key", String(200), nullable=False),
    Column("headers", Text, nullable=False),
    Column("value", LargeBinary, nullable=False),
)


class EmbeddedBus:
    """The topic log shared by every service of one embedded process."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_engine(url)
        self._changed = asyncio.Condition()
        self.generation = 0  # bumped on every append, so a reader never misses a wake-up

    async def start(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_metadata.create_all)

    async def stop(self) -> None:
        await self.engine.dispose()

    async def append(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(bus_messages),
                [
                    {
                        "topic": m.topic,
                        "key": m.key,
                        "headers": json.dumps([[k, v.decode()] for k, v in m.headers]),
                        "value": m.value,
                    }
                    for m in messages
                ],
            )
        async with self._changed:
            self.generation += 1
            self._changed.notify_all()

    async def read(self, positions: dict[TopicPartition, int], limit: int) -> list[Received]:
        if not positions:
            return []
        out: list[Received] = []
        async with self.engine.connect() as conn:
            for tp, offset in positions.items():
                rows = await conn.execute(
                    select(bus_messages)
                    .where(bus_messages.c.topic == tp.topic, bus_messages.c.offset >= offset)
                    .order_by(bus_messages.c.offset)
                    .limit(limit)
                )
                out.extend(
                    Received(
                        topic=r.topic,
                        partition=0,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        headers=tuple((k, v.encode()) for k, v in json.loads(r.headers)),
                    )
                    for r in rows
                )
        return out

    async def end_offsets(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(bus_messages.c.topic, func.max(bus_messages.c.offset))
                .where(bus_messages.c.topic.in_(list(topics)))
                .group_by(bus_messages.c.topic)
            )
            ends = {TopicPartition(topic, 0): int(last) + 1 for topic, last in rows}
        return {TopicPartition(t, 0): ends.get(TopicPartition(t, 0), 0) for t in topics}

    async def wait_for_new(self, seen_generation: int, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with self._changed, asyncio.timeout(timeout):
                await self._changed.wait_for(lambda: self.generation != seen_generation)


class EmbeddedPublisher:
    def __init__(self, bus: EmbeddedBus) -> None:
        self._bus = bus

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, messages: Sequence[Message]) -> None:
        # One SQLite transaction: all acknowledged or none.
        await self._bus.append(messages)


class EmbeddedSubscriber:
    def __init__(self, bus: EmbeddedBus) -> None:
        self._bus = bus
        self._positions: dict[TopicPartition, int] = {}

    async def start(self, topics: Sequence[str], group: str, on_assign: OnAssign) -> None:
        assigned = [TopicPartition(t, 0) for t in topics]
        stored = await on_assign(assigned)
        self._positions = {tp: stored.get(tp, 0) for tp in assigned}

    async def stop(self) -> None:
        return None

    async def fetch(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Received]]:
        seen = self._bus.generation
        records = await self._bus.read(self._positions, max_records)
        if not records:
            await self._bus.wait_for_new(seen, timeout_ms / 1000)
            records = await self._bus.read(self._positions, max_records)
        batch: dict[TopicPartition, list[Received]] = {}
        for r in records:
            batch.setdefault(r.tp, []).append(r)
        for tp, rs in batch.items():
            self._positions[tp] = rs[-1].offset + 1
        return batch

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return await self._bus.end_offsets([tp.topic for tp in self._positions])
