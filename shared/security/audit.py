"""The audit query every service answers: who did what, when, to which record, from its own events."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import or_, select

from shared.db import events
from shared.dependencies import RuntimeDep
from shared.events import as_utc
from shared.security.guard import Guard, Guarded
from shared.security.policy import read
from shared.security.principal import REGION_CODE, Role

AUDIT = read("audit.read", frozenset({Role.NATIONAL_ADMIN, Role.AUDITOR, Role.CITY_OPERATOR}))

router = APIRouter(tags=["audit"])


class AuditEntry(BaseModel):
    position: int
    at: datetime
    actor: str
    role: str
    scope: list[str]
    event_type: str
    stream_id: str
    version: int
    city_code: str | None
    correlation_id: str


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_after: int | None


@router.get("/audit", response_model=AuditPage, summary="Who did what, when, to which record")
async def audit(
    runtime: RuntimeDep,
    guard: Guard = Guarded(AUDIT),
    actor: str | None = Query(default=None, max_length=200, description="Only this subject's actions"),
    stream_id: str | None = Query(default=None, max_length=200, description="Only this record"),
    city: str | None = Query(default=None, pattern=REGION_CODE.pattern, description="Only this region"),
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = Query(default=0, ge=0, le=2**62, description="Continue after this position"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> AuditPage:
    # National data (no city) is visible to all who may audit; city data only within the caller's scope.
    query = select(events).where(
        events.c.position > after, or_(events.c.city_code.is_(None), guard.visible(events.c.city_code))
    )
    if actor:
        query = query.where(events.c.actor_subject == actor)
    if stream_id:
        query = query.where(events.c.stream_id == stream_id)
    if city:
        guard.check_filter(city)
        query = query.where(or_(events.c.city_code == city, events.c.city_code.like(city + ".%")))
    # Stored instants are UTC; SQLite compares them as text, so the bounds must be UTC too.
    if since:
        query = query.where(events.c.recorded_at >= as_utc(since))
    if until:
        query = query.where(events.c.recorded_at <= as_utc(until))
    async with runtime.engine.connect() as conn:
        rows = list(await conn.execute(query.order_by(events.c.position).limit(limit)))
    entries = [
        AuditEntry(
            position=r.position,
            at=as_utc(r.recorded_at),
            actor=r.actor_subject,
            role=r.actor_role,
            scope=r.actor_scope.split(),
            event_type=r.event_type,
            stream_id=r.stream_id,
            version=r.stream_version,
            city_code=r.city_code,
            correlation_id=r.correlation_id,
        )
        for r in rows
    ]
    return AuditPage(entries=entries, next_after=entries[-1].position if len(entries) == limit else None)
