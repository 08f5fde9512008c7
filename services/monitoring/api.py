"""Monitoring HTTP API: read models, with an optional wait for read-your-writes."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from services.monitoring.projections import ProgramPeriodsProjection
from services.monitoring.readmodels import program_periods
from shared.dependencies import RuntimeDep
from shared.errors import DomainError
from shared.security.guard import Guard, Guarded
from shared.security.policy import read

router = APIRouter(tags=["read models"])

READ_PERIODS = read("monitoring.program-periods.read", national=True)


class NotYetProjected(DomainError):
    """The asked-for change is not in the read model within the wait (it may never have happened)."""

    status = 409
    title = "Not projected yet"


class ProgramPeriodRow(BaseModel):
    code: str
    name: str
    starts_on: date
    ends_on: date


@router.get("/program-periods", response_model=list[ProgramPeriodRow])
async def list_program_periods(
    runtime: RuntimeDep,
    guard: Guard = Guarded(READ_PERIODS),
    after_stream: str | None = Query(
        default=None, max_length=200, description="Wait until this stream's change is projected"
    ),
    after_version: int = Query(default=1, ge=1, le=1_000_000_000),
) -> list[ProgramPeriodRow]:
    if after_stream is not None:
        try:
            await runtime.consumer(ProgramPeriodsProjection.name).wait_for_stream(
                after_stream, after_version, 10
            )
        except TimeoutError as exc:
            raise NotYetProjected(
                f"{after_stream} v{after_version} is not in the dashboard yet; retry."
            ) from exc
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(select(program_periods).order_by(program_periods.c.starts_on))
        return [
            ProgramPeriodRow(code=r.code, name=r.name, starts_on=r.starts_on, ends_on=r.ends_on) for r in rows
        ]
