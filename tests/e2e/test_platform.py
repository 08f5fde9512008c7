"""The platform as a user starts it: one embedded process, and separate distributed processes."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.harness.kafka import KafkaBroker
from tests.harness.postgres import PostgresServer
from tests.harness.processes import platform_process
from tests.harness.tokens import ADMIN

SERVICES = ("targeting", "institutions", "ledger", "handover", "monitoring")
KOTAKU = {"code": "KOTAKU", "name": "Kota Tanpa Kumuh", "starts_on": "2016-01-01", "ends_on": "2024-12-31"}


def test_embedded_platform_serves_every_service_under_its_prefix(tmp_path: Path) -> None:
    env = {"P2KP_DATA_DIR": str(tmp_path / "var"), "P2KP_LOG_JSON": "true"}
    with platform_process(["run"], env, tmp_path / "run.log", "/monitoring/ready") as platform:
        with httpx.Client(base_url=platform.base, timeout=10, headers=ADMIN) as http:
            for service in SERVICES:
                assert http.get(f"/{service}/health").json()["service"] == service
                assert http.get(f"/{service}/ready").status_code == 200
                schema = http.get(f"/{service}/openapi.json").json()
                assert schema["info"]["title"] == f"P2KP {service} service"
                assert "/health" in schema["paths"]
                assert "outbox_backlog" in http.get(f"/{service}/metrics").text

            accepted = http.post("/targeting/program-periods", json=KOTAKU)
            assert accepted.status_code == 201, accepted.text
            stream, version = accepted.json()["stream_id"], accepted.json()["version"]
            listed = http.get(
                "/monitoring/program-periods", params={"after_stream": stream, "after_version": version}
            )
            assert [p["code"] for p in listed.json()] == ["KOTAKU"]

            again = http.post("/targeting/program-periods", json=KOTAKU)
            assert again.status_code == 409
            assert again.headers["content-type"] == "application/problem+json"
            assert "already registered" in again.json()["detail"]

            bad = http.post("/targeting/program-periods", json={**KOTAKU, "code": "kotaku", "extra": 1})
            assert bad.status_code == 422
            assert {e["field"] for e in bad.json()["errors"]} == {"code", "extra"}

    # Restarted on the same data: the stored events and the read model are still there.
    with platform_process(["run"], env, tmp_path / "run2.log", "/monitoring/ready") as platform:
        with httpx.Client(base_url=platform.base, timeout=10, headers=ADMIN) as http:
            assert (
                http.get("/targeting/program-periods/KOTAKU").json()["version"] == 2
            )  # registered + parameters v1
            assert [p["code"] for p in http.get("/monitoring/program-periods").json()] == ["KOTAKU"]


def test_distributed_services_talk_through_kafka_and_postgres(
    tmp_path: Path, postgres: PostgresServer, kafka: KafkaBroker
) -> None:
    common = {
        "P2KP_MODE": "distributed",
        "P2KP_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "P2KP_DATA_DIR": str(tmp_path / "var"),
    }
    targeting_env = {**common, "P2KP_TARGETING_DATABASE_URL": postgres.new_database("targeting")}
    monitoring_env = {**common, "P2KP_MONITORING_DATABASE_URL": postgres.new_database("monitoring")}
    with (
        platform_process(["serve", "targeting"], targeting_env, tmp_path / "t.log", "/ready") as targeting,
        platform_process(["serve", "monitoring"], monitoring_env, tmp_path / "m.log", "/ready") as monitoring,
    ):
        ready = httpx.get(targeting.base + "/ready").json()
        assert ready["checks"] == {"database": "ok", "kafka": "ok"}
        accepted = httpx.post(targeting.base + "/program-periods", json=KOTAKU, timeout=10, headers=ADMIN)
        assert accepted.status_code == 201, accepted.text
        listed = httpx.get(
            monitoring.base + "/program-periods",
            params={"after_stream": accepted.json()["stream_id"], "after_version": 1},
            timeout=30,
            headers=ADMIN,
        )
        assert listed.status_code == 200, monitoring.tail()
        assert [p["code"] for p in listed.json()] == ["KOTAKU"]
