"""Wiring of the targeting service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field, SecretStr

from services.targeting.api import router
from services.targeting.povertymap_api import router as povertymap_router
from services.targeting.readmodels import MIGRATIONS
from services.targeting.vault import DEVELOPMENT_NIK_PEPPER, Vault, refuse_development_pepper
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class TargetingSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_TARGETING_DATABASE_URL")
    # Keys the NIK fingerprints that find a household registered twice in a period. Changing it makes
    # the stored fingerprints unmatchable; production refuses the development value.
    nik_pepper: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_NIK_PEPPER), validation_alias="P2KP_TARGETING_NIK_PEPPER"
    )


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    settings = settings or TargetingSettings()
    app = service_app(
        "targeting",
        settings,
        routers=[router, povertymap_router],
        migrations=[MIGRATIONS],
        bus=bus,
        title="P2KP targeting service",
        description="Regions, program periods, verification of kelurahan sasaran, poverty mapping and PS-2.",
    )
    pepper = (
        settings.nik_pepper if isinstance(settings, TargetingSettings) else SecretStr(DEVELOPMENT_NIK_PEPPER)
    )
    refuse_development_pepper(pepper.get_secret_value(), settings.environment)
    app.state.vault = Vault(app.state.runtime.engine, pepper=pepper.get_secret_value())
    return app
