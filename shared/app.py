"""The app factory every service uses: health, readiness, metrics, request context, problem+json errors."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SqlalchemyTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import context
from shared.applied import router as applied_router
from shared.consumer import Handler
from shared.db import database_unavailable
from shared.errors import DomainError, Unavailable
from shared.migrations import Migrations
from shared.runtime import ServiceRuntime
from shared.schemas import PROBLEM_RESPONSES
from shared.security.audit import router as audit_router
from shared.security.tokens import TokenVerifier
from shared.settings import ServiceSettings
from shared.transport.embedded import EmbeddedBus

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, request: Request, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
        for e in exc.errors()
    ]


class BodyLimit:
    """Refuses a body over the limit: by its declared length before reading it, else as it streams
    (FastAPI passes the HTTPException raised from ``receive`` on to the problem+json handler)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers", ())).get(b"content-length", b"0")
        if scope["type"] == "http" and (not declared.isdigit() or int(declared) > self.limit):
            response = problem(413, "Request too large", too_large(self.limit), Request(scope))
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413)
            return message

        await self.app(scope, counted, send)


def too_large(limit: int) -> str:
    return f"The request is too large: at most {limit:,} bytes are accepted."


class _Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests handled", ["service", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_seconds", "HTTP request latency", ["service"], registry=self.registry
        )
        self.outbox_backlog = Gauge(
            "outbox_backlog", "Stored events not yet published", ["service"], registry=self.registry
        )
        self.consumer_lag = Gauge(
            "consumer_lag", "Records not yet applied", ["service", "consumer"], registry=self.registry
        )
        self.dead_letters = Gauge(
            "consumer_dead_letters",
            "Events sent to the dead-letter topic since start",
            ["service", "consumer"],
            registry=self.registry,
        )
        self.service = service


def freeze_heap() -> None:
    """Move everything alive now out of the garbage collector's full collections (``gc.freeze``): what a
    long-lived process has built, walked again at every full collection for nothing."""
    gc.collect()
    gc.freeze()


def settled_once_started(app: FastAPI) -> FastAPI:
    """``app`` as a process's only app: once it has started, what it built (modules, routes, the engines,
    their caches) lives as long as the process, so the garbage collector's full collections stop walking
    it (``gc.freeze``). Walked at every full collection, it paused the process 40-130 ms at a time, and
    every reader waiting then felt it. Not for apps a test process starts and stops by the dozen."""
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with started(app) as state:
            freeze_heap()
            yield state

    app.router.lifespan_context = lifespan
    return app


def create_app(
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter],
    *,
    title: str,
    description: str = "",
    manage_lifespan: bool = True,
) -> FastAPI:
    """A FastAPI app for one service. ``manage_lifespan=False`` when an embedding process runs it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not manage_lifespan:
            yield
            return
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    runtime.settings.refuse_unsafe_production()
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.verifier = TokenVerifier(runtime.settings)
    metrics = app.state.metrics = _Metrics(runtime.name)  # a service may register collectors of its own
    app.add_middleware(BodyLimit, limit=runtime.settings.max_body_bytes)

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or str(uuid.uuid4())
        cid = request.headers.get("x-correlation-id") or rid
        context.request_id.set(rid)
        context.correlation_id.set(cid)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid, correlation_id=cid, service=runtime.name)
        started = time.perf_counter()
        response = await call_next(request)
        metrics.latency.labels(runtime.name).observe(time.perf_counter() - started)
        metrics.requests.labels(runtime.name, request.method, str(response.status_code)).inc()
        response.headers["x-request-id"] = rid
        response.headers["x-correlation-id"] = cid
        return response

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if exc.status == 401 and request.method == "GET" and _wants_html(request):
            # A person opening a dashboard page without a session: to the sign-in page, and back.
            back = str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(back, safe='/')}", status_code=303)
        return problem(exc.status, exc.title, exc.detail, request, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
        return problem(422, "Invalid input", detail, request, errors=errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return problem(413, "Request too large", too_large(runtime.settings.max_body_bytes), request)
        return problem(exc.status_code, "Request failed", str(exc.detail), request)

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency.unavailable", error=repr(exc))
        response = problem(
            503,
            "Service unavailable",
            "A database or message broker is not reachable; try again shortly.",
            request,
        )
        response.headers["retry-after"] = "5"
        return response

    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(SqlalchemyTimeout, unavailable)  # the connection pool is exhausted
    app.add_exception_handler(ConnectionError, unavailable)
    app.add_exception_handler(OSError, unavailable)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if database_unavailable(exc):  # e.g. "the database system is starting up" after a restart
            return await unavailable(request, exc)
        return await bug(request, exc)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed")
        return problem(
            500, "Internal error", "Something went wrong on our side; it has been logged.", request
        )

    @app.get("/health", tags=["operations"], summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name, "mode": runtime.settings.mode}

    @app.get("/ready", tags=["operations"], summary="Database (and Kafka) reachable")
    async def ready() -> JSONResponse:
        checks = await runtime.check_ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        metrics.outbox_backlog.labels(runtime.name).set(await runtime.relay.backlog())
        for consumer in runtime.consumers:
            try:
                async with asyncio.timeout(3.0):  # metrics answer even when the brokers are slow
                    metrics.consumer_lag.labels(runtime.name, consumer.name).set(await consumer.lag())
            except Exception:  # lag is unknown while the consumer is (re)joining its group
                metrics.consumer_lag.labels(runtime.name, consumer.name).set(float("nan"))
            metrics.dead_letters.labels(runtime.name, consumer.name).set(consumer.dead_lettered_total)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(audit_router, responses=PROBLEM_RESPONSES)
    app.include_router(applied_router, responses=PROBLEM_RESPONSES)
    for router in routers:
        app.include_router(router, responses=PROBLEM_RESPONSES)
    return app


def _wants_html(request: Request) -> bool:
    """A browser's navigation (HTML first), not an API client's request."""
    accept = request.headers.get("accept", "")
    return accept.startswith("text/html") or accept.startswith("application/xhtml+xml")


def service_app(
    name: str,
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter] = (),
    handlers: Sequence[Handler] = (),
    migrations: Sequence[Migrations] = (),
    bus: EmbeddedBus | None = None,
    title: str,
    description: str = "",
) -> FastAPI:
    """A service's app with its runtime. Embedded (``bus`` given): the embedding process runs it."""
    from shared.contracts import registry

    runtime = ServiceRuntime(name, settings, registry, handlers=handlers, migrations=migrations, bus=bus)
    return create_app(runtime, routers, title=title, description=description, manage_lifespan=bus is None)
