"""The aggregate pattern every service uses: rebuild from a stream, decide, record new events.

A subclass is a dataclass naming its identity fields, with a ``stream`` property, a ``city_code``
(the tenant its events belong to, or None for national data) and ``_apply`` for each of its events.
Command methods check invariants, raise domain errors, and ``_trigger`` events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.context import metadata_for
from shared.db import lock
from shared.errors import NotFound
from shared.events import Actor, DomainEvent, RecordedEvent
from shared.eventstore import EventStore


@dataclass
class Aggregate:
    """Base of every aggregate (see the module docstring)."""

    version: int = field(default=0, kw_only=True)
    pending: list[DomainEvent] = field(default_factory=list, kw_only=True, repr=False)

    @property
    def stream(self) -> str:
        raise NotImplementedError

    @property
    def city_code(self) -> str | None:
        return None

    @property
    def exists(self) -> bool:
        """Stored, or created by a command of this unit of work."""
        return self.version > 0 or bool(self.pending)

    def replay(self, history: Sequence[DomainEvent]) -> Self:
        for event in history:
            self._apply(event)
            self.version += 1
        return self

    def _trigger(self, event: DomainEvent) -> None:
        self._apply(event)
        self.pending.append(event)

    def _apply(self, event: DomainEvent) -> None:
        raise NotImplementedError


A = TypeVar("A", bound=Aggregate)

# How often a command that lost the race to append to its stream is decided again, on the new state,
# before the caller is told of the conflict (409).
CONFLICT_RETRIES = 5


async def load(
    store: EventStore,
    aggregate: A,
    *,
    missing: str | None = None,
    conn: AsyncConnection | None = None,
    lock_stream: bool = False,
) -> A:
    """Replay ``aggregate``'s stream into it; with ``missing``, a 404 with that message if it is empty.

    Pass ``conn`` inside a unit of work: on SQLite a second connection would wait for the first's lock.
    ``lock_stream`` (a command about to append to this one stream) also locks the stream until the
    unit of work ends (PostgreSQL), so two commands on it take turns instead of both deciding on the
    same version and one failing to append. Reads never lock: a reader holding one stream while it
    waits for another could deadlock with a writer.
    """
    if lock_stream:
        assert conn is not None, "a stream lock lasts as long as a unit of work: pass its connection"
        await lock(conn, aggregate.stream)
    history = await store.read_stream(aggregate.stream, conn=conn)
    aggregate.replay([e.payload for e in history])
    if missing is not None and not aggregate.exists:
        raise NotFound(missing)
    return aggregate


async def save(
    store: EventStore, aggregate: Aggregate, actor: Actor, *, conn: AsyncConnection | None = None
) -> list[RecordedEvent]:
    """Append what the aggregate decided, expecting the version it was loaded at."""
    return await store.append(
        aggregate.stream,
        aggregate.pending,
        expected_version=aggregate.version,
        metadata=metadata_for(actor, city_code=aggregate.city_code),
        conn=conn,
    )
