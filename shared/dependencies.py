"""FastAPI dependency aliases, so handlers read as plain signatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.eventstore import EventStore
from shared.runtime import ServiceRuntime


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _store(request: Request) -> EventStore:
    return _runtime(request).store


RuntimeDep = Annotated[ServiceRuntime, Depends(_runtime)]
StoreDep = Annotated[EventStore, Depends(_store)]
