"""Handover HTTP API: the transfer of write authority for a city."""

from __future__ import annotations

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from services.handover import handlers
from shared.dependencies import StoreDep
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import write
from shared.security.principal import Role

router = APIRouter(tags=["authority"])

# Deciding who holds authority is the national office's, before and after the transfer.
TRANSFER = write("handover.authority.transfer", frozenset({Role.NATIONAL_ADMIN}), national=True)
CITY_CODE = r"^\d{2}\.\d{2}$"
CityCode = Path(pattern=CITY_CODE, examples=["33.74"], description="Kemendagri kabupaten/kota code")


class TransferAuthority(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instrument: str = Field(min_length=1, max_length=200, examples=["Perwal Semarang No. 12/2026"])


class ReturnAuthority(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


@router.post(
    "/cities/{city_code}/authority-transfer",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    summary="Hand write authority for a city to its government",
)
async def transfer_authority(
    body: TransferAuthority, store: StoreDep, city_code: str = CityCode, guard: Guard = Guarded(TRANSFER)
) -> Accepted:
    return Accepted.of(await handlers.transfer_authority(store, guard.actor, city_code, body.instrument))


@router.post(
    "/cities/{city_code}/authority-return",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    summary="Roll a handover back: authority returns to the national program",
)
async def return_authority(
    body: ReturnAuthority, store: StoreDep, city_code: str = CityCode, guard: Guard = Guarded(TRANSFER)
) -> Accepted:
    return Accepted.of(await handlers.return_authority(store, guard.actor, city_code, body.reason))
