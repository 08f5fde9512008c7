"""Wiring of the institutions service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from services.institutions.api import router
from services.institutions.facts import TargetingFacts
from services.institutions.ksm_api import router as ksm_router
from services.institutions.readmodels import MIGRATIONS
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class InstitutionsSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_INSTITUTIONS_DATABASE_URL")


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    facts = TargetingFacts()
    app = service_app(
        "institutions",
        settings or InstitutionsSettings(),
        routers=[router, ksm_router],
        handlers=[facts],
        migrations=[MIGRATIONS],
        bus=bus,
        title="P2KP institutions service",
        description="Community institutions: the kelurahan cycle, BKM elections, KSM, cadre training.",
    )
    facts.store = app.state.runtime.store
    return app
