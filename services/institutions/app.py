"""Wiring of the institutions service (its domain arrives with its own issue; the scaffolding is live)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class InstitutionsSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_INSTITUTIONS_DATABASE_URL")


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    return service_app(
        "institutions",
        settings or InstitutionsSettings(),
        bus=bus,
        title="P2KP institutions service",
        description="Community institutions: the kelurahan cycle, BKM elections, KSM, cadre training.",
    )
