"""Targeting HTTP API: regions, program periods with parameters and criteria, kelurahan sasaran."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, File, Path, Query, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select

from services.targeting import criteria, handlers, imports
from services.targeting.readmodels import kelurahan_sasaran
from services.targeting.tables import read_table
from shared import regions
from shared.contracts.targeting import (
    KELURAHAN_CODE,
    PERIOD_CODE,
    CriteriaRule,
    CriteriaThresholds,
    KelurahanIndicators,
    PeriodParameters,
)
from shared.dependencies import RuntimeDep, StoreDep
from shared.errors import InvalidInput, NotFound
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import read, write
from shared.security.principal import REGION_CODE, Role

router = APIRouter()

ADMIN = frozenset({Role.NATIONAL_ADMIN})
PROGRAM = frozenset({Role.NATIONAL_ADMIN, Role.REGIONAL_CONSULTANT})
READ_REGIONS = read("targeting.region.read", national=True)
REGISTER_PERIOD = write("targeting.program-period.register", ADMIN, national=True)
READ_PERIOD = read("targeting.program-period.read", national=True)
SET_PARAMETERS = write("targeting.program-parameters.set", ADMIN, national=True)
PUBLISH_CRITERIA = write("targeting.criteria.publish", ADMIN, national=True)
EVALUATE_CRITERIA = read("targeting.criteria.evaluate", PROGRAM | {Role.NATIONAL_MONITOR}, national=True)
NOMINATE = write("targeting.kelurahan.nominate", PROGRAM | {Role.CITY_OPERATOR})
VERIFY = write("targeting.kelurahan.verify", PROGRAM)
CONFIRM = write("targeting.kelurahan.confirm", PROGRAM | {Role.CITY_OPERATOR}, city_prerogative=True)
DROP = write("targeting.kelurahan.drop", PROGRAM)
READ_SASARAN = read("targeting.kelurahan.read")

PeriodCode = Annotated[str, Path(pattern=PERIOD_CODE, examples=["KOTAKU"])]
KelurahanCode = Annotated[str, Path(pattern=KELURAHAN_CODE, examples=["33.74.10.1004"])]
MAX_UPLOAD = 5 * 1024 * 1024


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- regions ------------------------------------------------------------------------------------------


class RegionOut(BaseModel):
    code: str
    name: str
    level: int
    kind: str
    path: str
    code_system: str
    vintage: str


class RegionWithChildren(RegionOut):
    children: list[RegionOut]


def _region_out(region: regions.Region) -> RegionOut:
    return RegionOut(
        code=region.code,
        name=region.name,
        level=region.level,
        kind=region.kind,
        path=region.path,
        code_system=region.code_system,
        vintage=region.vintage,
    )


@router.get("/regions", response_model=list[RegionOut], tags=["regions"], summary="Find regions by name")
async def find_regions(
    q: str = Query(min_length=2, max_length=100, examples=["tembalang"]),
    within: str | None = Query(default=None, pattern=REGION_CODE.pattern, examples=["33.74"]),
    level: int | None = Query(default=None, ge=1, le=4),
    guard: Guard = Guarded(READ_REGIONS),
) -> list[RegionOut]:
    found = regions.search(q, within=within, level=regions.Level(level) if level else None)
    return [_region_out(r) for r in found]


@router.get("/regions/{code}", response_model=RegionWithChildren, tags=["regions"])
async def get_region(
    code: str = Path(pattern=REGION_CODE.pattern, examples=["33.74"]), guard: Guard = Guarded(READ_REGIONS)
) -> RegionWithChildren:
    region = regions.find(code)
    if region is None:
        raise regions.UnknownRegion(
            f"{code!r} is not a region code in the official list ({regions.VINTAGE})."
        )
    children = [_region_out(c) for c in regions.children(code)]
    return RegionWithChildren(**_region_out(region).model_dump(), children=children)


# --- program periods ------------------------------------------------------------------------------------


class RegisterProgramPeriod(_Input):
    code: str = Field(pattern=PERIOD_CODE, examples=["KOTAKU"])
    name: str = Field(min_length=1, max_length=200, examples=["Kota Tanpa Kumuh"])
    starts_on: date
    ends_on: date


class CriteriaOut(BaseModel):
    version: int
    rule: CriteriaRule
    thresholds: CriteriaThresholds
    dataset: str


class ProgramPeriodOut(BaseModel):
    code: str
    name: str
    starts_on: date
    ends_on: date
    version: int
    parameter_versions: list[int]
    criteria: list[CriteriaOut]


class PublishCriteria(_Input):
    rule: CriteriaRule
    thresholds: CriteriaThresholds = Field(default_factory=CriteriaThresholds)
    dataset: str = Field(min_length=1, max_length=300, examples=["PODES 2000; BKKBN 2001"])


class AssessmentOut(BaseModel):
    kecamatan_code: str
    shortlisted: bool
    reason: str
    pra_ks_ks1_pct: float


@router.post(
    "/program-periods", status_code=status.HTTP_201_CREATED, response_model=Accepted, tags=["program periods"]
)
async def register_program_period(
    body: RegisterProgramPeriod, store: StoreDep, guard: Guard = Guarded(REGISTER_PERIOD)
) -> Accepted:
    return Accepted.of(
        await handlers.register_program_period(
            store, guard.actor, code=body.code, name=body.name, starts_on=body.starts_on, ends_on=body.ends_on
        )
    )


@router.get("/program-periods/{code}", response_model=ProgramPeriodOut, tags=["program periods"])
async def get_program_period(
    store: StoreDep, code: PeriodCode, guard: Guard = Guarded(READ_PERIOD)
) -> ProgramPeriodOut:
    period = await handlers.get_program_period(store, code)
    assert period.starts_on is not None and period.ends_on is not None
    return ProgramPeriodOut(
        code=period.code,
        name=period.name,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        version=period.version,
        parameter_versions=sorted(period.parameters),
        criteria=[
            CriteriaOut(version=v, rule=c.rule, thresholds=c.thresholds, dataset=c.dataset)
            for v, c in sorted(period.criteria.items())
        ],
    )


@router.post(
    "/program-periods/{code}/parameters",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    tags=["program periods"],
    summary="Record a new parameter version",
)
async def set_parameters(
    body: PeriodParameters, store: StoreDep, code: PeriodCode, guard: Guard = Guarded(SET_PARAMETERS)
) -> Accepted:
    return Accepted.of(await handlers.set_parameters(store, guard.actor, code, body))


@router.get(
    "/program-periods/{code}/parameters/{version}", response_model=PeriodParameters, tags=["program periods"]
)
async def get_parameters(
    store: StoreDep,
    code: PeriodCode,
    version: int = Path(ge=1, le=10_000),
    guard: Guard = Guarded(READ_PERIOD),
) -> PeriodParameters:
    period = await handlers.get_program_period(store, code)
    if version not in period.parameters:
        raise NotFound(f"Program period {code} has no parameter version {version}.")
    return period.parameters[version]


@router.post(
    "/program-periods/{code}/criteria",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    tags=["program periods"],
    summary="Publish a new targeting-criteria version",
)
async def publish_criteria(
    body: PublishCriteria, store: StoreDep, code: PeriodCode, guard: Guard = Guarded(PUBLISH_CRITERIA)
) -> Accepted:
    return Accepted.of(
        await handlers.publish_criteria(store, guard.actor, code, body.rule, body.thresholds, body.dataset)
    )


@router.post(
    "/program-periods/{code}/criteria/{version}/evaluations",
    response_model=list[AssessmentOut],
    tags=["program periods"],
    summary="Propose a shortlist from a kecamatan indicator table",
)
async def evaluate_criteria(
    store: StoreDep,
    code: PeriodCode,
    version: int = Path(ge=1, le=10_000),
    table: UploadFile = File(
        description="CSV or XLSX: kecamatan_code, families, pra_ks_ks1_families, welfare_index"
    ),
    guard: Guard = Guarded(EVALUATE_CRITERIA),
) -> list[AssessmentOut]:
    period = await handlers.get_program_period(store, code)
    published = period.criteria_version(version)
    rows = criteria.parse_indicator_rows(read_table(await _read_upload(table), table.filename or ""))
    return [AssessmentOut(**a.__dict__) for a in criteria.evaluate(published, rows)]


async def _read_upload(upload: UploadFile) -> bytes:
    content = await upload.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        raise InvalidInput(f"The file is larger than {MAX_UPLOAD // (1024 * 1024)} MB; split it.")
    return content


# --- kelurahan sasaran -------------------------------------------------------------------------------------


class Nominate(_Input):
    # Any region code passes the schema, so a kecamatan or kota code gets the message naming the
    # code and the level needed (from regions.require), not a bare pattern mismatch.
    kelurahan_code: str = Field(pattern=REGION_CODE.pattern, examples=["33.74.10.1004"])
    indicators: KelurahanIndicators


class Decide(_Input):
    verified: bool = Field(description="true: verified as a target; false: rejected")
    criteria_version: int = Field(ge=1, le=10_000)
    reason: str = Field(min_length=1, max_length=1000)


class Confirm(_Input):
    letter: str = Field(min_length=1, max_length=200, examples=["Surat Walikota 050/123/2026"])


class Drop(_Input):
    reason: str = Field(min_length=1, max_length=1000)


class SasaranOut(BaseModel):
    period_code: str
    kelurahan_code: str
    city_code: str
    status: str
    population: int | None
    households: int | None
    poor_households: int | None
    criteria_version: int | None
    version: int
    changed_at: datetime


class RowOutcomeOut(BaseModel):
    row: int
    kelurahan_code: str
    outcome: str
    reason: str
    refusal: str | None


class ImportReportOut(BaseModel):
    imported: bool
    nominated: int
    unchanged: int
    rejected: int
    rows: list[RowOutcomeOut]


def _hidden(code: str, kelurahan_code: str) -> str:
    return handlers.sasaran_missing(code, kelurahan_code)


@router.post(
    "/program-periods/{code}/kelurahan",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    tags=["kelurahan sasaran"],
    summary="Nominate a kelurahan",
)
async def nominate(
    body: Nominate, store: StoreDep, code: PeriodCode, guard: Guard = Guarded(NOMINATE)
) -> Accepted:
    regions.require(body.kelurahan_code, regions.Level.DESA_KELURAHAN, what="kelurahan")
    await guard.check(body.kelurahan_code, hidden=f"{body.kelurahan_code} is not in your area.")
    recorded = await handlers.nominate(store, guard.actor, code, body.kelurahan_code, body.indicators)
    if not recorded:  # the same nomination again: nothing new to record
        sasaran = await handlers.get_sasaran(store, code, body.kelurahan_code)
        return Accepted(stream_id=sasaran.stream, version=sasaran.version, event_ids=[])
    return Accepted.of(recorded)


@router.post(
    "/program-periods/{code}/kelurahan/imports",
    response_model=ImportReportOut,
    tags=["kelurahan sasaran"],
    summary="Nominate from a CSV or XLSX sheet: every row or none",
)
async def import_nominations(
    store: StoreDep,
    code: PeriodCode,
    sheet: UploadFile = File(description="CSV or XLSX: " + ", ".join(imports.COLUMNS)),
    guard: Guard = Guarded(NOMINATE),
) -> ImportReportOut:
    table = read_table(await _read_upload(sheet), sheet.filename or "")
    report = await imports.import_nominations(store, guard, code, table)
    return ImportReportOut(
        imported=report.imported,
        nominated=report.count("nominated"),
        unchanged=report.count("unchanged"),
        rejected=report.count("rejected"),
        rows=[RowOutcomeOut(**r.__dict__) for r in report.rows],
    )


@router.get("/program-periods/{code}/kelurahan", response_model=list[SasaranOut], tags=["kelurahan sasaran"])
async def list_sasaran(
    runtime: RuntimeDep,
    code: PeriodCode,
    city: str | None = Query(default=None, pattern=REGION_CODE.pattern, examples=["33.74"]),
    status_: str | None = Query(default=None, alias="status", max_length=20),
    guard: Guard = Guarded(READ_SASARAN),
) -> list[SasaranOut]:
    query = select(kelurahan_sasaran).where(
        kelurahan_sasaran.c.period_code == code, guard.visible(kelurahan_sasaran.c.kelurahan_code)
    )
    if city:
        guard.check_filter(city)
        query = query.where(
            or_(
                kelurahan_sasaran.c.kelurahan_code == city,
                kelurahan_sasaran.c.kelurahan_code.like(city + ".%"),
            )
        )
    if status_:
        query = query.where(kelurahan_sasaran.c.status == status_)
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(query.order_by(kelurahan_sasaran.c.kelurahan_code).limit(20_000))
        return [SasaranOut.model_validate(dict(r._mapping)) for r in rows]


@router.get(
    "/program-periods/{code}/kelurahan/{kelurahan_code}",
    response_model=SasaranOut,
    tags=["kelurahan sasaran"],
)
async def get_sasaran(
    runtime: RuntimeDep, code: PeriodCode, kelurahan_code: KelurahanCode, guard: Guard = Guarded(READ_SASARAN)
) -> SasaranOut:
    await guard.check(kelurahan_code, hidden=_hidden(code, kelurahan_code))
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(kelurahan_sasaran).where(
                    kelurahan_sasaran.c.period_code == code,
                    kelurahan_sasaran.c.kelurahan_code == kelurahan_code,
                )
            )
        ).first()
    if row is None:
        raise NotFound(_hidden(code, kelurahan_code))
    return SasaranOut.model_validate(dict(row._mapping))


@router.post(
    "/program-periods/{code}/kelurahan/{kelurahan_code}/verification",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    tags=["kelurahan sasaran"],
    summary="Verify or reject a nomination",
)
async def decide(
    body: Decide,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(VERIFY),
) -> Accepted:
    await guard.check(kelurahan_code, hidden=_hidden(code, kelurahan_code))
    return Accepted.of(
        await handlers.decide(
            store,
            guard.actor,
            code,
            kelurahan_code,
            verified=body.verified,
            criteria_version=body.criteria_version,
            reason=body.reason,
        )
    )


@router.post(
    "/program-periods/{code}/kelurahan/{kelurahan_code}/confirmation",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    tags=["kelurahan sasaran"],
    summary="Record the pemda's confirmation",
)
async def confirm(
    body: Confirm,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(CONFIRM),
) -> Accepted:
    await guard.check(kelurahan_code, hidden=_hidden(code, kelurahan_code))
    return Accepted.of(await handlers.confirm(store, guard.actor, code, kelurahan_code, body.letter))


@router.post(
    "/program-periods/{code}/kelurahan/{kelurahan_code}/drop",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    tags=["kelurahan sasaran"],
    summary="Drop a kelurahan from the targets",
)
async def drop(
    body: Drop, store: StoreDep, code: PeriodCode, kelurahan_code: KelurahanCode, guard: Guard = Guarded(DROP)
) -> Accepted:
    await guard.check(kelurahan_code, hidden=_hidden(code, kelurahan_code))
    return Accepted.of(await handlers.drop(store, guard.actor, code, kelurahan_code, body.reason))
