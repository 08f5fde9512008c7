"""The event store contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.contracts.targeting import ProgramPeriodRegistered
from shared.db import create_engine, events, outbox
from shared.errors import ConcurrencyConflict
from shared.events import Actor, DomainEvent, EventMetadata, EventRegistry, utcnow
from shared.eventstore import EventStore
from shared.migrations import upgrade

META = EventMetadata(correlation_id="c-1", causation_id=None, actor=Actor("tester", "national_admin"))


def period(n: int) -> ProgramPeriodRegistered:
    return ProgramPeriodRegistered(
        code=f"P{n:03d}",
        name=f"period {n}",
        starts_on=date(2000, 1, 1),
        ends_on=date(2000, 1, 1) + timedelta(days=n + 1),
    )


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EventStore]:
    from shared.contracts import registry

    engine = create_engine(store_url)
    await upgrade(engine)
    yield EventStore(engine, registry, source="/p2kp/test", topic="p2kp.test.events")
    await engine.dispose()


async def test_appended_events_read_back_in_version_order(store: EventStore) -> None:
    first = await store.append("s-1", [period(1), period(2)], expected_version=0, metadata=META)
    more = await store.append("s-1", [period(3)], expected_version=2, metadata=META)
    stream = await store.read_stream("s-1")
    assert [e.stream_version for e in stream] == [1, 2, 3]
    assert [e.payload for e in stream] == [period(1), period(2), period(3)]
    assert [e.event_id for e in stream] == [e.event_id for e in first + more]
    assert stream[0].position < stream[1].position < stream[2].position
    assert stream[0].metadata == META
    assert await store.stream_version("s-1") == 3


async def test_stale_expected_version_is_a_conflict_and_writes_nothing(store: EventStore) -> None:
    await store.append("s-2", [period(1)], expected_version=0, metadata=META)
    with pytest.raises(ConcurrencyConflict) as raised:
        await store.append("s-2", [period(2)], expected_version=0, metadata=META)
    assert raised.value.status == 409 and "s-2" in raised.value.detail
    assert len(await store.read_stream("s-2")) == 1


async def test_second_writer_on_same_stream_gets_conflict(store: EventStore) -> None:
    """Eight writers race for version 1 of each of 20 streams: exactly one wins every time."""
    for round_ in range(20):
        stream = f"race-{round_}"
        outcomes = await asyncio.gather(
            *(store.append(stream, [period(w)], expected_version=0, metadata=META) for w in range(8)),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, list)]
        losers = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
        assert len(winners) == 1 and len(losers) == 7, outcomes
        assert [e.payload for e in await store.read_stream(stream)] == [winners[0][0].payload]


async def test_outbox_row_commits_with_its_event_or_not_at_all(store: EventStore) -> None:
    await store.append("s-3", [period(1)], expected_version=0, metadata=META)
    with pytest.raises(RuntimeError, match="handler failed"):
        async with store.transaction() as conn:
            await store.append("s-3", [period(2)], expected_version=1, metadata=META, conn=conn)
            raise RuntimeError("handler failed after appending")
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
        queued = (await conn.execute(select(outbox.c.position))).scalars().all()
        kept = (await conn.execute(select(events.c.position))).scalars().all()
    assert stored == 1
    assert queued == kept  # the surviving event is queued; the rolled-back one left no outbox row


async def test_read_stream_up_to_a_version_or_an_instant(store: EventStore) -> None:
    await store.append("s-4", [period(1), period(2)], expected_version=0, metadata=META)
    between = utcnow()
    await store.append("s-4", [period(3)], expected_version=2, metadata=META)
    assert [e.stream_version for e in await store.read_stream("s-4", up_to_version=1)] == [1]
    assert [e.stream_version for e in await store.read_stream("s-4", as_of=between)] == [1, 2]


async def test_read_all_follows_global_position(store: EventStore) -> None:
    await store.append("a", [period(1)], expected_version=0, metadata=META)
    await store.append("b", [period(2)], expected_version=0, metadata=META)
    await store.append("a", [period(3)], expected_version=1, metadata=META)
    everything = await store.read_all()
    assert [(e.stream_id, e.stream_version) for e in everything] == [("a", 1), ("b", 1), ("a", 2)]
    after_first = await store.read_all(after_position=everything[0].position)
    assert [e.position for e in after_first] == [e.position for e in everything[1:]]


async def test_stored_v1_event_reads_back_as_v2_after_the_model_changes(store: EventStore) -> None:
    old = EventRegistry()

    @old.event("p2kp.example.bkm-formed.v1")
    class BkmFormedV1(DomainEvent):
        kelurahan: str
        members: int

    writer = EventStore(store.engine, old, source="/p2kp/test", topic="p2kp.test.events")
    await writer.append(
        "bkm-1", [BkmFormedV1(kelurahan="33.74.01.1001", members=11)], expected_version=0, metadata=META
    )

    new = EventRegistry()

    @new.upcaster("p2kp.example.bkm-formed.v1")
    def _count_women(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "women": None}

    @new.event("p2kp.example.bkm-formed.v2")
    class BkmFormedV2(DomainEvent):
        kelurahan: str
        members: int
        women: int | None

    reader = EventStore(store.engine, new, source="/p2kp/test", topic="p2kp.test.events")
    [event] = await reader.read_stream("bkm-1")
    assert isinstance(event.payload, BkmFormedV2)
    assert event.payload == BkmFormedV2(kelurahan="33.74.01.1001", members=11, women=None)
    assert event.event_type == "p2kp.example.bkm-formed.v2"
