"""Distributed mode: a city's events reach its own Kafka topic (``p2kp.city.<city>.events``) on the real
broker of the test harness, keyed by stream, in order per aggregate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from services.handover.app import HandoverSettings
from services.handover.app import build as build_handover
from shared.clock import today
from shared.transport.topics import city_topic
from tests.harness.kafka import KafkaBroker, create_topics
from tests.harness.postgres import PostgresServer
from tests.harness.tokens import ADMIN, bearer
from tests.journeys import handover_steps

# Not a city other Kafka tests use: the session's broker keeps every test's events, and this city's
# AuthorityTransferred would take write authority away from the national office in those tests.
CITY = "36.71"


@pytest.fixture
async def handover(tmp_path: Path, postgres: PostgresServer, kafka: KafkaBroker) -> AsyncIterator[FastAPI]:
    await create_topics(kafka.bootstrap, ["p2kp.handover.events", "p2kp.deadletter", city_topic(CITY)])
    settings: dict[str, Any] = {
        "mode": "distributed",
        "kafka_bootstrap": kafka.bootstrap,
        "data_dir": tmp_path,
    }
    app = build_handover(
        HandoverSettings(**settings, P2KP_HANDOVER_DATABASE_URL=postgres.new_database("handover"))
    )
    async with app.router.lifespan_context(app):
        yield app


async def test_a_citys_events_reach_its_own_topic_in_order(handover: FastAPI, kafka: KafkaBroker) -> None:
    sent: list[str] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=handover), base_url="http://p2kp") as http:
        for path, body, who in handover_steps(CITY, today().isoformat()):
            headers = ADMIN if who == "admin" else bearer("city_operator", CITY)
            response = await http.post(path.removeprefix("/handover"), json=body, headers=headers)
            assert response.status_code == 201, response.text
            sent += response.json()["event_ids"]

    consumer = AIOKafkaConsumer(
        city_topic(CITY),
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[str, dict[str, Any]]] = []
    try:
        async with asyncio.timeout(60):
            async for record in consumer:
                envelope = json.loads(record.value)
                if envelope["id"] in sent:
                    received.append((record.key.decode() if record.key else "", envelope))
                if len(received) == len(sent):
                    break
    finally:
        await consumer.stop()
    assert sorted(e["id"] for _, e in received) == sorted(sent)
    assert {key for key, _ in received} == {f"handover-{CITY}"}
    assert [e["streamversion"] for _, e in received] == list(range(1, len(sent) + 1))
    assert received[-1][1]["type"] == "p2kp.handover.authority-transferred.v1"
