"""Per-request context: the correlation and causation ids and the actor, carried into every event."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

from shared.events import Actor, EventMetadata

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def metadata_for(
    actor: Actor, city_code: str | None = None, causation_id: str | None = None
) -> EventMetadata:
    """Event metadata for a command handled in the current request (or a fresh correlation)."""
    return EventMetadata(
        correlation_id=correlation_id.get() or str(uuid.uuid4()),
        causation_id=causation_id or request_id.get(),
        actor=actor,
        city_code=city_code,
    )
