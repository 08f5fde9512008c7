"""Projection consume rate: a ``ConsumerRunner`` (PostgreSQL + ``KafkaSubscriber``) applying the counter
projection to N records already on a topic, beside a bare ``AIOKafkaConsumer`` reading the same N
records with no database work.

Both sides join a fresh consumer group each round and are timed from the partition assignment (the
end of the group join, left out on both sides) to the last record: for the runner, the commit that
makes ``applied_total`` reach N, seen through ``ConsumerRunner.wait_until``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTP

from bench.config import Sizes
from bench.counter import CounterProjection, NoDeadLetters, create_counters
from bench.measure import Figures, Step, alternate
from bench.relay import raw_producer, send_all
from bench.services import Services
from bench.workload import envelope_messages, new_topic
from shared.consumer import ConsumerRunner
from shared.contracts import registry
from shared.db import create_engine
from shared.migrations import upgrade
from shared.transport import OnAssign, Received, Subscriber, TopicPartition
from shared.transport.kafka import KafkaSubscriber
from tests.harness.kafka import create_topics

STREAMS = 100
FETCH_TIMEOUT_MS = 200  # the runner's default
MAX_RECORDS = 500  # the runner's default batch size


class AssignmentClock:
    """A ``Subscriber`` wrapper noting when partitions were assigned: the group join is not timed."""

    def __init__(self, inner: Subscriber) -> None:
        self.inner = inner
        self.assigned: float | None = None

    async def start(self, topics: Sequence[str], group: str, on_assign: OnAssign) -> None:
        async def timed(tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            if self.assigned is None:
                self.assigned = time.perf_counter()
            return await on_assign(tps)

        await self.inner.start(topics, group, timed)

    async def stop(self) -> None:
        await self.inner.stop()

    async def fetch(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Received]]:
        return await self.inner.fetch(timeout_ms, max_records)

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return await self.inner.end_offsets()


class _RawAssignmentClock(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.assigned: float | None = None

    async def on_partitions_revoked(self, revoked: list[KafkaTP]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[KafkaTP]) -> None:
        if self.assigned is None:
            self.assigned = time.perf_counter()


async def consume_raw(bootstrap: str, topic: str, count: int) -> tuple[int, float]:
    """Read ``count`` records from the start of ``topic`` in a fresh group, like ``KafkaSubscriber``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="bench-raw-consumer",
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    clock = _RawAssignmentClock()
    consumer.subscribe([topic], listener=clock)
    await consumer.start()
    try:
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=MAX_RECORDS)
            seen += sum(len(records) for records in batch.values())
        assert clock.assigned is not None
        return seen, time.perf_counter() - clock.assigned
    finally:
        await consumer.stop()


async def run_until(
    runner: ConsumerRunner, clock: AssignmentClock, done: Callable[[], Awaitable[bool]], timeout: float
) -> tuple[int, float]:
    """Run ``runner`` until ``done()``: the events it applied, and the seconds from its partitions'
    assignment to the commit that made ``done()`` hold. A runner that dies raises here, not a timeout."""
    task = asyncio.create_task(runner.run())

    async def finished() -> bool:
        if task.done():
            task.result()
        return await done()

    try:
        await runner.wait_until(finished, timeout=timeout)
        end = time.perf_counter()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert clock.assigned is not None
    return runner.applied_total, end - clock.assigned


async def bench_projection(services: Services, sizes: Sizes, step: Step) -> Figures:
    bootstrap = services.bootstrap
    topic = new_topic("projection")
    count = sizes.projection_events
    await create_topics(bootstrap, [topic], partitions=sizes.partitions)
    producer = raw_producer(bootstrap, "bench-projection-producer")
    await producer.start()
    try:
        await send_all(producer, envelope_messages(topic, count, STREAMS))
    finally:
        await producer.stop()

    database = services.new_database("bench_projection")
    engine = create_engine(database.url)
    try:
        await upgrade(engine)
        await create_counters(engine)

        async def runner_round(_round: int) -> tuple[int, float]:
            handler = CounterProjection(f"bench-projection-{uuid.uuid4().hex[:8]}", topic)
            clock = AssignmentClock(KafkaSubscriber(bootstrap, client_id="bench-projection"))
            runner = ConsumerRunner(engine, clock, handler, registry=registry, dead_letters=NoDeadLetters())

            async def all_applied() -> bool:
                return runner.applied_total >= count

            return await run_until(runner, clock, all_applied, timeout=max(120.0, count / 20))

        async def raw_round(_round: int) -> tuple[int, float]:
            return await consume_raw(bootstrap, topic, count)

        pair = await alternate(
            sizes.rounds, runner_round, raw_round, step=step, names=("ConsumerRunner", "bare consumer")
        )
        return {
            "projection_events_per_s": pair.target,
            "raw_consume_events_per_s": pair.baseline,
            "projection_ratio": pair.ratio,
        }
    finally:
        await engine.dispose()
