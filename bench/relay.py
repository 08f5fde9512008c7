"""Relay throughput: ``OutboxRelay.publish_pending()`` draining N stored events to Kafka, beside a bare
idempotent ``AIOKafkaProducer`` sending the same N records (built beforehand) and awaiting every ack.

Both producers have the platform's settings (idempotence, so acks=all; linger 5 ms). The relay reads
its batch from PostgreSQL, builds the CloudEvents records, publishes them, waits for the acks and marks
the rows published, 500 rows at a time; the baseline only sends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from bench.config import Sizes
from bench.measure import Figures, Step, Stopwatch, alternate
from bench.services import Services
from bench.workload import META, SOURCE, event, new_topic
from shared.contracts import registry
from shared.db import create_engine, events, outbox
from shared.eventstore import EventStore
from shared.migrations import upgrade
from shared.relay import OutboxRelay, message_for
from shared.transport import Message
from shared.transport.kafka import KafkaPublisher
from tests.harness.kafka import create_topics

EVENTS_PER_STREAM = 100  # appended in one call per stream, so filling is quick (and not measured)


def raw_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    """The bare producer, configured like ``KafkaPublisher``'s."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15000,
    )


async def send_all(producer: AIOKafkaProducer, messages: Sequence[Message]) -> None:
    """Hand every record to the producer, then wait for every acknowledgement."""
    futures = [
        await producer.send(m.topic, value=m.value, key=m.key.encode(), headers=list(m.headers) or None)
        for m in messages
    ]
    await asyncio.gather(*futures)


async def fill(store: EventStore, count: int) -> None:
    """Append ``count`` events (not measured): new streams of up to EVENTS_PER_STREAM events each."""
    tag = uuid.uuid4().hex[:8]
    for first in range(0, count, EVENTS_PER_STREAM):
        batch = [event(n) for n in range(first, min(first + EVENTS_PER_STREAM, count))]
        await store.append(f"relay-{tag}-{first}", batch, expected_version=0, metadata=META)


async def pending_messages(store: EventStore) -> list[Message]:
    """Exactly the records the relay will publish next, built the relay's way."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(events)
            .join(outbox, outbox.c.position == events.c.position)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.position)
        )
        return [message_for(r, SOURCE, store.topic) for r in rows]


async def drain(relay: OutboxRelay) -> int:
    total = 0
    while published := await relay.publish_pending():
        total += published
    return total


async def bench_relay(services: Services, sizes: Sizes, step: Step) -> Figures:
    bootstrap = services.bootstrap
    topic = new_topic("relay")
    await create_topics(bootstrap, [topic], partitions=sizes.partitions)
    database = services.new_database("bench_relay")
    engine = create_engine(database.url)
    publisher = KafkaPublisher(bootstrap, client_id="bench-relay")
    producer = raw_producer(bootstrap, "bench-raw-producer")
    try:
        await upgrade(engine)
        store = EventStore(engine, registry, source=SOURCE, topic=topic)
        relay = OutboxRelay(engine, publisher, name="bench-relay", source=SOURCE, topic=topic)
        await publisher.start()
        await producer.start()
        # Warm-up: producer ids, metadata, pooled connections and compiled statements, both sides.
        await fill(store, 200)
        await send_all(producer, await pending_messages(store))
        await drain(relay)

        # Each round appends N fresh events first (untimed); the baseline sends their records, the
        # relay publishes the rows. Whichever side runs first in a round does the filling.
        prepared: dict[int, list[Message]] = {}

        async def prepare(r: int) -> list[Message]:
            if r not in prepared:
                await fill(store, sizes.relay_events)
                prepared[r] = await pending_messages(store)
            return prepared[r]

        async def relay_round(r: int) -> tuple[int, float]:
            expected = len(await prepare(r))
            clock = Stopwatch()
            published = await drain(relay)
            seconds = clock.elapsed()
            assert published == expected, f"relay published {published} of {expected}"
            return published, seconds

        async def raw_round(r: int) -> tuple[int, float]:
            messages = await prepare(r)
            clock = Stopwatch()
            await send_all(producer, messages)
            return len(messages), clock.elapsed()

        pair = await alternate(
            sizes.rounds, relay_round, raw_round, step=step, names=("relay", "bare producer")
        )
        return {
            "relay_kafka_events_per_s": pair.target,
            "raw_producer_events_per_s": pair.baseline,
            "relay_ratio": pair.ratio,
        }
    finally:
        await producer.stop()
        await publisher.stop()
        await engine.dispose()
