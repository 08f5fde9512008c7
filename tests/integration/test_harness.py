"""The test harness itself: the session's PostgreSQL and Kafka are real, isolated and survive restarts."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg  # no stubs; not in pyproject mypy overrides
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.harness.kafka import KafkaBroker, broker_answers, create_topics
from tests.harness.postgres import PostgresServer

RECEIVE_TIMEOUT = 30.0


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_postgres_answers_on_a_new_database(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+asyncpg://")
    conn = await asyncpg.connect(_asyncpg_dsn(pg_url))
    try:
        version = await conn.fetchval("select version()")
        tables = await conn.fetchval("select count(*) from pg_tables where schemaname = 'public'")
    finally:
        await conn.close()
    assert str(version).startswith("PostgreSQL ")
    assert tables == 0


async def test_new_databases_are_isolated(postgres: PostgresServer) -> None:
    url_a, url_b = postgres.new_database("iso_a"), postgres.new_database("iso_b")
    assert url_a != url_b
    # Through SQLAlchemy, since that is how the services consume these URLs.
    engine_a, engine_b = create_async_engine(url_a), create_async_engine(url_b)
    try:
        async with engine_a.begin() as conn:
            await conn.execute(text("create table only_in_a (id int)"))
        async with engine_b.connect() as conn:
            found = await conn.scalar(text("select to_regclass('public.only_in_a') is not null"))
            name_b = await conn.scalar(text("select current_database()"))
        async with engine_a.connect() as conn:
            name_a = await conn.scalar(text("select current_database()"))
    finally:
        await engine_a.dispose()
        await engine_b.dispose()
    assert found is False
    assert name_a != name_b
    assert url_a.endswith(f"/{name_a}") and url_b.endswith(f"/{name_b}")


async def test_kafka_round_trip_with_idempotent_producer(kafka_bootstrap: str) -> None:
    topic = _unique("harness-roundtrip")
    await create_topics(kafka_bootstrap, [topic])
    await create_topics(kafka_bootstrap, [topic])  # an existing topic is not an error

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topic, value=b"hello", key=b"k-1", headers=[("trace-id", b"abc123")]
        )
    finally:
        await producer.stop()
    assert meta.topic == topic and meta.offset == 0

    # A consumer group, as the services use: exercises the group coordinator and __consumer_offsets.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=_unique("harness-group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), RECEIVE_TIMEOUT)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (msg.key, msg.value) == (b"k-1", b"hello")
    assert list(msg.headers) == [("trace-id", b"abc123")]


async def test_postgres_restart_keeps_data(postgres: PostgresServer) -> None:
    if not postgres.can_restart:
        pytest.skip(f"this PostgreSQL cannot be restarted by the tests ({postgres.how})")
    dsn = _asyncpg_dsn(postgres.new_database("restart"))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("create table kept (v text); insert into kept values ('survives')")
    finally:
        await conn.close()

    await asyncio.to_thread(postgres.stop)
    try:
        with pytest.raises((OSError, asyncpg.PostgresError)):
            await asyncpg.connect(dsn, timeout=5)
    finally:
        # Whatever happens, leave the shared server running for the rest of the session.
        await asyncio.to_thread(postgres.start)

    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("select v from kept") == "survives"
    finally:
        await conn.close()


async def test_kafka_restart_keeps_messages(kafka: KafkaBroker) -> None:
    if not kafka.can_restart:
        pytest.skip(f"this Kafka cannot be restarted by the tests ({kafka.how})")
    topic = _unique("harness-restart")
    await create_topics(kafka.bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=b"durable", key=b"k")
    finally:
        await producer.stop()

    await asyncio.to_thread(kafka.stop)
    try:
        with pytest.raises(KafkaConnectionError):
            await broker_answers(kafka.bootstrap, timeout_ms=2000)
    finally:
        # Whatever happens, leave the shared broker running for the rest of the session.
        await asyncio.to_thread(kafka.start)

    # No group: assign the partition directly, so only the log's persistence is under test.
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        msg = await asyncio.wait_for(consumer.getone(), RECEIVE_TIMEOUT)
    finally:
        await consumer.stop()
    assert (msg.key, msg.value) == (b"k", b"durable")
