"""The consumer runner behind every projection and policy: exactly-once effects over at-least-once delivery.

For each fetched batch of one partition, the handler's writes, the per-stream dedupe marks and the
partition's next offset are committed in ONE database transaction. A crash anywhere before that commit
leaves nothing behind and the batch is read again; a crash after it finds the offset already stored.
Events the handler cannot take go to the dead-letter topic with the error, and consumption continues.

A batch is claimed in three statements whatever its size (the streams' stored versions, locked; the new
streams; the advanced ones), and a handler with ``apply_batch`` gets the claimed events at once, so it
can send its writes together: a national rebuild is millions of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy import and_, bindparam, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import checkpoints, consumed_streams, database_unavailable, dead_letter_log
from shared.events import (
    EventRegistry,
    MalformedEnvelope,
    RecordedEvent,
    UnknownEventType,
    decode_envelope,
    parse_cloudevent,
    utcnow,
)
from shared.transport import Message, Publisher, Received, Subscriber, TopicPartition
from shared.transport.topics import dead_letter_topic

log = structlog.get_logger(__name__)

DEAD_LETTER_TOPIC = "p2kp.deadletter"  # without P2KP_KAFKA_TOPIC_PREFIX


class Handler(Protocol):
    """A projection or policy: what it is called, what it reads, and how it applies one event."""

    @property
    def name(self) -> str: ...

    @property
    def topics(self) -> Sequence[str]: ...

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None: ...


# A handler may also say which payload types it reads (``reads``, a collection of DomainEvent classes):
# the others reach it with an ``UNREAD`` payload, claimed and counted but not decoded.


class BatchHandler(Handler, Protocol):
    """A handler that takes a batch's claimed events at once, in order, with the same effect as applying
    them one by one (``apply`` stays for the slow path, where each event has its own savepoint)."""

    async def apply_batch(self, events: Sequence[RecordedEvent], conn: AsyncConnection) -> None: ...


class ClaimRaced(Exception):
    """Another instance claimed one of the batch's new streams meanwhile (a rebalance): retry the batch."""


async def upsert(conn: AsyncConnection, table: Any, values: dict[str, Any], keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, on SQLite and PostgreSQL alike."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    await conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changed))


class _EventFailed(Exception):
    """An event's handler failed on the fast path: apply the batch again, event by event."""


@dataclass
class _Outcome:
    dead_letter: Message | None = None
    applied: bool = False


CLAIM_CHUNK = 1000  # streams read per statement on SQLite (it takes at most 32,766 parameters)
# Each stream's row looked up by its key and locked, in the order of the array (sorted, so two instances
# lock alike). Not ``stream_id = ANY(:streams)``: PostgreSQL may then read every row of the consumer and
# test each against the array, as it did in a rebuild whose rows it had no statistics of yet: a rebuild's
# claims grew slower with every batch (43 ms a batch after 200,000 events, most of the database's time).
_STORED_CLAIMS = text(
    "SELECT s.stream_id, c.version FROM unnest(CAST(:streams AS varchar[])) AS s(stream_id) "
    "CROSS JOIN LATERAL (SELECT version FROM consumed_streams "
    "WHERE consumer = :consumer AND stream_id = s.stream_id FOR UPDATE) AS c"
)
_INSERT_CLAIMS = text(
    "INSERT INTO consumed_streams (consumer, stream_id, version, event_id) "
    "SELECT :consumer, s, v, e FROM unnest(CAST(:streams AS varchar[]), CAST(:versions AS integer[]), "
    "CAST(:events AS varchar[])) AS t(s, v, e) "
    "ON CONFLICT (consumer, stream_id) DO NOTHING RETURNING stream_id"
)
# The advanced streams' rows exist (locked above): an INSERT that always meets its conflict finds each
# through the key, where PostgreSQL, planning ``UPDATE ... FROM unnest(...)`` without statistics as
# above, hash-joined a scan of all the consumer's rows (7 ms a batch after a million events, and growing).
_UPDATE_CLAIMS = text(
    "INSERT INTO consumed_streams (consumer, stream_id, version, event_id) "
    "SELECT :consumer, s, v, e FROM unnest(CAST(:streams AS varchar[]), CAST(:versions AS integer[]), "
    "CAST(:events AS varchar[])) AS t(s, v, e) "
    "ON CONFLICT (consumer, stream_id) DO UPDATE SET version = excluded.version, event_id = excluded.event_id"
)
_UPDATE_CLAIM = update(consumed_streams).where(  # SET from the other parameters: version, event_id
    consumed_streams.c.consumer == bindparam("w_consumer"),
    consumed_streams.c.stream_id == bindparam("w_stream"),
)


Batch = dict[TopicPartition, list[Received]]  # one fetch: each partition's records, in order


@functools.cache
def _store_checkpoint(dialect: str) -> Any:
    """Upsert of partitions' next offsets, built once per dialect (executed with many rows)."""
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(checkpoints)
    return insert.on_conflict_do_update(
        index_elements=["consumer", "topic", "partition"], set_={"next_offset": insert.excluded.next_offset}
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ConsumerRunner:
    def __init__(
        self,
        engine: AsyncEngine,
        subscriber: Subscriber,
        handler: Handler,
        *,
        registry: EventRegistry,
        dead_letters: Publisher,
        batch_size: int = 2000,
        fetch_timeout_ms: int = 200,
    ) -> None:
        self.engine = engine
        self.subscriber = subscriber
        self.handler = handler
        self.registry = registry
        self.dead_letters = dead_letters
        self.batch_size = batch_size
        self.fetch_timeout_ms = fetch_timeout_ms
        self._progress = asyncio.Condition()
        # Held while a batch is applied. A rebalance waits for it before reading stored offsets, or it
        # would seek back over a batch that is about to commit and fetch it again (aiokafka#929).
        self._applying = asyncio.Lock()
        self.applied_total = 0
        self.dead_lettered_total = 0
        self.positions: dict[TopicPartition, int] = {}
        self._reads = getattr(handler, "reads", None)

    @property
    def name(self) -> str:
        return self.handler.name

    async def start(self) -> None:
        await self.subscriber.start(self.handler.topics, self.name, self._stored_offsets)

    async def stop(self) -> None:
        await self.subscriber.stop()

    async def run(self) -> None:
        """Consume until cancelled. A batch whose transaction fails is retried, never skipped."""
        await self.start()
        try:
            while True:
                fetched = await self.subscriber.fetch(self.fetch_timeout_ms, self.batch_size)
                batch = {tp: records for tp, records in fetched.items() if records}
                if batch:
                    await self._retry_until_done(batch)
        finally:
            await self.stop()

    async def _retry_until_done(self, batch: Batch) -> None:
        backoff = 0.1
        while True:
            try:
                await self.process_batch(batch)
                return
            except Exception as exc:  # database or dead-letter topic unavailable: same batch again
                log.warning("consumer.batch_failed", consumer=self.name, tps=list(batch), error=repr(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def process_batch(self, batch: Batch) -> None:
        """Apply one fetch's records of every partition and store each partition's next offset, in one
        transaction (a rebuild reads a dozen partitions at once: one commit instead of a dozen)."""
        async with self._applying:
            # Fast path: the whole batch without a savepoint per event. If one event fails, the
            # transaction is thrown away and each partition applied again on its own, each event in its
            # own savepoint, so the bad one is dead-lettered and the others still count.
            try:
                applied, dead = await self._apply_batch(batch, guarded=False)
            except _EventFailed:
                applied, dead = 0, []
                for tp, records in batch.items():
                    done, failed = await self._apply_batch({tp: records}, guarded=True)
                    applied, dead = applied + done, dead + failed
            for tp, records in batch.items():
                self.positions[tp] = records[-1].offset + 1
            self.applied_total += applied
            self.dead_lettered_total += len(dead)
        async with self._progress:
            self._progress.notify_all()

    async def _apply_batch(self, batch: Batch, *, guarded: bool) -> tuple[int, list[Message]]:
        applied = 0
        dead: list[Message] = []
        async with self.engine.begin() as conn:
            if guarded:
                for records in batch.values():
                    for record in records:
                        outcome = await self._handle(conn, record)
                        applied += outcome.applied
                        if outcome.dead_letter is not None:
                            dead.append(outcome.dead_letter)
            else:
                applied, dead = await self._apply_fast(conn, [r for rs in batch.values() for r in rs])
            await conn.execute(
                _store_checkpoint(conn.dialect.name),
                [
                    {
                        "consumer": self.name,
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "next_offset": records[-1].offset + 1,
                    }
                    for tp, records in batch.items()
                ],
            )
            # Dead letters are acknowledged before the offset commits: at worst a crash here
            # dead-letters the same event twice, it never loses one.
            if dead:
                await self.dead_letters.publish(dead)
        return applied, dead

    async def _apply_fast(self, conn: AsyncConnection, records: list[Received]) -> tuple[int, list[Message]]:
        """The whole batch claimed at once and applied without savepoints; any event the handler fails
        on raises ``_EventFailed`` (the caller then goes event by event)."""
        events: list[RecordedEvent] = []
        dead: list[Message] = []
        for record in records:
            try:
                events.append(parse_cloudevent(decode_envelope(record.value), self.registry, self._reads))
            except (ValueError, MalformedEnvelope, UnknownEventType) as exc:
                if (message := await self._dead_letter(conn, record, exc)) is not None:
                    dead.append(message)
        fresh = await self._claim_batch(conn, events)
        try:
            apply_batch = getattr(self.handler, "apply_batch", None)
            if apply_batch is not None:
                await apply_batch(fresh, conn)
            else:
                for event in fresh:
                    await self.handler.apply(event, conn)
        except Exception as exc:
            if database_unavailable(exc):
                raise  # the database is unwell, not an event: the batch is retried as it is
            raise _EventFailed from exc
        return len(fresh), dead

    async def _handle(self, conn: AsyncConnection, record: Received) -> _Outcome:
        """One event in its own savepoint: the slow path, after the batch failed on the fast one."""
        try:
            event = parse_cloudevent(decode_envelope(record.value), self.registry, self._reads)
        except (ValueError, MalformedEnvelope, UnknownEventType) as exc:
            return _Outcome(dead_letter=await self._dead_letter(conn, record, exc))
        if not await self._claim(conn, event):
            return _Outcome()  # a redelivery: already applied in an earlier transaction
        outcome = _Outcome(applied=True)
        try:
            async with conn.begin_nested():
                await self.handler.apply(event, conn)
        except Exception as exc:  # the handler's partial writes are rolled back to the savepoint
            if database_unavailable(exc):
                raise  # the database is unwell, not the event: fail the batch so it is retried
            outcome = _Outcome(dead_letter=await self._dead_letter(conn, record, exc))
        return outcome

    async def _claim_batch(self, conn: AsyncConnection, events: list[RecordedEvent]) -> list[RecordedEvent]:
        """Claim the batch's events for this consumer; those not applied before, in order.

        The streams' stored versions are read with their rows locked (in stream order, so two instances
        lock alike): an instance racing after a rebalance waits here, then reads the version the other
        committed. A stream with no row yet is inserted; if another instance inserted it meanwhile, the
        insert does nothing and the batch is retried (``ClaimRaced``), never applied twice.
        """
        if not events:
            return []
        latest: dict[str, RecordedEvent] = {}
        for event in events:
            if event.stream_id not in latest or event.stream_version > latest[event.stream_id].stream_version:
                latest[event.stream_id] = event
        streams = sorted(latest)
        table = consumed_streams
        stored: dict[str, int] = {}
        postgres = conn.dialect.name == "postgresql"
        if postgres:  # one array parameter, not thousands of bound ones
            found = await conn.execute(_STORED_CLAIMS, {"consumer": self.name, "streams": streams})
            stored.update({stream: version for stream, version in found})
        else:
            for chunk in _chunks(streams, CLAIM_CHUNK):
                found = await conn.execute(
                    select(table.c.stream_id, table.c.version)
                    .where(table.c.consumer == self.name, table.c.stream_id.in_(chunk))
                    .order_by(table.c.stream_id)
                )
                stored.update({stream: version for stream, version in found})
        new = [latest[s] for s in streams if s not in stored]
        advanced = [latest[s] for s in streams if s in stored and latest[s].stream_version > stored[s]]
        if new:
            if postgres:
                claimed = await conn.execute(_INSERT_CLAIMS, self._claim_arrays(new))
                inserted = {stream for (stream,) in claimed}
            else:  # one writer at a time on SQLite: nobody can have inserted meanwhile
                await conn.execute(consumed_streams.insert(), [self._claim_row(e) for e in new])
                inserted = {e.stream_id for e in new}
            if len(inserted) < len(new):
                raise ClaimRaced(f"{len(new) - len(inserted)} stream(s) claimed by another instance")
        if advanced:
            if postgres:
                await conn.execute(_UPDATE_CLAIMS, self._claim_arrays(advanced))
            else:
                params = [
                    {
                        "w_consumer": self.name,
                        "w_stream": e.stream_id,
                        "version": e.stream_version,
                        "event_id": str(e.event_id),
                    }
                    for e in advanced
                ]
                await conn.execute(_UPDATE_CLAIM, params)
        fresh = []
        for event in events:  # in order, each version once: a batch may hold a redelivery too
            if event.stream_version > stored.get(event.stream_id, 0):
                stored[event.stream_id] = event.stream_version
                fresh.append(event)
        return fresh

    def _claim_row(self, event: RecordedEvent) -> dict[str, Any]:
        return {
            "consumer": self.name,
            "stream_id": event.stream_id,
            "version": event.stream_version,
            "event_id": str(event.event_id),
        }

    def _claim_arrays(self, events: list[RecordedEvent]) -> dict[str, Any]:
        return {
            "consumer": self.name,
            "streams": [e.stream_id for e in events],
            "versions": [e.stream_version for e in events],
            "events": [str(e.event_id) for e in events],
        }

    async def _claim(self, conn: AsyncConnection, event: RecordedEvent) -> bool:
        """Record that this consumer applies ``event``; False if it (or a later version) already was.

        One statement, so two instances racing after a rebalance cannot both claim the same event: the
        second waits on the row the first inserted or updated, then finds its version not newer.
        """
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = insert(consumed_streams).values(
            consumer=self.name,
            stream_id=event.stream_id,
            version=event.stream_version,
            event_id=str(event.event_id),
        )
        claimed = await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["consumer", "stream_id"],
                set_={"version": statement.excluded.version, "event_id": statement.excluded.event_id},
                where=consumed_streams.c.version < statement.excluded.version,
            ).returning(consumed_streams.c.version)
        )
        return claimed.first() is not None

    async def _dead_letter(
        self, conn: AsyncConnection, record: Received, error: BaseException
    ) -> Message | None:
        logged = select(dead_letter_log.c.id).where(
            dead_letter_log.c.consumer == self.name,
            dead_letter_log.c.topic == record.topic,
            dead_letter_log.c.partition == record.partition,
            dead_letter_log.c.offset == record.offset,
        )
        if (await conn.execute(logged)).first() is not None:
            return None  # dead-lettered by an earlier, committed pass over this record
        log.error(
            "consumer.dead_letter",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=repr(error),
        )
        await conn.execute(
            dead_letter_log.insert().values(
                consumer=self.name,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=repr(error)[:2000],
                recorded_at=utcnow(),
            )
        )
        return Message(
            topic=dead_letter_topic(),
            key=record.key or "",
            value=record.value,
            headers=(
                *record.headers,
                ("dlq_error", repr(error)[:2000].encode()),
                ("dlq_consumer", self.name.encode()),
                ("dlq_source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ),
        )

    async def _stored_offsets(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        if not assigned:
            return {}
        async with self._applying, self.engine.connect() as conn:
            rows = await conn.execute(
                select(checkpoints.c.topic, checkpoints.c.partition, checkpoints.c.next_offset).where(
                    checkpoints.c.consumer == self.name,
                    or_(*(and_(checkpoints.c.topic == t, checkpoints.c.partition == p) for t, p in assigned)),
                )
            )
            stored = {TopicPartition(t, p): o for t, p, o in rows}
        self.positions.update(stored)
        return stored

    async def lag(self) -> int:
        """Records on the assigned partitions not yet applied."""
        ends = await self.subscriber.end_offsets()
        return sum(max(0, end - self.positions.get(tp, 0)) for tp, end in ends.items())

    async def wait_until(self, done: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
        """Return once ``done()`` holds, re-checking after every committed batch (no sleeping guesses)."""

        async with asyncio.timeout(timeout):
            while not await done():
                # The bounded wait also covers a runner in another process writing the same database.
                with contextlib.suppress(TimeoutError):
                    async with self._progress, asyncio.timeout(0.25):
                        await self._progress.wait()

    async def wait_for_stream(self, stream_id: str, version: int, timeout: float = 30.0) -> None:
        """Wait until this consumer has applied ``stream_id`` up to ``version`` (read-your-writes)."""
        await self.wait_until(
            lambda: applied_version_at_least(self.engine, self.name, stream_id, version), timeout
        )


async def applied_version_at_least(engine: AsyncEngine, consumer: str, stream_id: str, version: int) -> bool:
    async with engine.connect() as conn:
        last = (
            await conn.execute(
                select(consumed_streams.c.version).where(
                    consumed_streams.c.consumer == consumer, consumed_streams.c.stream_id == stream_id
                )
            )
        ).scalar_one_or_none()
    return last is not None and last >= version
