"""Faults around the processes, while commands keep coming: the Kafka broker and the PostgreSQL server
restarting, poison records in a topic, every event delivered twice (a rebalance onto a second
projection instance, and a relay publishing its whole outbox again), and processes whose clocks
disagree. After each, the same checks as after a SIGKILL (tests/chaos/checks.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.events import Actor, EventMetadata, build_cloudevent
from tests.chaos.conftest import Chaos
from tests.conftest import _on_ci

LIBFAKETIME = next(
    (
        p
        for p in (
            Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"),
            Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1"),
        )
        if p.exists()
    ),
    None,
)


async def test_a_kafka_restart_loses_nothing_and_the_api_keeps_taking_commands(chaos: Chaos) -> None:
    if not chaos.kafka.can_restart:
        pytest.skip(f"this Kafka cannot be restarted by the tests ({chaos.kafka.how})")

    async def fault() -> None:
        await asyncio.to_thread(chaos.kafka.stop)
        async with chaos.client() as http:
            # An api process needs only its database: commands go on into the outbox.
            ready = (await http.get("/ledger/ready")).json()
            assert ready["checks"] == {"database": "ok"}, ready
            answer = await http.post(
                f"/institutions/kelurahan/{chaos.target.kelurahan[0]}/people",
                json={"name": "Relawan Saat Kafka Mati", "woman": True},
            )
            assert answer.status_code == 201, answer.text
        await asyncio.to_thread(chaos.kafka.start)

    await chaos.under_load("kafka restart", fault)


async def test_a_postgres_restart_answers_503_meanwhile_and_recovers_by_itself(chaos: Chaos) -> None:
    if not chaos.postgres.can_restart:
        pytest.skip(f"this PostgreSQL cannot be restarted by the tests ({chaos.postgres.how})")

    async def fault() -> None:
        await asyncio.to_thread(chaos.postgres.stop)
        try:
            async with chaos.client() as http:
                ready = await http.get("/ledger/ready")
                assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith(
                    "unavailable"
                )
                refused = await http.post(
                    f"/institutions/kelurahan/{chaos.target.kelurahan[0]}/people",
                    json={"name": "Relawan Saat Basis Data Mati", "woman": False},
                )
                assert refused.status_code == 503, refused.text
                assert refused.headers["retry-after"] and "try again" in refused.json()["detail"]
        finally:
            await asyncio.to_thread(chaos.postgres.start)

    await chaos.under_load("postgres restart", fault, unavailable_ok=True)


async def test_poison_records_go_to_the_dead_letter_topic_and_consumption_continues(chaos: Chaos) -> None:
    prefix = chaos.platform.topic_prefix
    marker = uuid.uuid4().hex
    # A well-formed envelope of a type no consumer knows (a newer producer's event, say).
    unknown = build_cloudevent(
        event_id=str(uuid.uuid4()),
        source="/p2kp/ledger",
        event_type="p2kp.ledger.something-from-the-future.v9",
        stream_id=f"poison-{marker}",
        stream_version=1,
        position=1,
        time=datetime.now(UTC),
        metadata=EventMetadata(correlation_id=marker, causation_id=None, actor=Actor("chaos", "system", ())),
        data={},
    )
    poison = [b"{not json at all " + marker.encode(), json.dumps(unknown).encode()]

    sent_to: list[tuple[int, int]] = []  # (partition, offset) of each poison record

    async def fault() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=chaos.kafka.bootstrap)
        await producer.start()
        try:
            for value in poison:
                meta = await producer.send_and_wait(
                    f"{prefix}p2kp.ledger.events", value=value, key=marker.encode()
                )
                sent_to.append((meta.partition, meta.offset))
        finally:
            await producer.stop()

    await chaos.under_load("poison records", fault)

    # Every consumer of the ledger's topic dead-lettered both, once, and applied everything after them.
    consumers = {"monitoring": {"monitoring.facts.g1"}, "handover": {"handover.facts", "handover.feed"}}
    for service, names in consumers.items():
        engine = create_async_engine(chaos.platform.databases[service])
        try:
            for name in names:  # each consumer's checkpoint is past the poison
                await _checkpoint_past(engine, name, f"{prefix}p2kp.ledger.events", *max(sent_to))
            async with engine.connect() as conn:
                logged = (
                    await conn.execute(
                        text("SELECT consumer, error FROM dead_letter_log WHERE topic = :t"),
                        {"t": f"{prefix}p2kp.ledger.events"},
                    )
                ).all()
        finally:
            await engine.dispose()
        for name in names:
            errors = [e for c, e in logged if c == name]
            assert len(errors) == 2, (name, logged)
            assert any("UnknownEventType" in e for e in errors) and any(
                "JSONDecodeError" in e for e in errors
            )
    letters = await _read_all(chaos.kafka.bootstrap, f"{prefix}p2kp.deadletter")
    ours = [r for r in letters if r.key == marker.encode()]
    assert {dict(r.headers)["dlq_consumer"].decode() for r in ours} >= {
        "monitoring.facts.g1",
        "handover.feed",
    }
    assert all(r.value in poison and dict(r.headers)["dlq_error"] for r in ours)


async def test_every_event_delivered_twice_has_one_effect(chaos: Chaos) -> None:
    chaos.platform.roles["monitoring-consumers-2"] = ("monitoring", "consumers")

    async def fault() -> None:
        # A second projection instance joins the group: the partitions are shared out again.
        await chaos.restart("monitoring-consumers-2")
        # And the ledger's relay publishes its whole outbox again, as after a crash before marking.
        engine = create_async_engine(chaos.platform.databases["ledger"])
        try:
            async with engine.begin() as conn:
                again = await conn.execute(text("UPDATE outbox SET published_at = NULL"))
                assert again.rowcount > 100
        finally:
            await engine.dispose()

    await chaos.under_load("duplicate delivery", fault)
    chaos.platform.kill("monitoring-consumers-2")


async def test_clocks_that_disagree_reorder_nothing(chaos: Chaos) -> None:
    if LIBFAKETIME is None:
        missing = "libfaketime is missing (make test installs it: deploy/ensure-faketime.sh)"
        if _on_ci():  # CI=true (or 1, yes), as for every other missing service
            pytest.fail(missing)
        pytest.skip(missing)
    skew = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    # The ledger's api runs seven minutes ahead, the projections five minutes behind.
    chaos.platform.own_env["ledger-api"] = {**skew, "FAKETIME": "+7m"}
    chaos.platform.own_env["monitoring-consumers"] = {**skew, "FAKETIME": "-5m"}

    async def fault() -> None:
        for name in ("ledger-api", "monitoring-consumers"):
            chaos.platform.kill(name)
        await chaos.restart("ledger-api", "monitoring-consumers")

    await chaos.under_load("clock skew", fault)
    engine = create_async_engine(chaos.platform.databases["ledger"])
    try:
        async with engine.connect() as conn:
            newest = (await conn.execute(text("SELECT max(recorded_at) FROM events"))).scalar_one()
    finally:
        await engine.dispose()
    # The skew was real: the ledger stamped its last events minutes in the future.
    assert newest > datetime.now(UTC) + timedelta(minutes=3)


async def _checkpoint_past(
    engine: AsyncEngine, consumer: str, topic: str, partition: int, offset: int
) -> None:
    """Wait (bounded) until ``consumer``'s stored position on the partition is past ``offset``."""
    query = text("SELECT next_offset FROM checkpoints WHERE consumer = :c AND topic = :t AND partition = :p")
    async with asyncio.timeout(60):
        while True:
            async with engine.connect() as conn:
                stored = (await conn.execute(query, {"c": consumer, "t": topic, "p": partition})).scalar()
            if stored is not None and stored > offset:
                return
            await asyncio.sleep(0.2)  # re-reading the checkpoint the consumer commits


async def _read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic``, from the start to its end now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, described
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            records += [r for rs in batch.values() for r in rs]
        return records
    finally:
        await consumer.stop()
