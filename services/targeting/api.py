"""Targeting HTTP API (thin: validate, call a handler, shape the answer)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from services.targeting import handlers
from shared.auth import CurrentActor
from shared.dependencies import StoreDep
from shared.schemas import Accepted

router = APIRouter(tags=["program periods"])


class RegisterProgramPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$", examples=["KOTAKU"])
    name: str = Field(min_length=1, max_length=200, examples=["Kota Tanpa Kumuh"])
    starts_on: date
    ends_on: date


class ProgramPeriodOut(BaseModel):
    code: str
    name: str
    starts_on: date
    ends_on: date
    version: int


@router.post("/program-periods", status_code=status.HTTP_201_CREATED, response_model=Accepted)
async def register_program_period(
    body: RegisterProgramPeriod, store: StoreDep, actor: CurrentActor
) -> Accepted:
    recorded = await handlers.register_program_period(
        store, actor, code=body.code, name=body.name, starts_on=body.starts_on, ends_on=body.ends_on
    )
    return Accepted.of(recorded)


@router.get("/program-periods/{code}", response_model=ProgramPeriodOut)
async def get_program_period(code: str, store: StoreDep) -> ProgramPeriodOut:
    period = await handlers.get_program_period(store, code)
    assert period.starts_on is not None and period.ends_on is not None
    return ProgramPeriodOut(
        code=period.code,
        name=period.name,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        version=period.version,
    )
