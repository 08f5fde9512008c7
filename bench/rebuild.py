"""Rebuild rate of the monitoring facts: a ``ConsumerRunner`` applying ``FactsProjection`` (PostgreSQL +
``KafkaSubscriber``, as ``Generations.rebuild`` runs it) to a national-size history on the four service
topics, beside a bare ``AIOKafkaConsumer`` reading the same records to the end with no database work.

The history is the program simulator's output replicated onto real cities (``national_events.py``).
Both sides are timed from the partition assignment to the last record: for the runner, the commit
that makes ``applied_total`` reach the count, seen through ``ConsumerRunner.wait_until``. The facts
tables are generation 1 of a fresh database; their digest and row counts show what the rebuild built.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTP
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.config import Sizes
from bench.measure import Figures, Step, Stopwatch
from bench.national_events import SERVICES, NationalHistory, program_slice
from bench.projection import FETCH_TIMEOUT_MS, MAX_RECORDS, AssignmentClock, run_until
from bench.relay import send_all
from bench.services import Services
from services.monitoring.facts import Facts, FactsProjection, facts_tables
from services.monitoring.generations import consumer_name, create_tables, digest
from services.monitoring.readmodels import MIGRATIONS
from shared.app import freeze_heap
from shared.consumer import ConsumerRunner
from shared.contracts import registry
from shared.db import create_engine
from shared.migrations import upgrade
from shared.transport import Message
from shared.transport.kafka import KafkaSubscriber
from shared.transport.topics import event_topic
from tests.harness.kafka import create_topics

TENTHS = 10  # progress steps while the rebuild runs
STEPS = 4 + TENTHS  # slice, records produced, bare consumer, the rebuild's tenths, the digest
PRODUCE_CHUNK = 20_000  # records handed to the producer before awaiting their acks
PRODUCE_BATCH_BYTES = 512 * 1024  # per partition; half of what the broker takes in one request
SLOWEST = 100.0  # events/s: the rebuild's timeout is count / SLOWEST (plus a margin)
MAIN_TABLES = ("targets", "steps", "meetings", "ksm", "tranches", "loans", "closings")


class DeadLetters:
    """The runner's dead-letter ``Publisher``: keeps them, so the phase fails at once with the error."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, messages: Sequence[Message]) -> None:
        self.messages.extend(messages)

    def first_error(self) -> str:
        headers = dict(self.messages[0].headers)
        return f"{len(self.messages)} event(s) dead-lettered, first: {headers['dlq_error'].decode()}"


def _chunks(messages: Iterable[Message], size: int) -> Iterator[list[Message]]:
    chunk: list[Message] = []
    for message in messages:
        chunk.append(message)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def produce(bootstrap: str, messages: Iterable[Message]) -> int:
    """Load the records (not measured): like ``raw_producer``, with batches large enough for a million."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="bench-rebuild-producer",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=PRODUCE_BATCH_BYTES,
        request_timeout_ms=30000,
    )
    await producer.start()
    sent = 0
    try:
        for chunk in _chunks(messages, PRODUCE_CHUNK):
            await send_all(producer, chunk)
            sent += len(chunk)
    finally:
        await producer.stop()
    return sent


async def consume_raw(
    bootstrap: str, topics: Sequence[str], partitions: int, count: int
) -> tuple[int, float]:
    """Read ``count`` records from the start of ``topics``, settings as ``KafkaSubscriber``'s. Its
    partitions are assigned, not joined as a group: what is timed starts where a group join ends."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="bench-rebuild-raw-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        assigned = [KafkaTP(t, p) for t in topics for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        clock = Stopwatch()
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=MAX_RECORDS)
            seen += sum(len(records) for records in batch.values())
        return seen, clock.elapsed()
    finally:
        await consumer.stop()


async def rebuild(
    engine: AsyncEngine, bootstrap: str, facts: Facts, topics: Sequence[str], count: int, step: Step
) -> tuple[int, float]:
    """Apply the ``count`` records to ``facts`` from the start, as a rebuild's new generation does."""
    projection = FactsProjection(facts, f"{consumer_name(facts.generation)}.bench-{uuid.uuid4().hex[:8]}")
    projection.topics = tuple(topics)
    clock = AssignmentClock(KafkaSubscriber(bootstrap, client_id="bench-rebuild"))
    dead_letters = DeadLetters()
    runner = ConsumerRunner(engine, clock, projection, registry=registry, dead_letters=dead_letters)
    reported = 0
    # As a `p2kp serve` process is once started (shared.app.settled_once_started): this process holds
    # the generated history, and full collections walking it took ~20 of the run's 50 CPU seconds.
    freeze_heap()

    async def rebuilt() -> bool:
        nonlocal reported
        if dead_letters.messages:
            raise RuntimeError(dead_letters.first_error())
        while reported < TENTHS - 1 and runner.applied_total >= count * (reported + 1) // TENTHS:
            reported += 1
            seconds = time.perf_counter() - (clock.assigned or 0.0)
            step(f"rebuild {reported * 100 // TENTHS} % ({runner.applied_total / seconds:,.0f} ev/s)")
        if runner.applied_total < count and sum(runner.positions.values()) >= count:
            raise RuntimeError(f"read all {count:,} records but applied {runner.applied_total:,}")
        return runner.applied_total >= count

    return await run_until(runner, clock, rebuilt, timeout=60 + count / SLOWEST)


async def built(engine: AsyncEngine, facts: Facts) -> tuple[dict[str, int], str]:
    """Each facts table's row count, and one digest of them all (``generations.digest``)."""
    async with engine.connect() as conn:
        digests = await digest(conn, facts)
        rows = {
            table.name.rsplit("_g", 1)[0]: int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in facts.tables
        }
    return rows, hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()


def topics_for(tag: str) -> Mapping[str, str]:
    """Each service's event topic under a prefix of this run's own (as ``P2KP_KAFKA_TOPIC_PREFIX``)."""
    return {s: f"bench-rebuild-{tag}.{event_topic(s)}" for s in SERVICES}


async def bench_rebuild(services: Services, sizes: Sizes, step: Step) -> Figures:
    bootstrap = services.bootstrap
    found, cached = await program_slice(sizes.rebuild_kelurahan)
    origin = "cached" if cached else "simulated"
    step(f"{len(found.records):,} events of {len(found.kelurahan)} kelurahan ({origin})")
    loading = Stopwatch()
    history = NationalHistory(found, sizes.rebuild_events)
    history.check(registry)
    topics = topics_for(uuid.uuid4().hex[:8])
    await create_topics(bootstrap, topics.values(), partitions=sizes.partitions)
    count = await produce(bootstrap, history.messages(topics))
    load_seconds = loading.elapsed()
    step(f"{count:,} records of {len(history.replicas)} cities on Kafka")

    raw_count, raw_seconds = await consume_raw(bootstrap, list(topics.values()), sizes.partitions, count)
    step(f"bare consumer {raw_count / raw_seconds:,.0f} ev/s")

    database = services.new_database("bench_rebuild")
    engine = create_engine(database.url)
    try:
        await upgrade(engine, MIGRATIONS)
        facts = facts_tables(1)
        await create_tables(engine, facts, fresh=True)
        applied, seconds = await rebuild(engine, bootstrap, facts, list(topics.values()), count, step)
        step(f"rebuild {applied / seconds:,.0f} ev/s")
        rows, fingerprint = await built(engine, facts)
        step(f"{sum(rows.values()):,} facts rows, digest {fingerprint[:12]}")
    finally:
        await engine.dispose()
    rate, raw_rate = applied / seconds, raw_count / raw_seconds
    return {
        "rebuild_events_per_s": rate,
        "rebuild_raw_consume_events_per_s": raw_rate,
        "rebuild_ratio": rate / raw_rate,
        "rebuild_events": count,
        "rebuild_seconds": seconds,
        "rebuild_load_seconds": load_seconds,  # replicating the slice and producing the records
        "rebuild_cities": len(history.replicas),
        "rebuild_kelurahan": history.kelurahan,
        "rebuild_facts_rows": sum(rows.values()),
        **{f"rebuild_rows_{name}": rows[name] for name in MAIN_TABLES},
        # The digest's first 48 bits (exact as a JSON number): the same history gives the same tables.
        "rebuild_digest": int(fingerprint[:12], 16),
    }
