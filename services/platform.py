"""The whole platform in one process (embedded mode): every service mounted under its own prefix.

Each service keeps its own SQLite database; the in-process bus replaces Kafka. Mounted apps do not get
lifespan events from Starlette, so this app starts and stops every service's runtime itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from services.handover.app import build as build_handover
from services.institutions.app import build as build_institutions
from services.ledger.app import build as build_ledger
from services.monitoring.app import build as build_monitoring
from services.targeting.app import build as build_targeting
from shared.app import problem
from shared.db import create_engine
from shared.security.accounts import AccountStore
from shared.security.login import login_router
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus

BUILDERS: dict[str, Callable[..., FastAPI]] = {
    "targeting": build_targeting,
    "institutions": build_institutions,
    "ledger": build_ledger,
    "handover": build_handover,
    "monitoring": build_monitoring,
}


def build_embedded(settings: ServiceSettings | None = None) -> FastAPI:
    """The embedded platform. ``settings`` (tests) overrides every service's own settings."""
    base = settings or ServiceSettings()
    if base.database_url:
        # One URL for five services would put their event stores (and outboxes) in one database.
        raise ValueError(
            "embedded mode keeps one SQLite file per service under P2KP_DATA_DIR; unset P2KP_DATABASE_URL"
        )
    base.data_dir.mkdir(parents=True, exist_ok=True)
    base.refuse_unsafe_production()
    bus = EmbeddedBus(f"sqlite+aiosqlite:///{base.data_dir / 'bus.sqlite'}")
    services = {name: build(settings, bus=bus) for name, build in BUILDERS.items()}
    accounts = AccountStore(create_engine(f"sqlite+aiosqlite:///{base.data_dir / 'accounts.sqlite'}"))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await bus.start()
            stack.push_async_callback(bus.stop)
            await accounts.start()
            stack.push_async_callback(accounts.engine.dispose)
            for service in services.values():
                await service.state.runtime.start()
                stack.push_async_callback(service.state.runtime.stop)
            yield

    root = FastAPI(
        title="P2KP Platform (embedded)", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    root.state.services = services
    root.state.bus = bus
    root.state.accounts = accounts
    root.include_router(login_router(base, accounts))

    @root.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        links = "".join(
            f'<li><a href="/{n}/docs">{n}</a> — <a href="/{n}/health">health</a></li>' for n in services
        )
        return (
            "<!doctype html><title>P2KP Platform</title><h1>P2KP Platform</h1>"
            f'<p><a href="/login">Sign in</a></p><ul>{links}</ul>'
        )

    @root.exception_handler(HTTPException)
    async def outside_every_service(request: Request, exc: HTTPException) -> JSONResponse:
        # A path no service claims (or one the mounts cannot match) still gets a problem document.
        return problem(
            exc.status_code,
            "Not found" if exc.status_code == 404 else "Request failed",
            "There is nothing at this address." if exc.status_code == 404 else str(exc.detail),
            request,
        )

    for name, service in services.items():
        root.mount(f"/{name}", service)
    return root


async def quiesce(app: FastAPI, timeout: float = 30) -> None:
    """Return once every relay has published and every consumer has caught up (woken per batch, no
    guessing): what a caller waits on before a command that needs another service's facts."""
    runtimes = [service.state.runtime for service in app.state.services.values()]

    async def quiet() -> bool:
        for runtime in runtimes:
            if await runtime.relay.backlog() or any([await c.lag() for c in runtime.consumers]):
                return False
        return True

    await runtimes[0].consumers[0].wait_until(quiet, timeout=timeout)
