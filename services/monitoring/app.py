"""Wiring of the monitoring service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from services.monitoring.api import router
from services.monitoring.projections import PROJECTIONS
from services.monitoring.readmodels import MIGRATIONS
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class MonitoringSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_MONITORING_DATABASE_URL")


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    return service_app(
        "monitoring",
        settings or MonitoringSettings(),
        routers=[router],
        handlers=PROJECTIONS,
        migrations=[MIGRATIONS],
        bus=bus,
        title="P2KP monitoring service",
        description="Read models of every service's events: the national dashboard's data.",
    )
