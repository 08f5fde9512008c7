"""Events published by the handover (alih kelola) service on ``p2kp.handover.events``."""

from __future__ import annotations

from pydantic import Field

from shared.contracts import registry
from shared.events import DomainEvent

CITY_CODE = r"^\d{2}\.\d{2}$"


@registry.event("p2kp.handover.authority-transferred.v1")
class AuthorityTransferred(DomainEvent):
    """Write authority for a city moves to its government: its operators write, the national office reads."""

    city_code: str = Field(pattern=CITY_CODE)
    instrument: str = Field(min_length=1, max_length=200, description="MoU / Perwal / Perda reference")


@registry.event("p2kp.handover.authority-returned.v1")
class AuthorityReturned(DomainEvent):
    """A handover rolled back: write authority returns to the national program."""

    city_code: str = Field(pattern=CITY_CODE)
    reason: str = Field(min_length=1, max_length=1000)
