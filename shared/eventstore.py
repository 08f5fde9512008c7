"""The event store: append to a stream with an expected version, read a stream, read everything.

The same code runs on SQLite and PostgreSQL. Each append writes its outbox rows in the same transaction,
so an event is stored if and only if it will be published.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import events, outbox
from shared.errors import ConcurrencyConflict
from shared.events import (
    Actor,
    DomainEvent,
    EventMetadata,
    EventRegistry,
    RecordedEvent,
    as_utc,
    new_event_id,
    utcnow,
)


class EventStore:
    """Append-only event streams of one service, with a transactional outbox to ``topic``."""

    def __init__(self, engine: AsyncEngine, registry: EventRegistry, *, source: str, topic: str) -> None:
        self.engine = engine
        self.registry = registry
        self.source = source
        self.topic = topic
        # Called after every committed transaction (the relay's wake-up), never inside one.
        self.after_commit: list[Callable[[], None]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A unit of work: appends and the service's own writes commit together or not at all."""
        async with self.engine.begin() as conn:
            yield conn
        for callback in self.after_commit:
            callback()

    async def append(
        self,
        stream_id: str,
        new_events: Sequence[DomainEvent],
        *,
        expected_version: int,
        metadata: EventMetadata,
        conn: AsyncConnection | None = None,
    ) -> list[RecordedEvent]:
        """Append ``new_events`` after ``expected_version`` (0 for a new stream).

        Raises ``ConcurrencyConflict`` when the stream has moved on since the caller read it.
        """
        if not new_events:
            return []
        if conn is None:
            async with self.transaction() as own:
                return await self._append(own, stream_id, new_events, expected_version, metadata)
        return await self._append(conn, stream_id, new_events, expected_version, metadata)

    async def _append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        new_events: Sequence[DomainEvent],
        expected_version: int,
        metadata: EventMetadata,
    ) -> list[RecordedEvent]:
        # The read gives a clear error in the common case; the unique (stream_id, stream_version)
        # index decides the race between two writers that both read the same version.
        current = await self._current_version(conn, stream_id)
        if current != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version, current)
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "event_id": str(new_event_id()),
                "stream_id": stream_id,
                "stream_version": expected_version + i,
                "event_type": type(e).event_type,
                "data": e.model_dump(mode="json"),
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "actor_subject": metadata.actor.subject,
                "actor_role": metadata.actor.role,
                "actor_scope": " ".join(metadata.actor.scope),
                "city_code": metadata.city_code,
                "recorded_at": now,
            }
            for i, e in enumerate(new_events, start=1)
        ]
        try:
            if len(rows) == 1:
                result = await conn.execute(insert(events).returning(events.c.position), rows[0])
                positions = [result.scalar_one()]
            else:
                result = await conn.execute(
                    insert(events).returning(events.c.position, sort_by_parameter_order=True), rows
                )
                positions = list(result.scalars())
        except IntegrityError as exc:
            if "uq_events_stream_version" in str(exc.orig) or "events.stream_version" in str(exc.orig):
                raise ConcurrencyConflict(stream_id, expected_version, None) from exc
            raise
        await conn.execute(insert(outbox), [{"position": p, "topic": self.topic} for p in positions])
        return [
            RecordedEvent(
                event_id=uuid.UUID(row["event_id"]),
                stream_id=stream_id,
                stream_version=row["stream_version"],
                position=position,
                event_type=row["event_type"],
                payload=payload,
                metadata=metadata,
                recorded_at=now,
                source=self.source,
            )
            for row, position, payload in zip(rows, positions, new_events, strict=True)
        ]

    @staticmethod
    async def _current_version(conn: AsyncConnection, stream_id: str) -> int:
        result = await conn.execute(
            select(func.coalesce(func.max(events.c.stream_version), 0)).where(events.c.stream_id == stream_id)
        )
        return int(result.scalar_one())

    async def stream_version(self, stream_id: str) -> int:
        async with self.engine.connect() as conn:
            return await self._current_version(conn, stream_id)

    async def read_stream(
        self,
        stream_id: str,
        *,
        up_to_version: int | None = None,
        as_of: datetime | None = None,
        conn: AsyncConnection | None = None,
    ) -> list[RecordedEvent]:
        """The stream's events in version order, optionally only those up to a version or instant."""
        query = select(events).where(events.c.stream_id == stream_id).order_by(events.c.stream_version)
        if up_to_version is not None:
            query = query.where(events.c.stream_version <= up_to_version)
        if as_of is not None:  # stored instants are UTC (SQLite compares them as text)
            query = query.where(events.c.recorded_at <= as_utc(as_of))
        if conn is not None:
            return [self._decode(r) for r in await conn.execute(query)]
        async with self.engine.connect() as own:
            return [self._decode(r) for r in await own.execute(query)]

    async def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events in global position order, for replays and rebuilds."""
        query = select(events).where(events.c.position > after_position).order_by(events.c.position)
        async with self.engine.connect() as conn:
            return [self._decode(r) for r in await conn.execute(query.limit(limit))]

    def _decode(self, row: Row[Any]) -> RecordedEvent:
        return recorded_from_row(row._mapping, self.registry, self.source)


def recorded_from_row(row: Any, registry: EventRegistry, source: str) -> RecordedEvent:
    """Turn an ``events`` row into a ``RecordedEvent``, upcasting an old payload version."""
    payload = registry.decode(row["event_type"], row["data"])
    return RecordedEvent(
        event_id=uuid.UUID(row["event_id"]),
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        position=row["position"],
        event_type=payload.event_type,
        payload=payload,
        metadata=EventMetadata(
            correlation_id=row["correlation_id"],
            causation_id=row["causation_id"],
            actor=Actor(
                subject=row["actor_subject"],
                role=row["actor_role"],
                scope=tuple(row["actor_scope"].split()) if row["actor_scope"] else (),
            ),
            city_code=row["city_code"],
        ),
        recorded_at=as_utc(row["recorded_at"]),
        source=source,
    )
