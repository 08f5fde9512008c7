"""Events of poverty mapping (Pemetaan Swadaya), published by the targeting service on
``p2kp.targeting.events``: criteria versions, survey records and PS-2 list versions with pseudonymous
household ids only.

A household's name, NIK, address and phone never appear here: they stay encrypted in the targeting
service's vault (``services/targeting/vault.py``) under the household's random ``household_id``.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from pydantic import Field, model_validator

from shared.contracts import registry
from shared.contracts.targeting import KELURAHAN_CODE, PERIOD_CODE
from shared.events import DomainEvent

MAX_CRITERIA = 30


class _PerKelurahan(DomainEvent):
    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)


@registry.event("p2kp.targeting.poverty-criteria-agreed.v1")
class PovertyCriteriaAgreed(_PerKelurahan):
    """Version ``version`` of the poverty criteria the community agreed on in its musyawarah."""

    version: int = Field(ge=1)
    items: tuple[str, ...] = Field(min_length=1, max_length=MAX_CRITERIA)
    berita_acara: str = Field(min_length=1, max_length=200, description="the meeting's minutes reference")
    agreed_on: date

    @model_validator(mode="after")
    def _items_are_bounded_text(self) -> PovertyCriteriaAgreed:
        if any(not 1 <= len(item) <= 300 for item in self.items):
            raise ValueError("each criterion is 1 to 300 characters")
        return self


@registry.event("p2kp.targeting.household-surveyed.v1")
class HouseholdSurveyed(_PerKelurahan):
    """A household's survey record: which agreed criteria it meets and the surveyors' judgement."""

    household_id: uuid.UUID
    criteria_version: int = Field(ge=1)
    criteria_met: tuple[int, ...] = Field(max_length=MAX_CRITERIA, description="1-based item numbers")
    members: int = Field(ge=1, le=50)
    poor: bool
    surveyed_on: date


@registry.event("p2kp.targeting.ps2-member-added.v1")
class Ps2MemberAdded(_PerKelurahan):
    household_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)


@registry.event("p2kp.targeting.ps2-member-removed.v1")
class Ps2MemberRemoved(_PerKelurahan):
    household_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)


@registry.event("p2kp.targeting.ps2-list-published.v1")
class Ps2ListPublished(_PerKelurahan):
    """Version ``version`` of the PS-2 list: the members are those added and not removed before this
    event in the stream (consumers rebuild the list from the membership events)."""

    version: int = Field(ge=1)
    criteria_version: int = Field(ge=1)
    member_count: int = Field(ge=1)
    berita_acara: str = Field(min_length=1, max_length=200)
    published_on: date


class ErasureBasis(StrEnum):
    """Why personal data was erased: a fixed list, so no free text (and no name) reaches the event."""

    DATA_SUBJECT_REQUEST = "data-subject-request"
    DECEASED = "deceased"
    MOVED_AWAY = "moved-away"
    RECORDED_IN_ERROR = "recorded-in-error"
    RETENTION_ENDED = "retention-ended"


@registry.event("p2kp.targeting.household-personal-data-erased.v1")
class HouseholdPersonalDataErased(_PerKelurahan):
    """The household's key was destroyed: its personal data can no longer be read anywhere. Its survey
    record and PS-2 membership stay, so counts keep adding up."""

    household_id: uuid.UUID
    basis: ErasureBasis
