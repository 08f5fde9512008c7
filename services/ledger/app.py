"""Wiring of the ledger service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from services.ledger.api import router
from services.ledger.facts import LedgerFacts
from services.ledger.loans_api import router as loans_router
from services.ledger.readmodels import MIGRATIONS
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class LedgerSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_LEDGER_DATABASE_URL")


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    return service_app(
        "ledger",
        settings or LedgerSettings(),
        routers=[router, loans_router],
        handlers=[LedgerFacts()],
        migrations=[MIGRATIONS],
        bus=bus,
        title="P2KP ledger service",
        description="Fund ledger: BLM allocations and tranches, grants, revolving loans, UPK indicators.",
    )
