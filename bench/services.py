"""The real servers the benchmarks run against, from the test harness's launchers.

A throwaway PostgreSQL cluster and a single-node Kafka broker are started for the run and removed after
it. ``TEST_DATABASE_URL`` / ``TEST_KAFKA_BOOTSTRAP`` point the run at existing servers instead, as they do
for the test suite.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from sqlalchemy.engine import make_url

from tests.harness import run_sync
from tests.harness.kafka import DEFAULT_LIBS_DIR, KafkaBroker, LocalKafka, create_topics
from tests.harness.postgres import LocalPostgres, PostgresServer


@dataclass(frozen=True)
class Database:
    """One fresh database: its SQLAlchemy URL for the platform code and its plain DSN for asyncpg."""

    url: str
    dsn: str


@dataclass
class Services:
    postgres: PostgresServer
    kafka: KafkaBroker | None

    @property
    def bootstrap(self) -> str:
        assert self.kafka is not None, "this run started no Kafka broker"
        return self.kafka.bootstrap

    def new_database(self, prefix: str) -> Database:
        url = self.postgres.new_database(prefix)
        name = make_url(url).database
        assert name is not None
        return Database(url=url, dsn=self.postgres.dsn_for(name))


def _postgres() -> PostgresServer:
    if url := os.environ.get("TEST_DATABASE_URL"):
        server = PostgresServer(url, how="existing server from TEST_DATABASE_URL")
        server.probe()
        return server
    local = LocalPostgres()
    try:
        local.start()
    except BaseException:
        local.close()
        raise
    return local


def _kafka() -> KafkaBroker:
    if bootstrap := os.environ.get("TEST_KAFKA_BOOTSTRAP"):
        broker = KafkaBroker(bootstrap, how="existing broker from TEST_KAFKA_BOOTSTRAP")
        broker.probe()
        return broker
    local = LocalKafka(os.environ.get("KAFKA_LIBS", DEFAULT_LIBS_DIR))
    try:
        local.start()
    except BaseException:
        local.close()
        raise
    return local


async def _first_group_join(bootstrap: str) -> None:
    """Join a consumer group once, so the broker creates its offsets topic now, not in a timed phase."""
    topic = "p2kp.bench-warmup"
    await create_topics(bootstrap, [topic])
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="bench-warmup")
    # Until __consumer_offsets exists the coordinator lookup fails and aiokafka logs an ERROR and retries.
    coordinator_log = logging.getLogger("aiokafka.consumer.group_coordinator")
    level = coordinator_log.level
    coordinator_log.setLevel(logging.CRITICAL)
    try:
        await consumer.start()
        async with asyncio.timeout(60):
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=100)
    finally:
        coordinator_log.setLevel(level)
        await consumer.stop()


@contextmanager
def running_services(*, kafka: bool) -> Iterator[Services]:
    """PostgreSQL (always) and Kafka (when asked), closed again on the way out."""
    with ExitStack() as stack:
        postgres = _postgres()
        stack.callback(postgres.close)
        broker = None
        if kafka:
            broker = _kafka()
            stack.callback(broker.close)
            run_sync(lambda: _first_group_join(broker.bootstrap))
        yield Services(postgres=postgres, kafka=broker)
