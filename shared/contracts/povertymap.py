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
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.contracts import registry
from shared.contracts.targeting import KELURAHAN_CODE, PERIOD_CODE
from shared.events import DomainEvent

MAX_CRITERIA = 30
Criterion = Annotated[str, StringConstraints(min_length=1, max_length=300)]
HOUSEHOLD_ID = "the household's pseudonymous id: a random UUID v4, never derived from its personal data"


class _PerKelurahan(DomainEvent):
    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)


@registry.event("p2kp.targeting.poverty-criteria-agreed.v1")
class PovertyCriteriaAgreed(_PerKelurahan):
    """Version ``version`` of the poverty criteria a kelurahan's community agreed on in its musyawarah
    (Pemetaan Swadaya). Stream ``pemetaan-swadaya-<period_code>-<kelurahan_code>``, as every poverty
    mapping event. Raised by ``POST .../poverty-criteria``."""

    version: int = Field(ge=1, description="1, 2, ... per kelurahan and period")
    items: tuple[Criterion, ...] = Field(
        min_length=1, max_length=MAX_CRITERIA, description="the criteria, each once, 1-300 characters"
    )
    berita_acara: str = Field(min_length=1, max_length=200, description="the meeting's minutes reference")
    agreed_on: date = Field(description="not in the future")


@registry.event("p2kp.targeting.household-surveyed.v1")
class HouseholdSurveyed(_PerKelurahan):
    """A household's survey record: which agreed criteria it meets and the surveyors' judgement. Its
    head's name, NIK, address and phone stay encrypted in the targeting service's vault. Raised by
    ``POST .../households``."""

    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)
    criteria_version: int = Field(ge=1, description="an agreed version of this kelurahan's criteria")
    criteria_met: tuple[int, ...] = Field(
        max_length=MAX_CRITERIA, description="the 1-based numbers of the criteria it meets, distinct, sorted"
    )
    members: int = Field(ge=1, le=50, description="people in the household")
    poor: bool = Field(description="the surveyors' judgement; if true, at least one criterion is met")
    surveyed_on: date = Field(description="not in the future")


@registry.event("p2kp.targeting.ps2-member-added.v1")
class Ps2MemberAdded(_PerKelurahan):
    """A surveyed household joined the kelurahan's PS-2 list (the poor households that are the
    program's direct beneficiaries). Raised by ``POST .../ps2/members``."""

    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)
    reason: str = Field(min_length=1, max_length=500, description="why; free text that names no one")


@registry.event("p2kp.targeting.ps2-member-removed.v1")
class Ps2MemberRemoved(_PerKelurahan):
    """A household left the PS-2 list. Raised by ``POST .../ps2/members/{household_id}/removal``."""

    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)
    reason: str = Field(min_length=1, max_length=500, description="why; free text that names no one")


@registry.event("p2kp.targeting.ps2-list-published.v1")
class Ps2ListPublished(_PerKelurahan):
    """Version ``version`` of the PS-2 list: its members are those added and not removed before this
    event in the stream (consumers rebuild the list from the membership events). Raised by
    ``POST .../ps2/publications``."""

    version: int = Field(ge=1, description="1, 2, ... per kelurahan and period")
    criteria_version: int = Field(ge=1, description="the criteria version current at publication")
    member_count: int = Field(ge=1)
    berita_acara: str = Field(min_length=1, max_length=200, description="the meeting's minutes reference")
    published_on: date = Field(description="not in the future, nor before the previous version's")


class ErasureBasis(StrEnum):
    """Why personal data was erased: a fixed list, so no free text (and no name) reaches the event."""

    DATA_SUBJECT_REQUEST = "data-subject-request"
    DECEASED = "deceased"
    MOVED_AWAY = "moved-away"
    RECORDED_IN_ERROR = "recorded-in-error"
    RETENTION_ENDED = "retention-ended"


@registry.event("p2kp.targeting.household-personal-data-erased.v1")
class HouseholdPersonalDataErased(_PerKelurahan):
    """The household's key (and NIK fingerprint) was destroyed: its personal data can no longer be read
    anywhere, backups included. Its survey record and PS-2 membership stay, so counts keep adding up.
    Raised by ``DELETE .../households/{household_id}/personal-data``."""

    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)
    basis: ErasureBasis = Field(description="why: a fixed list, so no free text reaches the event")
