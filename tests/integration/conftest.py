"""Backends for the storage and transport contract tests: SQLite with the embedded bus, and
PostgreSQL with Kafka (the real servers of the test harness)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.platform import build_embedded, quiesce
from shared.contracts import registry
from shared.db import create_engine
from shared.eventstore import EventStore
from shared.migrations import upgrade
from shared.settings import ServiceSettings
from shared.transport import Publisher, Received, Subscriber, TopicPartition
from shared.transport.embedded import EmbeddedBus, EmbeddedPublisher, EmbeddedSubscriber
from shared.transport.kafka import KafkaPublisher, KafkaSubscriber
from tests.harness.kafka import KafkaBroker, create_topics


@dataclass
class Backend:
    """One storage + transport pairing, with factories so a test can 'restart' a component."""

    name: str
    url: str
    publisher: Callable[[], Publisher]
    subscriber: Callable[[], Subscriber]
    bootstrap: str | None = None
    engines: list[AsyncEngine] = field(default_factory=list)

    def engine(self) -> AsyncEngine:
        engine = create_engine(self.url)
        self.engines.append(engine)
        return engine

    async def store(self, topic: str | None = None) -> EventStore:
        engine = self.engine()
        await upgrade(engine)
        return EventStore(engine, registry, source="/p2kp/test", topic=topic or new_topic())

    async def new_topics(self, *names: str, partitions: int = 1) -> None:
        """Kafka topics made up front (the embedded bus has one partition per topic and needs none)."""
        if self.bootstrap:
            await create_topics(self.bootstrap, names, partitions=partitions)

    async def read_topic(self, topic: str, count: int, timeout: float = 30.0) -> list[Received]:
        """Everything on ``topic`` from the start, once at least ``count`` records have arrived."""
        return await self.read_topic_until(topic, lambda got: len(got) >= count, timeout)

    async def read_topic_until(
        self, topic: str, done: Callable[[list[Received]], bool], timeout: float = 30.0
    ) -> list[Received]:
        """Records of ``topic`` from the start, read until ``done(records)`` holds."""
        subscriber = self.subscriber()

        async def from_start(tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            return {}

        await subscriber.start([topic], f"reader-{uuid.uuid4().hex[:8]}", from_start)
        got: list[Received] = []
        try:
            async with asyncio.timeout(timeout):
                while not done(got):
                    for records in (await subscriber.fetch(200, 1000)).values():
                        got.extend(records)
        finally:
            await subscriber.stop()
        return sorted(got, key=lambda r: (r.partition, r.offset))

    async def close(self) -> None:
        for engine in self.engines:
            await engine.dispose()


def new_topic() -> str:
    return f"p2kp.test-{uuid.uuid4().hex[:10]}.events"


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    bus = EmbeddedBus(f"sqlite+aiosqlite:///{tmp_path / 'bus.sqlite'}")
    await bus.start()
    backend = Backend(
        name="sqlite",
        url=f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite'}",
        publisher=lambda: EmbeddedPublisher(bus),
        subscriber=lambda: EmbeddedSubscriber(bus),
    )
    yield backend
    await backend.close()
    await bus.stop()


@pytest.fixture
async def postgres_backend(pg_url: str, kafka: KafkaBroker) -> AsyncIterator[Backend]:
    bootstrap = kafka.bootstrap
    backend = Backend(
        name="postgres",
        url=pg_url,
        publisher=lambda: KafkaPublisher(bootstrap, client_id="test"),
        subscriber=lambda: KafkaSubscriber(bootstrap, client_id="test"),
        bootstrap=bootstrap,
    )
    yield backend
    await backend.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each contract test runs once per backend, like the eventsourcing library's recorder suites."""
    fixture: Backend = request.getfixturevalue(f"{request.param}_backend")
    return fixture


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind, for tests that need storage only."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The embedded platform, started; every relay and consumer quiet again before it stops."""
    app = build_embedded(ServiceSettings(data_dir=tmp_path))
    async with app.router.lifespan_context(app):
        yield app
        await quiesce(app)
