"""Command-to-projection latency through Kafka at a steady rate, beside bare produce-to-consume latency.

Platform: commands arrive open-loop at ``latency_rate`` per second (each append its own task, as
concurrent requests would be), each appending one event through ``EventStore.append`` (PostgreSQL); the
store's ``after_commit`` wakes an ``OutboxRelay.run()`` task, which publishes to Kafka; a
``ConsumerRunner.run()`` task applies the counter projection. All three run in this one process, like
``shared.runtime.ServiceRuntime``. Latency = the moment the projection applied the event (inside its
batch transaction, just before the commit) minus the moment ``append`` returned (committed).

Baseline: a bare idempotent ``AIOKafkaProducer`` sending the same kind of records at the same rate to a
bare ``AIOKafkaConsumer`` in the same process; latency = received minus handed to ``send()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.config import Sizes
from bench.counter import CounterProjection, create_counters
from bench.measure import Figures, Step, percentile
from bench.relay import raw_producer
from bench.services import Services
from bench.workload import META, SOURCE, envelope_messages, event, new_topic
from shared.consumer import ConsumerRunner
from shared.contracts import registry
from shared.db import create_engine
from shared.eventstore import EventStore
from shared.migrations import upgrade
from shared.relay import OutboxRelay
from shared.transport import Message
from shared.transport.kafka import KafkaPublisher, KafkaSubscriber
from tests.harness.kafka import create_topics

Action = Callable[[int], Coroutine[Any, Any, None]]
STREAMS = 50  # commands rotate over these, so one stream sees one command every STREAMS / rate seconds
WARMUP = 20
DRAIN_TIMEOUT = 60.0


async def paced(count: int, rate: float, action: Action) -> float:
    """Start ``action(i)`` at t0 + i / rate, open loop (never waiting for earlier ones); the achieved rate."""
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(action(i)))
    span = time.perf_counter() - start
    await asyncio.gather(*tasks)
    return (count - 1) / span if span > 0 else float(count)


def _ms(origin: dict[str, float], arrival: dict[str, float]) -> list[float]:
    missing = origin.keys() - arrival.keys()
    assert not missing, f"{len(missing)} event(s) never arrived"
    return [(arrival[k] - t) * 1000 for k, t in origin.items()]


def _stats(prefix: str, samples: Sequence[float], *, quantiles: Sequence[int] = (50, 95, 99)) -> Figures:
    figures = {f"{prefix}_p{q}_ms": percentile(samples, q) for q in quantiles}
    figures[f"{prefix}_max_ms"] = max(samples)
    return figures


def _ce_id(headers: Sequence[tuple[str, bytes]]) -> str:
    return next(v.decode() for k, v in headers if k == "ce_id")


class AckClock:
    """A ``Publisher`` wrapper noting when the broker acknowledged each event (for the latency breakdown)."""

    def __init__(self, inner: KafkaPublisher, stamps: dict[str, float]) -> None:
        self.inner = inner
        self.stamps = stamps

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, messages: Sequence[Message]) -> None:
        await self.inner.publish(messages)
        now = time.perf_counter()
        for m in messages:
            self.stamps[_ce_id(m.headers)] = now


async def raw_latency(bootstrap: str, sizes: Sizes) -> Figures:
    topic = new_topic("latency-raw")
    await create_topics(bootstrap, [topic], partitions=sizes.partitions)
    count = round(sizes.latency_rate * sizes.latency_seconds)
    messages = envelope_messages(topic, WARMUP + count, STREAMS)
    producer = raw_producer(bootstrap, "bench-latency-producer")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        client_id="bench-latency-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    acks: list[asyncio.Future[object]] = []

    wanted = [0]
    arrived = asyncio.Event()

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    received[_ce_id(record.headers)] = now
            if len(received) >= wanted[0]:
                arrived.set()

    async def wait_received(n: int) -> None:
        wanted[0] = n
        arrived.clear()
        if len(received) < n:
            await asyncio.wait_for(arrived.wait(), DRAIN_TIMEOUT)

    def sender(offset: int, into: dict[str, float]) -> Action:
        async def send(i: int) -> None:
            m = messages[offset + i]
            into[_ce_id(m.headers)] = time.perf_counter()
            acks.append(
                await producer.send(m.topic, value=m.value, key=m.key.encode(), headers=list(m.headers))
            )

        return send

    await producer.start()
    await consumer.start()
    reader = asyncio.create_task(consume())
    try:
        await paced(WARMUP, sizes.latency_rate, sender(0, {}))
        await wait_received(WARMUP)
        cpu = time.process_time()
        await paced(count, sizes.latency_rate, sender(WARMUP, sent))
        await asyncio.gather(*acks)
        await wait_received(WARMUP + count)
        cpu = time.process_time() - cpu
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await consumer.stop()
        await producer.stop()
    return {
        **_stats("raw_kafka_latency", _ms(sent, received)),
        "raw_kafka_cpu_ms_per_event": cpu * 1000 / count,
    }


async def platform_latency(services: Services, sizes: Sizes) -> Figures:
    bootstrap = services.bootstrap
    topic = new_topic("latency")
    await create_topics(bootstrap, [topic], partitions=sizes.partitions)
    count = round(sizes.latency_rate * sizes.latency_seconds)
    database = services.new_database("bench_latency")
    engine = create_engine(database.url)
    appended: dict[str, float] = {}
    acked: dict[str, float] = {}
    applied: dict[str, float] = {}
    name = f"bench-latency-{uuid.uuid4().hex[:8]}"
    store = EventStore(engine, registry, source=SOURCE, topic=topic)
    publisher = KafkaPublisher(bootstrap, client_id="bench-latency")
    relay = OutboxRelay(engine, AckClock(publisher, acked), name=name, source=SOURCE, topic=topic)
    store.after_commit.append(relay.wake)  # as shared.runtime wires it
    runner = ConsumerRunner(
        engine,
        KafkaSubscriber(bootstrap, client_id="bench-latency"),
        CounterProjection(name, topic, stamps=applied),
        registry=registry,
        dead_letters=publisher,
    )
    versions: dict[str, int] = defaultdict(int)
    # A slow moment can leave one stream's previous command still in flight: queue behind it (asyncio
    # locks are FIFO and tasks start in order) instead of conflicting. The wait is not in the latency.
    locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def appender(offset: int, into: dict[str, float]) -> Action:
        async def append(i: int) -> None:
            stream = f"lat-{i % STREAMS}"
            async with locks[stream]:
                recorded = await store.append(
                    stream, [event(offset + i)], expected_version=versions[stream], metadata=META
                )
                into[str(recorded[0].event_id)] = time.perf_counter()
                versions[stream] += 1

        return append

    async def applied_at_least(n: int) -> None:
        async def done() -> bool:
            for task in tasks:
                if task.done():
                    task.result()  # a dead relay or runner raises here instead of timing out
            return runner.applied_total >= n

        await runner.wait_until(done, timeout=DRAIN_TIMEOUT)

    tasks: list[asyncio.Task[None]] = []
    try:
        await upgrade(engine)
        await create_counters(engine)
        await publisher.start()
        tasks = [asyncio.create_task(relay.run()), asyncio.create_task(runner.run())]
        await paced(WARMUP, sizes.latency_rate, appender(0, {}))
        await applied_at_least(WARMUP)
        cpu = time.process_time()
        rate = await paced(count, sizes.latency_rate, appender(WARMUP, appended))
        await applied_at_least(WARMUP + count)
        cpu = time.process_time() - cpu
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await publisher.stop()
        await engine.dispose()
    return {
        **_stats("latency", _ms(appended, applied)),
        **_stats("latency_to_kafka", _ms(appended, acked), quantiles=(50, 99)),
        # This process's CPU (appends, relay, runner; not PostgreSQL's or Kafka's) per command.
        "latency_cpu_ms_per_event": cpu * 1000 / count,
        "latency_events": float(count),
        "latency_rate_events_per_s": rate,
    }


async def bench_latency(services: Services, sizes: Sizes, step: Step) -> Figures:
    figures = await raw_latency(services.bootstrap, sizes)
    step("bare aiokafka done")
    figures |= await platform_latency(services, sizes)
    step("platform done")
    return figures
