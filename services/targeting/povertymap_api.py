"""Poverty mapping (Pemetaan Swadaya) HTTP API: criteria, household surveys, the PS-2 list.

Lists and counts carry pseudonymous household ids only; one endpoint, for the roles that work with
households by name, returns a household's personal data.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.targeting import povertymap_handlers as handlers
from services.targeting.povertymap import Household, PemetaanSwadaya, Publication, Survey, no_household
from services.targeting.vault import PersonalData, Vault
from shared.contracts.povertymap import MAX_CRITERIA, ErasureBasis
from shared.contracts.targeting import KELURAHAN_CODE, PERIOD_CODE
from shared.dependencies import StoreDep
from shared.eventstore import EventStore
from shared.schemas import Accepted, Problem
from shared.security.guard import Guard, Guarded
from shared.security.policy import read, write
from shared.security.principal import Role

router = APIRouter(tags=["poverty mapping"])

# Recording the community's work: the field roles, and the program or the city by who holds authority.
FIELD_WRITERS = frozenset(
    {Role.NATIONAL_ADMIN, Role.REGIONAL_CONSULTANT, Role.CITY_OPERATOR, Role.FACILITATOR, Role.BKM_OFFICER}
)
# Those who work with households by name; monitors, auditors and integrations see counts and ids only.
PERSONAL_DATA_ROLES = frozenset({Role.NATIONAL_ADMIN, Role.CITY_OPERATOR, Role.FACILITATOR, Role.BKM_OFFICER})
AGREE_CRITERIA = write("targeting.poverty-criteria.agree", FIELD_WRITERS)
SURVEY_HOUSEHOLD = write("targeting.household.survey", PERSONAL_DATA_ROLES)
CHANGE_PS2 = write("targeting.ps2.change", FIELD_WRITERS)
PUBLISH_PS2 = write("targeting.ps2.publish", FIELD_WRITERS)
ERASE_HOUSEHOLD = write("targeting.household.erase", PERSONAL_DATA_ROLES)
READ_MAPPING = read("targeting.poverty-mapping.read")
READ_PERSONAL_DATA = read("targeting.household-personal-data.read", PERSONAL_DATA_ROLES)

BASE = "/program-periods/{code}/kelurahan/{kelurahan_code}"
# Named `code` in the path, like the program period and kelurahan sasaran routes it extends.
PeriodCode = Annotated[str, Path(alias="code", pattern=PERIOD_CODE, examples=["KOTAKU"])]
KelurahanCode = Annotated[str, Path(pattern=KELURAHAN_CODE, examples=["33.74.01.1001"])]
HouseholdId = Annotated[uuid.UUID, Path(description="the household's pseudonymous id")]
Criterion = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
GONE: dict[int | str, dict[str, Any]] = {
    410: {
        "description": "The household's personal data was erased",
        "model": Problem,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


def _vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


VaultDep = Annotated[Vault, Depends(_vault)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgreeCriteria(_Input):
    items: list[Criterion] = Field(min_length=1, max_length=MAX_CRITERIA)
    berita_acara: str = Field(min_length=1, max_length=200, examples=["BA Musyawarah Kelurahan 12/2026"])
    agreed_on: date


class SurveyRecord(_Input):
    criteria_version: int = Field(ge=1, le=1000)
    criteria_met: list[Annotated[int, Field(ge=1, le=MAX_CRITERIA)]] = Field(max_length=MAX_CRITERIA)
    members: int = Field(ge=1, le=50, description="people in the household")
    poor: bool = Field(description="the surveyors' judgement against the agreed criteria")
    surveyed_on: date


class SurveyHousehold(_Input):
    personal: PersonalData
    survey: SurveyRecord


class AddMember(_Input):
    household_id: uuid.UUID
    reason: Reason


class RemoveMember(_Input):
    reason: Reason


class PublishPs2(_Input):
    berita_acara: str = Field(min_length=1, max_length=200)
    published_on: date


class HouseholdRecorded(Accepted):
    household_id: uuid.UUID


class CriteriaVersion(BaseModel):
    version: int
    items: list[str]
    berita_acara: str
    agreed_on: date


class CriteriaOut(BaseModel):
    versions: list[CriteriaVersion]


class HouseholdOut(BaseModel):
    household_id: uuid.UUID
    criteria_version: int
    criteria_met: list[int]
    members: int
    poor: bool
    surveyed_on: date
    on_ps2: bool
    personal_data: Literal["held", "erased"]


class CountsOut(BaseModel):
    surveyed: int
    poor: int
    erased: int
    ps2_members: int
    ps2_versions: int


class HouseholdsOut(BaseModel):
    counts: CountsOut
    households: list[HouseholdOut]
    next_offset: int | None


class PublicationOut(BaseModel):
    version: int
    criteria_version: int
    berita_acara: str
    published_on: date
    member_count: int


class PublicationDetail(PublicationOut):
    household_ids: list[uuid.UUID]


class PublicationsOut(BaseModel):
    publications: list[PublicationOut]


class Ps2Out(BaseModel):
    as_of: datetime | None
    member_count: int
    household_ids: list[uuid.UUID]
    latest_publication: PublicationOut | None


def _household(aggregate: PemetaanSwadaya, household: Household) -> HouseholdOut:
    return HouseholdOut(
        household_id=household.household_id,
        **vars(household.survey),
        on_ps2=household.household_id in aggregate.ps2,
        personal_data="erased" if household.erased else "held",
    )


def _publication(p: Publication) -> PublicationOut:
    return PublicationOut(
        version=p.version,
        criteria_version=p.criteria_version,
        berita_acara=p.berita_acara,
        published_on=p.published_on,
        member_count=len(p.members),
    )


def _ids(members: frozenset[uuid.UUID] | set[uuid.UUID]) -> list[uuid.UUID]:
    return sorted(members, key=str)


async def _in_scope(guard: Guard, period_code: str, kelurahan_code: str, hidden: str | None = None) -> None:
    await guard.check(kelurahan_code, hidden=hidden or handlers.not_nominated(period_code, kelurahan_code))


async def _household_in_scope(
    guard: Guard, period_code: str, kelurahan_code: str, household_id: uuid.UUID
) -> None:
    await guard.check(kelurahan_code, hidden=no_household(period_code, kelurahan_code, household_id))


async def _readable(
    guard: Guard, store: EventStore, period_code: str, kelurahan_code: str, as_of: datetime | None = None
) -> PemetaanSwadaya:
    """The mapping, for a caller who may see the kelurahan (the same 404 otherwise)."""
    await _in_scope(guard, period_code, kelurahan_code, handlers.no_mapping(period_code, kelurahan_code))
    return await handlers.mapping(store, period_code, kelurahan_code, as_of=as_of)


# --- criteria -----------------------------------------------------------------------------------------


@router.post(f"{BASE}/poverty-criteria", status_code=status.HTTP_201_CREATED, response_model=Accepted)
async def agree_criteria(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    body: AgreeCriteria,
    store: StoreDep,
    guard: Guard = Guarded(AGREE_CRITERIA),
) -> Accepted:
    """Record a new version of the poverty criteria the community agreed on."""
    await _in_scope(guard, period_code, kelurahan_code)
    recorded = await handlers.agree_criteria(
        store, guard.actor, period_code, kelurahan_code, tuple(body.items), body.berita_acara, body.agreed_on
    )
    return Accepted.of(recorded)


@router.get(f"{BASE}/poverty-criteria", response_model=CriteriaOut)
async def list_criteria(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    store: StoreDep,
    guard: Guard = Guarded(READ_MAPPING),
) -> CriteriaOut:
    aggregate = await _readable(guard, store, period_code, kelurahan_code)
    return CriteriaOut(
        versions=[CriteriaVersion.model_validate(c.model_dump()) for c in aggregate.criteria.values()]
    )


# --- households ---------------------------------------------------------------------------------------


@router.post(f"{BASE}/households", status_code=status.HTTP_201_CREATED, response_model=HouseholdRecorded)
async def survey_household(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    body: SurveyHousehold,
    store: StoreDep,
    vault: VaultDep,
    guard: Guard = Guarded(SURVEY_HOUSEHOLD),
) -> HouseholdRecorded:
    """Record a surveyed household: its personal data is encrypted in the vault, the survey record
    goes to the event stream under a new pseudonymous household id."""
    await _in_scope(guard, period_code, kelurahan_code)
    s = body.survey
    household_id, recorded = await handlers.survey_household(
        store,
        vault,
        guard.actor,
        period_code,
        kelurahan_code,
        personal=body.personal,
        survey=Survey(s.criteria_version, tuple(s.criteria_met), s.members, s.poor, s.surveyed_on),
    )
    return HouseholdRecorded(household_id=household_id, **Accepted.of(recorded).model_dump())


@router.get(f"{BASE}/households", response_model=HouseholdsOut)
async def list_households(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    store: StoreDep,
    offset: int = Query(default=0, ge=0, le=1_000_000),
    limit: int = Query(default=500, ge=1, le=1000),
    guard: Guard = Guarded(READ_MAPPING),
) -> HouseholdsOut:
    """Survey records and counts, by household id only."""
    aggregate = await _readable(guard, store, period_code, kelurahan_code)
    page = list(aggregate.households.values())[offset : offset + limit]
    more = offset + limit < len(aggregate.households)
    return HouseholdsOut(
        counts=CountsOut(**vars(aggregate.counts())),
        households=[_household(aggregate, h) for h in page],
        next_offset=offset + limit if more else None,
    )


@router.get(f"{BASE}/households/{{household_id}}", response_model=HouseholdOut)
async def get_household(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    household_id: HouseholdId,
    store: StoreDep,
    guard: Guard = Guarded(READ_MAPPING),
) -> HouseholdOut:
    await _household_in_scope(guard, period_code, kelurahan_code, household_id)
    aggregate, household = await handlers.household_mapping(store, period_code, kelurahan_code, household_id)
    return _household(aggregate, household)


@router.get(f"{BASE}/households/{{household_id}}/personal-data", response_model=PersonalData, responses=GONE)
async def read_personal_data(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    household_id: HouseholdId,
    store: StoreDep,
    vault: VaultDep,
    response: Response,
    guard: Guard = Guarded(READ_PERSONAL_DATA),
) -> PersonalData:
    """The household's name, NIK, address and phone; 410 once erased."""
    await _household_in_scope(guard, period_code, kelurahan_code, household_id)
    found = await handlers.personal_data(store, vault, guard.actor, period_code, kelurahan_code, household_id)
    response.headers["cache-control"] = "no-store"
    return found


@router.delete(f"{BASE}/households/{{household_id}}/personal-data", response_model=Accepted, responses=GONE)
async def erase_personal_data(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    household_id: HouseholdId,
    store: StoreDep,
    vault: VaultDep,
    basis: ErasureBasis = Query(description="why the data is erased"),
    guard: Guard = Guarded(ERASE_HOUSEHOLD),
) -> Accepted:
    """Erase the household's personal data for good (its key is destroyed); counts are unchanged."""
    await _household_in_scope(guard, period_code, kelurahan_code, household_id)
    recorded = await handlers.erase_household(
        store, vault, guard.actor, period_code, kelurahan_code, household_id, basis
    )
    return Accepted.of(recorded)


# --- the PS-2 list ------------------------------------------------------------------------------------


@router.get(f"{BASE}/ps2", response_model=Ps2Out)
async def get_ps2(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    store: StoreDep,
    as_of: datetime | None = Query(default=None, description="the list as it stood at this instant"),
    guard: Guard = Guarded(READ_MAPPING),
) -> Ps2Out:
    """The PS-2 list (household ids) as it stands, or stood at ``as_of``, with its latest publication."""
    aggregate = await _readable(guard, store, period_code, kelurahan_code, as_of)
    latest = aggregate.publications[-1] if aggregate.publications else None
    return Ps2Out(
        as_of=as_of,
        member_count=len(aggregate.ps2),
        household_ids=_ids(aggregate.ps2),
        latest_publication=_publication(latest) if latest else None,
    )


@router.post(f"{BASE}/ps2/members", status_code=status.HTTP_201_CREATED, response_model=Accepted)
async def add_ps2_member(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    body: AddMember,
    store: StoreDep,
    guard: Guard = Guarded(CHANGE_PS2),
) -> Accepted:
    await _in_scope(guard, period_code, kelurahan_code)
    recorded = await handlers.change_ps2(
        store, guard.actor, period_code, kelurahan_code, body.household_id, add=True, reason=body.reason
    )
    return Accepted.of(recorded)


@router.post(
    f"{BASE}/ps2/members/{{household_id}}/removal",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
)
async def remove_ps2_member(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    household_id: HouseholdId,
    body: RemoveMember,
    store: StoreDep,
    guard: Guard = Guarded(CHANGE_PS2),
) -> Accepted:
    await _in_scope(guard, period_code, kelurahan_code)
    recorded = await handlers.change_ps2(
        store, guard.actor, period_code, kelurahan_code, household_id, add=False, reason=body.reason
    )
    return Accepted.of(recorded)


@router.post(f"{BASE}/ps2/publications", status_code=status.HTTP_201_CREATED, response_model=Accepted)
async def publish_ps2(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    body: PublishPs2,
    store: StoreDep,
    guard: Guard = Guarded(PUBLISH_PS2),
) -> Accepted:
    """Publish the current PS-2 list as its next version (after the community meeting agreed it)."""
    await _in_scope(guard, period_code, kelurahan_code)
    recorded = await handlers.publish_ps2(
        store, guard.actor, period_code, kelurahan_code, body.berita_acara, body.published_on
    )
    return Accepted.of(recorded)


@router.get(f"{BASE}/ps2/publications", response_model=PublicationsOut)
async def list_ps2_publications(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    store: StoreDep,
    guard: Guard = Guarded(READ_MAPPING),
) -> PublicationsOut:
    aggregate = await _readable(guard, store, period_code, kelurahan_code)
    return PublicationsOut(publications=[_publication(p) for p in aggregate.publications])


@router.get(f"{BASE}/ps2/publications/{{version}}", response_model=PublicationDetail)
async def get_ps2_publication(
    period_code: PeriodCode,
    kelurahan_code: KelurahanCode,
    store: StoreDep,
    version: int = Path(ge=1, le=100_000),
    guard: Guard = Guarded(READ_MAPPING),
) -> PublicationDetail:
    publication = (await _readable(guard, store, period_code, kelurahan_code)).publication(version)
    return PublicationDetail(
        **_publication(publication).model_dump(), household_ids=_ids(publication.members)
    )
