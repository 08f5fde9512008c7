"""Wiring of the monitoring service."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from services.monitoring.api import router
from services.monitoring.dashboard import STATIC
from services.monitoring.dashboard import router as pages_router
from services.monitoring.dashboard_api import router as dashboard_router
from services.monitoring.exports import router as exports_router
from services.monitoring.facts import FactsProjection, facts_tables
from services.monitoring.generations import Generations
from services.monitoring.memo import WARM_SECONDS, Memo, MemoMetrics, Warmer
from services.monitoring.projections import PROJECTIONS
from services.monitoring.readmodels import MIGRATIONS
from shared.app import service_app
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus


class MonitoringSettings(ServiceSettings):
    database_url: str | None = Field(default=None, validation_alias="P2KP_MONITORING_DATABASE_URL")
    # How often the figures' warmer looks at the facts (0: no warmer; every page is computed when asked).
    warm_seconds: float = Field(default=WARM_SECONDS, ge=0, validation_alias="P2KP_MONITORING_WARM_SECONDS")


def build(settings: ServiceSettings | None = None, bus: EmbeddedBus | None = None) -> FastAPI:
    # The live facts projection; its generation (tables and consumer name) is chosen at start.
    facts = FactsProjection(facts_tables(1))
    settings = settings or MonitoringSettings()
    app = service_app(
        "monitoring",
        settings,
        routers=[router, dashboard_router, exports_router, pages_router],
        handlers=[*PROJECTIONS, facts],
        migrations=[MIGRATIONS],
        bus=bus,
        title="P2KP monitoring service",
        description="Read models of every service's events: the national dashboard's data.",
    )
    generations = Generations(app.state.runtime, facts)
    app.state.runtime.before_start.append(generations.prepare)
    app.state.runtime.followers.append(generations)
    app.state.generations = generations
    app.state.figures_memo = Memo()
    app.state.metrics.registry.register(MemoMetrics("monitoring", app.state))
    # Where the dashboard is served, its first pages are kept computed (tests built with the plain
    # ServiceSettings have none: they count the memo's computations themselves).
    every = getattr(settings, "warm_seconds", 0.0)
    if every and app.state.runtime.runs("api"):
        app.state.figures_warmer = Warmer(app.state, every)
        app.state.runtime.followers.append(app.state.figures_warmer)
    # The pages' stylesheet: public, like the sign-in page's (a Mount is no API route to guard).
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
    return app
