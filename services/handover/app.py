"""Wiring of the handover service."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from services.handover.api import router
from services.handover.facts import CityFeed, ReadinessFacts
from services.handover.handlers import CityTopics
from services.handover.readmodels import MIGRATIONS
from services.handover.webhooks import WebhookDelivery
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class HandoverSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_HANDOVER_DATABASE_URL")
    # Webhook retries wait webhook_backoff_seconds x 2^(attempt - 1), at most five minutes; after
    # webhook_max_attempts failures in a row a subscription is parked until redelivered.
    webhook_backoff_seconds: float = Field(
        default=1.0, gt=0, le=60, validation_alias="P2KP_HANDOVER_WEBHOOK_BACKOFF_SECONDS"
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=30, validation_alias="P2KP_HANDOVER_WEBHOOK_MAX_ATTEMPTS"
    )


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    settings = settings or HandoverSettings()
    city_feed = CityFeed()
    app = service_app(
        "handover",
        settings,
        routers=[router],
        handlers=[ReadinessFacts(), city_feed],
        migrations=[MIGRATIONS],
        bus=bus,
        title="P2KP handover service",
        description="Handover (alih kelola): city readiness, the handover process, the pemkot feed.",
    )
    runtime = app.state.runtime
    tuned = settings if isinstance(settings, HandoverSettings) else HandoverSettings()
    delivery = WebhookDelivery(
        runtime.engine, backoff_base=tuned.webhook_backoff_seconds, max_attempts=tuned.webhook_max_attempts
    )
    topics = CityTopics(runtime.engine, runtime.publisher)
    city_feed.on_new_rows += [delivery.wake, topics.wake]
    runtime.workers += [delivery, topics]
    app.state.webhooks = delivery
    return app
