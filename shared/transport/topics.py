"""The platform's Kafka topics, created explicitly with their settings (``p2kp topics create``).

The event topics are the platform's history: projections are rebuilt from them, so they are kept
forever (``retention.ms=-1``) and never compacted (every event of a stream matters, not only the last).
Records are keyed by stream id, so one aggregate's events stay in one partition, in order; partitions
bound how many instances of one consumer group can work in parallel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

SERVICES = ("targeting", "institutions", "ledger", "handover", "monitoring")
# The settings every platform topic gets; min.insync.replicas is the caller's (it depends on the
# cluster: 2 of 3 replicas in production, 1 on a single development broker).
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def prefix() -> str:
    """``P2KP_KAFKA_TOPIC_PREFIX``: a namespace before every topic name (e.g. ``staging.``), for several
    deployments sharing one Kafka cluster. Read from the environment when a name is needed, because
    consumers name their topics when their modules load; set it before the process starts."""
    value = os.environ.get("P2KP_KAFKA_TOPIC_PREFIX", "")
    if not re.fullmatch(r"[A-Za-z0-9._-]{0,100}", value):
        raise ValueError(f"P2KP_KAFKA_TOPIC_PREFIX {value!r}: only letters, digits, '.', '_' and '-'")
    return value


def event_topic(service: str) -> str:
    return f"{prefix()}p2kp.{service}.events"


def dead_letter_topic() -> str:
    return f"{prefix()}p2kp.deadletter"


def city_topic(city: str) -> str:
    """A pemkot system that speaks Kafka reads its city's events here (e.g. ``p2kp.city.33-74.events``)."""
    return f"{prefix()}p2kp.city.{city.replace('.', '-')}.events"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def platform_topics(partitions: int, min_insync_replicas: int) -> list[TopicSpec]:
    """Every service's event topic and the dead-letter topic (a dead letter is evidence of a lost
    update until someone replays it: kept forever too)."""
    config = {**KEEP_FOREVER, "min.insync.replicas": str(min_insync_replicas)}
    return [TopicSpec(event_topic(s), partitions, config) for s in SERVICES] + [
        TopicSpec(dead_letter_topic(), 1, config)
    ]


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    # (topic, setting, wanted, found): an existing topic whose settings differ from the spec.
    mismatched: list[tuple[str, str, str, str]] = field(default_factory=list)


async def ensure_topics(
    bootstrap: str, specs: Sequence[TopicSpec], replication_factor: int, timeout_ms: int = 30_000
) -> TopicReport:
    """Create the topics that are missing; report existing ones whose settings differ (never changed
    silently: shrinking retention on a live event topic would delete history)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    report = TopicReport()
    try:
        await admin.start()
        new = [NewTopic(s.name, s.partitions, replication_factor, topic_configs=s.config) for s in specs]
        response = await admin.create_topics(new, timeout_ms=timeout_ms)
        # aiokafka answers per-topic error codes instead of raising.
        for topic, code, *rest in response.topic_errors:
            if code == TopicAlreadyExistsError.errno:
                report.existing.append(topic)
            elif code:
                detail = rest[0] if rest and rest[0] else ""
                raise for_code(code)(f"create topic {topic!r}: {detail}")
            else:
                report.created.append(topic)
        if report.existing:
            wanted = {s.name: s for s in specs}
            found = await _configs(admin, report.existing)
            for topic in report.existing:
                for key, value in wanted[topic].config.items():
                    if found[topic].get(key) != value:
                        report.mismatched.append((topic, key, value, found[topic].get(key, "?")))
    finally:
        await admin.close()
    return report


async def _configs(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
    configs: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for _code, _message, _kind, name, entries in response.resources:
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs
