"""Wiring of the targeting service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from services.targeting.api import router
from services.targeting.readmodels import MIGRATIONS
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class TargetingSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_TARGETING_DATABASE_URL")


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    return service_app(
        "targeting",
        settings or TargetingSettings(),
        routers=[router],
        migrations=[MIGRATIONS],
        bus=bus,
        title="P2KP targeting service",
        description="Regions, program periods, verification of kelurahan sasaran, PS-2 lists.",
    )
