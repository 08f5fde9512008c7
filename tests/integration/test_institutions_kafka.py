"""Distributed mode: the targeting service's events reach the institutions service over the real Kafka
broker of the test harness (each service with its own PostgreSQL database) and unlock a cycle."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.institutions.app import InstitutionsSettings
from services.institutions.app import build as build_institutions
from services.targeting.app import TargetingSettings
from services.targeting.app import build as build_targeting
from tests.harness.kafka import KafkaBroker, create_topics
from tests.harness.postgres import PostgresServer
from tests.harness.tokens import ADMIN
from tests.journeys import meeting

KEL = "33.74.10.1004"


@pytest.fixture
async def services(
    tmp_path: Path, postgres: PostgresServer, kafka: KafkaBroker
) -> AsyncIterator[dict[str, FastAPI]]:
    common: dict[str, Any] = {"mode": "distributed", "kafka_bootstrap": kafka.bootstrap, "data_dir": tmp_path}
    await create_topics(
        kafka.bootstrap,
        ["p2kp.targeting.events", "p2kp.institutions.events", "p2kp.handover.events", "p2kp.deadletter"],
    )
    apps = {
        "targeting": build_targeting(
            TargetingSettings(**common, P2KP_TARGETING_DATABASE_URL=postgres.new_database("targeting"))
        ),
        "institutions": build_institutions(
            InstitutionsSettings(
                **common, P2KP_INSTITUTIONS_DATABASE_URL=postgres.new_database("institutions")
            )
        ),
    }
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield apps


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p2kp", headers=ADMIN)


async def test_targeting_events_over_kafka_unlock_a_cycle(services: dict[str, FastAPI]) -> None:
    # A period code of its own: the session's broker keeps other tests' streams on the same topics.
    period = f"K{uuid.uuid4().hex[:8].upper()}"
    consumer = services["institutions"].state.runtime.consumer("institutions.targeting")
    targeting, institutions = client(services["targeting"]), client(services["institutions"])
    base = f"/program-periods/{period}/kelurahan/{KEL}"

    async def ok(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await http.post(url, json=body)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async with targeting, institutions:
        await ok(
            targeting,
            "/program-periods",
            {"code": period, "name": "Kafka test", "starts_on": "2016-01-01", "ends_on": "2024-12-31"},
        )
        await ok(
            targeting,
            f"/program-periods/{period}/criteria",
            {"rule": "kecamatan-welfare", "dataset": "PODES"},
        )
        figures = {"population": 5200, "households": 1300, "poor_households": 420, "source": "BPS 2024"}
        nominated = await ok(
            targeting, f"/program-periods/{period}/kelurahan", {"kelurahan_code": KEL, "indicators": figures}
        )
        await consumer.wait_for_stream(nominated["stream_id"], nominated["version"])
        start = {"meeting": meeting("2021-01-11")}
        refused = await institutions.post(f"{base}/cycle/sosialisasi-awal", json=start)
        assert refused.status_code == 409 and "nominated" in refused.json()["detail"]

        verified = await ok(
            targeting, f"{base}/verification", {"verified": True, "criteria_version": 1, "reason": "meets"}
        )
        await consumer.wait_for_stream(verified["stream_id"], verified["version"])
        started = await ok(institutions, f"{base}/cycle/sosialisasi-awal", start)
        assert started["version"] == 1

        # The PS-2 list published by targeting is what the Pemetaan Swadaya step points at.
        await ok(
            targeting,
            f"{base}/poverty-criteria",
            {"items": ["Lantai tanah"], "berita_acara": "BA", "agreed_on": "2020-10-01"},
        )
        survey = {
            "personal": {"head_name": "Warga", "nik": "3374100101900001", "address": "Jl. Contoh 1"},
            "survey": {
                "criteria_version": 1,
                "criteria_met": [1],
                "members": 4,
                "poor": True,
                "surveyed_on": "2020-10-15",
            },
        }
        household = (await ok(targeting, f"{base}/households", survey))["household_id"]
        await ok(targeting, f"{base}/ps2/members", {"household_id": household, "reason": "kriteria 1"})
        published = await ok(
            targeting, f"{base}/ps2/publications", {"berita_acara": "BA PS-2", "published_on": "2020-11-01"}
        )
        await consumer.wait_for_stream(published["stream_id"], published["version"])
        cycle = (await institutions.get(f"{base}/cycle")).json()
        assert cycle["targeted_on"] is not None and cycle["parameters_version"] == 1
