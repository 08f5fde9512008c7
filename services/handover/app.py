"""Wiring of the handover service (its domain arrives with its own issue; the scaffolding is live)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from services.handover.api import router
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class HandoverSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_HANDOVER_DATABASE_URL")


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    return service_app(
        "handover",
        settings or HandoverSettings(),
        routers=[router],
        bus=bus,
        title="P2KP handover service",
        description="Handover (alih kelola): city readiness, the handover process, the pemkot feed.",
    )
