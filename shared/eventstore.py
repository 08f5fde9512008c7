"""The event store: append to a stream with an expected version, read a stream, read everything.

The same code runs on SQLite and PostgreSQL. Each append writes its outbox rows in the same transaction,
so an event is stored if and only if it will be published.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import Integer, Row, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import events
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

_COLUMNS = (
    "event_id",
    "stream_id",
    "stream_version",
    "event_type",
    "data",
    "correlation_id",
    "causation_id",
    "actor_subject",
    "actor_role",
    "actor_scope",
    "city_code",
    "recorded_at",
)
# INSERT INTO events (...) SELECT :values... WHERE <the stream's last version> = :previous RETURNING position
_APPEND = (
    insert(events)
    .from_select(
        _COLUMNS,
        select(*(bindparam(c, type_=events.c[c].type) for c in _COLUMNS)).where(
            select(func.coalesce(func.max(events.c.stream_version), 0))
            .where(events.c.stream_id == bindparam("stream_id"))
            .scalar_subquery()
            == bindparam("previous", type_=Integer())
        ),
    )
    .returning(events.c.position)
)


_PG_APPEND = f"""
INSERT INTO events ({", ".join(_COLUMNS)})
SELECT $1::varchar, $2::varchar, $3::integer, $4::varchar, $5::json, $6::varchar, $7::varchar, $8::varchar,
       $9::varchar, $10::varchar, $11::varchar, $12::timestamptz
WHERE coalesce((SELECT max(stream_version) FROM events WHERE stream_id = $2::varchar), 0) = $13::integer
RETURNING position
"""
_PG_VERSION = "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1"


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
        if conn is not None:
            return await self._append(conn, stream_id, new_events, expected_version, metadata)
        if self.engine.dialect.name == "postgresql":
            recorded = await self._append_on_driver(stream_id, new_events, expected_version, metadata)
        else:
            async with self.engine.begin() as own:
                recorded = await self._append(own, stream_id, new_events, expected_version, metadata)
        for callback in self.after_commit:
            callback()
        return recorded

    async def _append(
        self,
        conn: AsyncConnection,
        stream_id: str,
        new_events: Sequence[DomainEvent],
        expected_version: int,
        metadata: EventMetadata,
    ) -> list[RecordedEvent]:
        now = utcnow()
        recorded = []
        for version, payload in enumerate(new_events, start=expected_version + 1):
            event_id, event_type = new_event_id(), type(payload).event_type
            row: dict[str, Any] = {
                "event_id": str(event_id),
                "stream_id": stream_id,
                "stream_version": version,
                "event_type": event_type,
                "data": payload.model_dump(mode="json"),
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "actor_subject": metadata.actor.subject,
                "actor_role": metadata.actor.role,
                "actor_scope": " ".join(metadata.actor.scope),
                "city_code": metadata.city_code,
                "recorded_at": now,
            }
            # One statement per event: it inserts only if the stream is at the version before it, and
            # the trigger on events queues the outbox row. A writer that read an old version inserts
            # nothing; two writers that read the same version collide on the unique index.
            try:
                result = await conn.execute(_APPEND, {**row, "previous": version - 1})
            except IntegrityError as exc:
                if "uq_events_stream_version" in str(exc.orig) or "events.stream_version" in str(exc.orig):
                    raise ConcurrencyConflict(stream_id, expected_version, None) from exc
                raise
            position = result.scalar_one_or_none()
            if position is None:
                raise ConcurrencyConflict(
                    stream_id, expected_version, await self._current_version(conn, stream_id)
                )
            recorded.append(
                RecordedEvent(
                    event_id=event_id,
                    stream_id=stream_id,
                    stream_version=version,
                    position=position,
                    event_type=event_type,
                    payload=payload,
                    metadata=metadata,
                    recorded_at=now,
                    source=self.source,
                )
            )
        return recorded

    async def _append_on_driver(
        self,
        stream_id: str,
        new_events: Sequence[DomainEvent],
        expected_version: int,
        metadata: EventMetadata,
    ) -> list[RecordedEvent]:
        """The same statement as ``_append``, sent straight to asyncpg in a transaction of its own.

        An append that is its own unit of work is the platform's hottest path; SQLAlchemy's per-statement
        overhead there costs half the throughput (docs/benchmarks.md). The connection still comes from
        the engine's pool; SQLAlchemy never began a transaction on it, so it has nothing to reset.
        """
        now = utcnow()
        recorded = []
        async with self.engine.connect() as pooled:
            driver = (await pooled.get_raw_connection()).driver_connection
            assert driver is not None
            # One event is one statement, and a statement is atomic on its own (the trigger's outbox row
            # included): no BEGIN/COMMIT round trips. Several events need the explicit transaction.
            unit = driver.transaction() if len(new_events) > 1 else contextlib.nullcontext()
            try:
                async with unit:
                    for version, payload in enumerate(new_events, start=expected_version + 1):
                        event_id = new_event_id()
                        position = await driver.fetchval(
                            _PG_APPEND,
                            str(event_id),
                            stream_id,
                            version,
                            payload.event_type,
                            payload.model_dump_json(),
                            metadata.correlation_id,
                            metadata.causation_id,
                            metadata.actor.subject,
                            metadata.actor.role,
                            " ".join(metadata.actor.scope),
                            metadata.city_code,
                            now,
                            version - 1,
                        )
                        if position is None:
                            actual = await driver.fetchval(_PG_VERSION, stream_id)
                            raise ConcurrencyConflict(stream_id, expected_version, actual)
                        recorded.append(
                            RecordedEvent(
                                event_id=event_id,
                                stream_id=stream_id,
                                stream_version=version,
                                position=position,
                                event_type=payload.event_type,
                                payload=payload,
                                metadata=metadata,
                                recorded_at=now,
                                source=self.source,
                            )
                        )
            except UniqueViolationError as exc:
                raise ConcurrencyConflict(stream_id, expected_version, None) from exc
        return recorded

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
