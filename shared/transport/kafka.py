"""Apache Kafka transport (aiokafka): an idempotent producer and a consumer that seeks to stored offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTP

from shared.transport import Message, OnAssign, PublishFailed, Received, TopicPartition


class KafkaPublisher:
    def __init__(self, bootstrap: str, *, client_id: str, linger_ms: int = 5) -> None:
        self._bootstrap, self._client_id, self._linger_ms = bootstrap, client_id, linger_ms
        self._started: AIOKafkaProducer | None = None

    @property
    def _producer(self) -> AIOKafkaProducer:
        assert self._started is not None, "start() first"
        return self._started

    async def start(self) -> None:
        # Created here, not in __init__: aiokafka binds to the running event loop.
        # enable_idempotence forces acks=all and lets the broker drop the producer's own retries;
        # aiokafka sends one batch per partition at a time, so per-key order survives retries.
        self._started = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            request_timeout_ms=15000,
        )
        await self._started.start()

    async def stop(self) -> None:
        if self._started is not None:
            await self._started.stop()
            self._started = None

    async def ping(self) -> bool:
        """Whether the cluster answers a metadata request (for /ready)."""
        try:
            async with asyncio.timeout(3.0):
                await self._producer.client.fetch_all_metadata()
        except Exception:
            return False
        return True

    async def publish(self, messages: Sequence[Message]) -> None:
        futures = [
            await self._producer.send(
                m.topic, value=m.value, key=m.key.encode(), headers=list(m.headers) or None
            )
            for m in messages
        ]
        results = await asyncio.gather(*futures, return_exceptions=True)
        for acked, result in enumerate(results):
            if isinstance(result, BaseException):
                raise PublishFailed(acked, result)


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    """On every assignment, resume each partition at the offset the consumer stored itself."""

    def __init__(self, consumer: AIOKafkaConsumer, on_assign: OnAssign) -> None:
        self._consumer = consumer
        self._on_assign = on_assign

    async def on_partitions_revoked(self, revoked: list[KafkaTP]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[KafkaTP]) -> None:
        stored = await self._on_assign([TopicPartition(tp.topic, tp.partition) for tp in assigned])
        for tp in assigned:
            offset = stored.get(TopicPartition(tp.topic, tp.partition))
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)


class KafkaSubscriber:
    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, topics: Sequence[str], group: str, on_assign: OnAssign) -> None:
        # Offsets committed to Kafka are never trusted: the consumer's own database holds the truth.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._consumer.subscribe(list(topics), listener=_SeekToStored(self._consumer, on_assign))
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def fetch(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Received]]:
        assert self._consumer is not None, "start() first"
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        return {
            TopicPartition(tp.topic, tp.partition): [
                Received(
                    topic=r.topic,
                    partition=r.partition,
                    offset=r.offset,
                    key=r.key.decode() if r.key is not None else None,
                    value=r.value or b"",
                    headers=tuple(r.headers),
                )
                for r in records
            ]
            for tp, records in batch.items()
        }

    async def end_offsets(self) -> dict[TopicPartition, int]:
        assert self._consumer is not None, "start() first"
        assigned = list(self._consumer.assignment())
        if not assigned:
            return {}
        ends = await self._consumer.end_offsets(assigned)
        return {TopicPartition(tp.topic, tp.partition): offset for tp, offset in ends.items()}
