"""The consumer runner on both backends: exactly-once effects, checkpoint atomicity, dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.consumer import DEAD_LETTER_TOPIC, ClaimRaced, ConsumerRunner, upsert
from shared.contracts import registry
from shared.db import dead_letter_log, outbox
from shared.events import Actor, EventMetadata, RecordedEvent, utcnow
from shared.eventstore import EventStore
from shared.relay import OutboxRelay
from shared.transport import Message, Received
from tests.integration.conftest import Backend, new_topic
from tests.integration.test_eventstore import period
from tests.integration.test_relay import ProcessKilled, drain

META = EventMetadata(correlation_id="c-consumer", causation_id=None, actor=Actor("tester", "national_admin"))

tally_metadata = MetaData()
# What the test projection keeps: how many events of each stream it has applied.
tally = Table(
    "tally",
    tally_metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("applied", Integer, nullable=False),
)


class Tally:
    """A projection counting applications per stream; a double application shows as a higher count."""

    def __init__(
        self, name: str, topics: Sequence[str], *, crash_at: int | None = None, fail_stream: str | None = None
    ) -> None:
        self.name, self.topics = name, tuple(topics)
        self.crash_at, self.fail_stream = crash_at, fail_stream
        self.seen = 0

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        current = await conn.execute(select(tally.c.applied).where(tally.c.stream_id == event.stream_id))
        count = (current.scalar_one_or_none() or 0) + 1
        await upsert(conn, tally, {"stream_id": event.stream_id, "applied": count}, ("stream_id",))
        self.seen += 1
        if self.crash_at is not None and self.seen == self.crash_at:
            raise ProcessKilled  # the projection's write is done, the checkpoint is not yet committed
        if event.stream_id == self.fail_stream:
            raise ValueError(f"cannot project {event.stream_id}")


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {s: n for s, n in await conn.execute(select(tally.c.stream_id, tally.c.applied))}


@pytest.fixture
async def setup(backend: Backend) -> AsyncIterator[tuple[Backend, EventStore, AsyncEngine]]:
    topic = new_topic()
    await backend.new_topics(topic, DEAD_LETTER_TOPIC, partitions=2)
    store = await backend.store(topic)
    # The projection's own database (in the platform: the monitoring database).
    projection_engine = backend.engine() if backend.name == "postgres" else store.engine
    async with projection_engine.begin() as conn:
        await conn.run_sync(tally_metadata.create_all)
    yield backend, store, projection_engine


async def publish_all(backend: Backend, store: EventStore) -> None:
    publisher = backend.publisher()
    await publisher.start()
    try:
        await drain(OutboxRelay(store.engine, publisher, name="t", source=store.source, topic=store.topic))
    finally:
        await publisher.stop()


async def append_round(store: EventStore, streams: int, start_version: int) -> None:
    for s in range(streams):
        await store.append(f"s-{s}", [period(s)], expected_version=start_version, metadata=META)


def runner(backend: Backend, engine: AsyncEngine, handler: Tally) -> ConsumerRunner:
    return ConsumerRunner(
        engine,
        backend.subscriber(),
        handler,
        registry=registry,
        dead_letters=backend.publisher(),
        fetch_timeout_ms=100,
        batch_size=7,
    )


async def run_until_applied(r: ConsumerRunner, streams: int, version: int) -> None:
    await r.dead_letters.start()
    task = asyncio.create_task(r.run())
    try:
        for s in range(streams):
            await r.wait_for_stream(f"s-{s}", version, timeout=60)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await r.dead_letters.stop()


async def test_projection_applies_each_event_once_and_resumes_from_its_checkpoint(
    setup: tuple[Backend, EventStore, AsyncEngine],
) -> None:
    backend, store, engine = setup
    handler = Tally("tally-resume", [store.topic])
    for version in range(3):
        await append_round(store, 10, version)
    await publish_all(backend, store)
    first = runner(backend, engine, handler)
    await run_until_applied(first, 10, 3)
    assert await counts(engine) == {f"s-{s}": 3 for s in range(10)}

    await append_round(store, 10, 3)
    await publish_all(backend, store)
    second = runner(backend, engine, handler)
    await run_until_applied(second, 10, 4)
    assert second.applied_total == 10, "a restarted consumer starts at its stored offsets"
    assert await counts(engine) == {f"s-{s}": 4 for s in range(10)}


async def test_crash_between_projection_write_and_checkpoint_never_double_counts(
    setup: tuple[Backend, EventStore, AsyncEngine],
) -> None:
    backend, store, engine = setup
    for version in range(4):
        await append_round(store, 5, version)
    await publish_all(backend, store)

    crashing = runner(backend, engine, Tally("tally-crash", [store.topic], crash_at=12))
    await crashing.dead_letters.start()
    with pytest.raises(ProcessKilled):
        await crashing.run()
    await crashing.dead_letters.stop()
    assert sum((await counts(engine)).values()) < 20  # it died part-way through

    restarted = runner(backend, engine, Tally("tally-crash", [store.topic]))
    await run_until_applied(restarted, 5, 4)
    assert await counts(engine) == {f"s-{s}": 4 for s in range(5)}


async def test_redelivered_events_are_applied_once(setup: tuple[Backend, EventStore, AsyncEngine]) -> None:
    backend, store, engine = setup
    for version in range(2):
        await append_round(store, 6, version)
    await publish_all(backend, store)
    # The relay died after the broker acknowledged but before marking: everything goes out again.
    async with store.engine.begin() as conn:
        await conn.execute(update(outbox).values(published_at=None))
    await publish_all(backend, store)
    await append_round(store, 6, 2)
    await publish_all(backend, store)

    r = runner(backend, engine, Tally("tally-dup", [store.topic]))
    await run_until_applied(r, 6, 3)
    assert await counts(engine) == {f"s-{s}": 3 for s in range(6)}
    assert r.applied_total == 18


async def test_poison_events_go_to_the_dead_letter_topic_and_consumption_continues(
    setup: tuple[Backend, EventStore, AsyncEngine],
) -> None:
    backend, store, engine = setup
    await append_round(store, 3, 0)  # s-0, s-1, s-2 at version 1
    await publish_all(backend, store)
    unknown = {
        "specversion": "1.0",
        "id": "6f1c1d9e-0000-4000-8000-000000000001",
        "source": "/p2kp/x",
        "type": "p2kp.nobody.never-registered.v1",
        "streamid": "s-x",
        "streamversion": 1,
        "position": 1,
        "time": "2026-11-29T00:00:00Z",
        "correlationid": "c",
        "actor": "a",
        "actorrole": "r",
        "data": {},
    }
    poison = [
        Message(topic=store.topic, key="s-0", value=b"{not json"),
        Message(topic=store.topic, key="s-1", value=b'["JSON", "but not an object"]'),
        Message(topic=store.topic, key="s-x", value=json.dumps(unknown).encode()),
    ]
    publisher = backend.publisher()
    await publisher.start()
    await publisher.publish(poison)
    await publisher.stop()
    await append_round(store, 3, 1)  # version 2 of each, after the poison
    await publish_all(backend, store)

    name = f"tally-poison-{backend.name}-{store.topic[-6:]}"
    r = runner(backend, engine, Tally(name, [store.topic], fail_stream="s-2"))
    await run_until_applied(r, 3, 2)

    assert await counts(engine) == {"s-0": 2, "s-1": 2}  # s-2's handler failed: its writes rolled back
    assert r.dead_lettered_total == 5  # bad JSON, JSON of another shape, unknown type, s-2 twice
    async with engine.connect() as conn:
        logged = (
            await conn.execute(
                select(func.count()).select_from(dead_letter_log).where(dead_letter_log.c.consumer == name)
            )
        ).scalar_one()
    assert logged == 5

    def ours(records: list[Received]) -> list[Received]:  # the topic is shared by every test on Kafka
        return [d for d in records if d.header("dlq_consumer") == name]

    dead = ours(await backend.read_topic_until(DEAD_LETTER_TOPIC, lambda got: len(ours(got)) >= 5))
    errors = sorted(d.header("dlq_error") or "" for d in dead)
    assert len(errors) == 5
    assert any("JSONDecodeError" in e for e in errors)
    assert any("MalformedEnvelope" in e and "not list" in e for e in errors)
    assert any("p2kp.nobody.never-registered.v1" in e for e in errors)
    assert sum("cannot project s-2" in e for e in errors) == 2


def _events(streams: int, versions: int) -> list[RecordedEvent]:
    return [
        RecordedEvent(
            event_id=uuid.uuid4(),
            stream_id=f"s-{s}",
            stream_version=v,
            position=s * versions + v,
            event_type=type(period(s)).event_type,
            payload=period(s),
            metadata=META,
            recorded_at=utcnow(),
        )
        for s in range(streams)
        for v in range(1, versions + 1)
    ]


async def _waiting_on_a_lock(engine: AsyncEngine, application: str) -> None:
    """Return once the session named ``application`` waits on a row lock (it reached the race)."""
    async with asyncio.timeout(30):
        while True:
            async with engine.connect() as conn:
                waiting = await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name = :name AND wait_event_type = 'Lock'"
                    ),
                    {"name": application},
                )
                if waiting.scalar_one():
                    return
            await asyncio.sleep(0.05)  # polling the server's own view of the wait, not guessing a time


@pytest.mark.parametrize("seen_before", [False, True], ids=["new streams", "streams seen before"])
async def test_two_instances_claiming_one_batch_at_once_apply_it_once(
    setup: tuple[Backend, EventStore, AsyncEngine], seen_before: bool
) -> None:
    """After a rebalance two instances can hold the same records. The second's claim waits on the
    first's uncommitted one, then finds nothing left to apply (streams seen before: their rows were
    locked) or gives the batch up to be retried (new streams): never do both apply it."""
    backend, _, engine = setup
    if backend.name != "postgres":
        pytest.skip("SQLite has one writer at a time: its claims cannot race")
    first = runner(backend, engine, Tally("tally-race", []))
    second = runner(backend, engine, Tally("tally-race", []))
    batch = _events(3, 2)
    if seen_before:
        async with engine.begin() as conn:
            assert len(await first._claim_batch(conn, batch[0::2])) == 3  # every stream's v1, earlier
    unseen = [e for e in batch if not (seen_before and e.stream_version == 1)]

    async def claim_as_second() -> list[RecordedEvent]:
        async with engine.begin() as conn:
            await conn.execute(text("SET application_name = 'second-instance'"))
            return await second._claim_batch(conn, batch)

    async with engine.begin() as conn:
        assert await first._claim_batch(conn, batch) == unseen
        racing = asyncio.create_task(claim_as_second())
        await _waiting_on_a_lock(engine, "second-instance")
    # The first has committed; the second goes on.
    if seen_before:
        assert await racing == []
    else:
        with pytest.raises(ClaimRaced):
            await racing
        async with engine.begin() as conn:  # the retried batch: nothing left to apply
            assert await second._claim_batch(conn, batch) == []
