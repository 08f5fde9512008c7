"""Events published by the targeting service on ``p2kp.targeting.events``."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from shared.contracts import registry
from shared.events import DomainEvent


@registry.event("p2kp.targeting.program-period-registered.v1")
class ProgramPeriodRegistered(DomainEvent):
    """A program period (P2KP-1, PNPM Mandiri Perkotaan, KOTAKU, ...) the platform can target under."""

    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$")
    name: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date
