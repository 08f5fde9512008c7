"""Targeting HTTP API (thin: validate, call a handler, shape the answer)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from services.targeting import handlers
from shared.dependencies import StoreDep
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import read, write
from shared.security.principal import Role

router = APIRouter(tags=["program periods"])

REGISTER_PERIOD = write("targeting.program-period.register", frozenset({Role.NATIONAL_ADMIN}), national=True)
READ_PERIOD = read("targeting.program-period.read", national=True)
PERIOD_CODE = r"^[A-Z0-9][A-Z0-9-]{1,31}$"


class RegisterProgramPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=PERIOD_CODE, examples=["KOTAKU"])
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
    body: RegisterProgramPeriod, store: StoreDep, guard: Guard = Guarded(REGISTER_PERIOD)
) -> Accepted:
    recorded = await handlers.register_program_period(
        store, guard.actor, code=body.code, name=body.name, starts_on=body.starts_on, ends_on=body.ends_on
    )
    return Accepted.of(recorded)


@router.get("/program-periods/{code}", response_model=ProgramPeriodOut)
async def get_program_period(
    store: StoreDep,
    code: str = Path(pattern=PERIOD_CODE, examples=["KOTAKU"]),
    guard: Guard = Guarded(READ_PERIOD),
) -> ProgramPeriodOut:
    period = await handlers.get_program_period(store, code)
    assert period.starts_on is not None and period.ends_on is not None
    return ProgramPeriodOut(
        code=period.code,
        name=period.name,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        version=period.version,
    )
