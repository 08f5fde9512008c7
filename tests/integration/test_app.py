"""The app factory every service shares: request context into events, problem+json, readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.targeting.app import build as build_targeting
from shared.events import Actor
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus
from tests.harness import free_port
from tests.harness.tokens import ADMIN

KOTAKU = {"code": "KOTAKU", "name": "Kota Tanpa Kumuh", "starts_on": "2016-01-01", "ends_on": "2024-12-31"}


@pytest.fixture
async def targeting(tmp_path: Path) -> AsyncIterator[FastAPI]:
    bus = EmbeddedBus(f"sqlite+aiosqlite:///{tmp_path / 'bus.sqlite'}")
    await bus.start()
    app = build_targeting(ServiceSettings(data_dir=tmp_path), bus=bus)
    await app.state.runtime.start()
    yield app
    await app.state.runtime.stop()
    await bus.stop()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://targeting", headers=ADMIN
    )


async def test_correlation_id_of_the_request_is_recorded_on_its_events(targeting: FastAPI) -> None:
    async with client(targeting) as http:
        response = await http.post("/program-periods", json=KOTAKU, headers={"x-correlation-id": "corr-77"})
    assert response.status_code == 201
    assert response.headers["x-correlation-id"] == "corr-77"
    event, parameters = await targeting.state.runtime.store.read_stream(response.json()["stream_id"])
    assert parameters.metadata == event.metadata  # one command, one correlation
    assert event.metadata.correlation_id == "corr-77"
    assert event.metadata.causation_id == response.headers["x-request-id"]
    assert event.metadata.actor == Actor("test-national_admin", "national_admin", ())


async def test_errors_are_problem_documents_a_field_officer_can_read(targeting: FastAPI) -> None:
    async with client(targeting) as http:
        missing = await http.get("/program-periods/NOPE")
        unknown_route = await http.get("/no-such-thing")
        reversed_dates = await http.post("/program-periods", json={**KOTAKU, "ends_on": "2015-01-01"})
    assert missing.status_code == 404 and missing.json()["detail"] == "There is no program period NOPE."
    assert unknown_route.status_code == 404
    assert reversed_dates.status_code == 422 and "must end after it starts" in reversed_dates.json()["detail"]
    for response in (missing, unknown_route, reversed_dates):
        assert response.headers["content-type"] == "application/problem+json"
        assert {"type", "title", "status", "detail", "instance"} <= response.json().keys()


async def test_not_ready_while_database_and_kafka_are_unreachable(tmp_path: Path) -> None:
    dead = free_port()
    settings = ServiceSettings(
        mode="distributed",
        kafka_bootstrap=f"127.0.0.1:{dead}",
        data_dir=tmp_path,
        database_url=f"postgresql+asyncpg://nobody@127.0.0.1:{dead}/none",
    )
    app = build_targeting(settings)
    async with client(app) as http:
        ready = await http.get("/ready")
        health = await http.get("/health")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": "unavailable: ConnectionRefusedError",
        "kafka": "unavailable",
    }
    assert health.status_code == 200
    await app.state.runtime.engine.dispose()
