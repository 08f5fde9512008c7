"""One service's moving parts, wired by mode: database, event store, outbox relay, consumers.

In distributed mode the relay publishes to Kafka and consumers read from it; in embedded mode both go
through the in-process bus. Everything above this module is the same code either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.consumer import ConsumerRunner, Handler
from shared.db import create_engine, is_sqlite
from shared.events import EventRegistry
from shared.eventstore import EventStore
from shared.migrations import Migrations, upgrade
from shared.relay import OutboxRelay
from shared.security.authority import AuthorityProjection
from shared.settings import ServiceSettings
from shared.transport import Publisher, Subscriber
from shared.transport.embedded import EmbeddedBus, EmbeddedPublisher, EmbeddedSubscriber
from shared.transport.kafka import KafkaPublisher, KafkaSubscriber
from shared.transport.topics import event_topic

log = structlog.get_logger(__name__)


def topic_of(service: str) -> str:
    return event_topic(service)


async def supervise(name: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run a background worker forever: if it dies (the broker or database was away when it started,
    say), log why and start it again after a growing pause. Only cancellation stops it."""
    pause = 0.5
    while True:
        try:
            await work()
            return
        except Exception as exc:
            log.error("worker.died", worker=name, error=repr(exc), restart_in=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)


class Worker(Protocol):
    """A service's own background loop (a webhook delivery, say), run and restarted like the relay."""

    @property
    def name(self) -> str: ...

    async def run(self) -> None: ...


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        registry: EventRegistry,
        *,
        handlers: Sequence[Handler] = (),
        migrations: Sequence[Migrations] = (),
        workers: Sequence[Worker] = (),
        bus: EmbeddedBus | None = None,
    ) -> None:
        if settings.mode == "embedded" and bus is None:
            raise ValueError("embedded mode needs the process's EmbeddedBus")
        self.name = name
        self.settings = settings
        self.registry = registry
        # Every service honours who holds write authority over each city (alih kelola).
        self.handlers = [*handlers, AuthorityProjection(name)]
        self.migrations = list(migrations)
        self.bus = bus
        self.topic = topic_of(name)
        self.source = f"/p2kp/{name}"
        self.engine: AsyncEngine = create_engine(settings.database_url_for(name))
        self.publisher: Publisher = self._publisher()
        self.store = EventStore(self.engine, registry, source=self.source, topic=self.topic)
        lock = str(settings.data_dir / f"{name}.relay.lock") if is_sqlite(self.engine) else None
        self.relay = OutboxRelay(
            self.engine, self.publisher, name=name, source=self.source, topic=self.topic, lock_path=lock
        )
        self.store.after_commit.append(self.relay.wake)
        self.consumers = [self.runner_for(h) for h in self.handlers]
        self.workers = list(workers)
        # Background loops every role runs (workers run only where the consumers do): e.g. the
        # monitoring service following a generation another process switched to.
        self.followers: list[Worker] = []
        # Run after the migrations, before any worker starts (a projection choosing its tables, say).
        self.before_start: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def _publisher(self) -> Publisher:
        if self.bus is not None:
            return EmbeddedPublisher(self.bus)
        return KafkaPublisher(self.settings.kafka_bootstrap, client_id=f"p2kp-{self.name}")

    def subscriber(self) -> Subscriber:
        """A new subscriber on this service's transport (each consumer has its own)."""
        return self._subscriber()

    def _subscriber(self) -> Subscriber:
        if self.bus is not None:
            return EmbeddedSubscriber(self.bus)
        return KafkaSubscriber(self.settings.kafka_bootstrap, client_id=f"p2kp-{self.name}")

    def consumer(self, name: str) -> ConsumerRunner:
        return next(c for c in self.consumers if c.name == name)

    def runs(self, part: str) -> bool:
        """Whether this process runs ``part`` ("relay" or "consumers") of the service."""
        return self.settings.role in ("all", part)

    async def start(self) -> None:
        # Every role migrates: the migrations are idempotent and serialised by an advisory lock.
        await upgrade(self.engine, *self.migrations)
        for prepare in self.before_start:
            await prepare()
        if self.runs("relay") or self.runs("consumers"):  # an api process publishes nothing itself:
            await self.publisher.start()  # it starts (and serves) while Kafka is away
        self._tasks = []
        if self.runs("relay"):
            self._tasks.append(
                asyncio.create_task(
                    supervise(f"{self.name}-relay", self.relay.run), name=f"{self.name}-relay"
                )
            )
        if self.runs("consumers"):
            self._tasks += [
                asyncio.create_task(supervise(f"{self.name}-{c.name}", c.run), name=f"{self.name}-{c.name}")
                for c in self.consumers
            ]
            self._tasks += [
                asyncio.create_task(supervise(f"{self.name}-{w.name}", w.run), name=f"{self.name}-{w.name}")
                for w in self.workers
            ]
        self._tasks += [
            asyncio.create_task(supervise(f"{self.name}-{w.name}", w.run), name=f"{self.name}-{w.name}")
            for w in self.followers
        ]
        log.info("service.started", service=self.name, mode=self.settings.mode, role=self.settings.role)

    def runner_for(self, handler: Handler) -> ConsumerRunner:
        return ConsumerRunner(
            self.engine, self.subscriber(), handler, registry=self.registry, dead_letters=self.publisher
        )

    async def replace_consumer(self, old: ConsumerRunner, new: ConsumerRunner) -> None:
        """Stop ``old``'s worker and run ``new`` in its place (a projection switching generation)."""
        task = next((t for t in self._tasks if t.get_name() == f"{self.name}-{old.name}"), None)
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=10)
            self._tasks.remove(task)
        self.consumers[self.consumers.index(old)] = new
        if self.runs("consumers"):
            self._tasks.append(
                asyncio.create_task(
                    supervise(f"{self.name}-{new.name}", new.run), name=f"{self.name}-{new.name}"
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Bounded: a worker that will not stop must not hang the process's shutdown.
        _, stuck = await asyncio.wait(self._tasks, timeout=10)
        for task in stuck:
            log.error("worker.would_not_stop", worker=task.get_name())
        self._tasks = []
        await self.publisher.stop()
        await self.engine.dispose()

    async def check_ready(self) -> dict[str, str]:
        """What /ready reports: each dependency 'ok' or why not."""
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        # An api process needs only its database: commands land in the outbox, which the relay
        # publishes when Kafka is back, so a broker outage must not take the API out of service.
        if isinstance(self.publisher, KafkaPublisher) and self.settings.role != "api":
            checks["kafka"] = "ok" if await self.publisher.ping() else "unavailable"
        return checks
