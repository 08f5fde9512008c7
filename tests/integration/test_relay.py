"""The outbox relay on both backends: order, keys and headers, and a kill in the middle of a batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import pytest

from shared.events import Actor, EventMetadata
from shared.relay import OutboxRelay
from shared.transport import Message, Publisher
from tests.integration.conftest import Backend, new_topic
from tests.integration.test_eventstore import period

META = EventMetadata(correlation_id="c-relay", causation_id=None, actor=Actor("tester", "national_admin"))


class ProcessKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way up may catch and recover from it."""


class DiesMidBatch:
    """Hands the first ``survive`` messages to the real transport (acknowledged), then the process dies."""

    def __init__(self, real: Publisher, survive: int) -> None:
        self.real, self.survive = real, survive

    async def start(self) -> None:
        await self.real.start()

    async def stop(self) -> None:
        await self.real.stop()

    async def publish(self, messages: Sequence[Message]) -> None:
        await self.real.publish(messages[: self.survive])
        raise ProcessKilled


async def drain(relay: OutboxRelay) -> int:
    total = 0
    while published := await relay.publish_pending():
        total += published
    return total


async def test_relay_publishes_in_position_order_keyed_by_stream(backend: Backend) -> None:
    topic = new_topic()
    await backend.new_topics(topic)
    store = await backend.store(topic)
    appended = []
    for n in range(6):
        stream = f"stream-{n % 3}"
        appended += await store.append(stream, [period(n)], expected_version=n // 3, metadata=META)
    publisher = backend.publisher()
    await publisher.start()
    relay = OutboxRelay(
        store.engine, publisher, name="t", source=store.source, topic=store.topic, batch_size=4
    )
    try:
        assert await drain(relay) == 6
    finally:
        await publisher.stop()
    assert await relay.backlog() == 0
    records = await backend.read_topic(topic, 6)
    assert [r.header("ce_id") for r in records] == [str(e.event_id) for e in appended]
    assert [r.key for r in records] == [e.stream_id for e in appended]
    assert [r.header("ce_type") for r in records] == ["p2kp.targeting.program-period-registered.v1"] * 6


@pytest.mark.parametrize("survive", [0, 7, 19])
async def test_relay_killed_mid_batch_loses_nothing_and_keeps_per_key_order(
    backend: Backend, survive: int
) -> None:
    topic = new_topic()
    await backend.new_topics(topic, partitions=3)
    store = await backend.store(topic)
    appended = []
    for n in range(40):  # eight streams, interleaved
        appended += await store.append(f"k-{n % 8}", [period(n)], expected_version=n // 8, metadata=META)

    dying = DiesMidBatch(backend.publisher(), survive)
    await dying.start()
    first = OutboxRelay(store.engine, dying, name="t", source=store.source, topic=store.topic, batch_size=25)
    with pytest.raises(ProcessKilled):
        await first.publish_pending()
    await dying.stop()
    assert await first.backlog() == 40, "nothing may be marked published before its batch is acknowledged"

    publisher = backend.publisher()
    await publisher.start()
    try:
        assert (
            await drain(
                OutboxRelay(store.engine, publisher, name="t", source=store.source, topic=store.topic)
            )
            == 40
        )
    finally:
        await publisher.stop()

    records = await backend.read_topic(topic, 40 + survive)
    assert len(records) == 40 + survive  # the survivors were re-sent: at least once, never lost
    assert {r.header("ce_id") for r in records} == {str(e.event_id) for e in appended}
    first_seen: dict[str, list[int]] = {}
    for r in records:
        assert r.key is not None
        version = int(r.header("ce_streamversion") or 0)
        seen = first_seen.setdefault(r.key, [])
        if version not in seen:
            seen.append(version)
    assert first_seen == {f"k-{k}": [1, 2, 3, 4, 5] for k in range(8)}


async def test_one_relay_per_service_publishes_and_a_standby_takes_over(postgres_backend: Backend) -> None:
    backend = postgres_backend
    topic = new_topic()
    await backend.new_topics(topic)
    store = await backend.store(topic)
    publishers = [backend.publisher(), backend.publisher()]
    for p in publishers:
        await p.start()
    # Two instances of one service's relay, each with its own engine (as two processes would have).
    active, standby = (
        OutboxRelay(
            backend.engine(),
            p,
            name=f"svc-{topic}",
            source=store.source,
            topic=store.topic,
            poll_interval=0.02,
        )
        for p in publishers
    )
    active_task = asyncio.create_task(active.run())
    await asyncio.wait_for(active.leading.wait(), 10)
    standby_task = asyncio.create_task(standby.run())
    try:
        for n in range(20):
            await store.append(f"s-{n % 4}", [period(n)], expected_version=n // 4, metadata=META)
        assert len(await backend.read_topic(topic, 20)) == 20
        assert not standby.leading.is_set()

        active_task.cancel()  # the leader stops (a dead process would drop its connection: same effect)
        await asyncio.wait_for(standby.leading.wait(), 10)
        for n in range(20, 30):
            await store.append(f"s-{n % 4}", [period(n)], expected_version=n // 4, metadata=META)
        records = await backend.read_topic(topic, 30)
        assert len(records) == 30
        assert len({r.header("ce_id") for r in records}) == 30  # nobody published anything twice
    finally:
        for task in (active_task, standby_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for p in publishers:
            await p.stop()
