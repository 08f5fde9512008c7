"""The one-shot commands a deployment runs before its services: ``p2kp topics create`` (every topic,
kept forever, settings checked on a second run) and ``p2kp migrate`` (safe twice and concurrently)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.transport.topics import SERVICES
from tests.harness.distributed import DistributedPlatform
from tests.harness.kafka import KafkaBroker, create_topics
from tests.harness.postgres import PostgresServer
from tests.harness.processes import P2KP


async def described(bootstrap: str, topics: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    """Each topic's partition count and its settings, as the broker reports them."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        partitions = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(topics)}
        configs = {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        for response in await admin.describe_configs(resources):
            for _code, _message, _kind, name, entries in response.resources:
                configs[name] = {e[0]: e[1] for e in entries}
    finally:
        await admin.close()
    return {t: (partitions[t], configs[t]) for t in topics}


async def schema_of(url: str) -> tuple[dict[str, int], int]:
    """Rows in each version table, and how many tables the schema has."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            versions = {
                table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                for table in ("alembic_version_eventstore", "alembic_version_ledger")
            }
            query = text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            tables = (await conn.execute(query)).scalar_one()
    finally:
        await engine.dispose()
    return versions, tables


def test_topics_are_created_once_with_their_settings_and_a_difference_is_reported(
    tmp_path: Path, postgres: PostgresServer, kafka: KafkaBroker
) -> None:
    platform = DistributedPlatform(tmp_path, postgres, kafka)
    prefix = platform.topic_prefix
    names = [f"{prefix}p2kp.{s}.events" for s in SERVICES] + [f"{prefix}p2kp.deadletter"]

    first = platform.command("topics", "create", "--partitions", "4")
    assert first.returncode == 0, first.stderr
    assert sorted(line.split()[1] for line in first.stdout.splitlines()) == sorted(names)
    assert all(line.startswith("created") for line in first.stdout.splitlines())
    found = asyncio.run(described(kafka.bootstrap, names))
    for name in names:
        partitions, config = found[name]
        assert partitions == (1 if name.endswith("deadletter") else 4)
        assert (config["retention.ms"], config["cleanup.policy"], config["min.insync.replicas"]) == (
            "-1",
            "delete",
            "1",
        )

    again = platform.command("topics", "create", "--partitions", "4")
    assert again.returncode == 0 and all(line.startswith("exists") for line in again.stdout.splitlines())

    # A topic someone created by hand, with the broker's default retention: reported, not changed.
    other = DistributedPlatform(tmp_path / "other", postgres, kafka)
    asyncio.run(create_topics(kafka.bootstrap, [f"{other.topic_prefix}p2kp.ledger.events"]))
    differs = other.command("topics", "create")
    assert differs.returncode == 1
    assert f"{other.topic_prefix}p2kp.ledger.events: retention.ms is" in differs.stderr
    assert "the platform wants -1" in differs.stderr

    refused = platform.command("topics", "create", "--replication-factor", "1", "--min-insync-replicas", "2")
    assert refused.returncode == 2 and "cannot exceed" in refused.stderr


def test_migrations_run_twice_and_concurrently_leave_one_schema(
    tmp_path: Path, postgres: PostgresServer, kafka: KafkaBroker
) -> None:
    platform = DistributedPlatform(tmp_path, postgres, kafka)
    at_once = [
        subprocess.Popen(
            [str(P2KP), "migrate", "ledger"],
            env=platform.process_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(p.communicate(timeout=120), p.returncode) for p in at_once]
    assert [code for _, code in outcomes] == [0, 0, 0], outcomes
    assert all("ledger: schema up to date." in out for (out, _err), _ in outcomes)
    again = platform.command("migrate", "ledger")
    assert again.returncode == 0, again.stderr

    versions, tables = asyncio.run(schema_of(platform.databases["ledger"]))
    assert versions == {"alembic_version_eventstore": 1, "alembic_version_ledger": 1}
    assert tables > 10

    unknown = platform.command("migrate", "payroll")
    assert unknown.returncode == 2 and "unknown service 'payroll'" in unknown.stderr
