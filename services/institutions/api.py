"""Institutions HTTP API, part one: the kelurahan cycle and its BKM."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.institutions import handlers
from services.institutions.cycle import Candidate, KelurahanCycle, Progress
from services.institutions.readmodels import cycles, parameters_of, people
from shared.clock import today
from shared.contracts.cycle import Step
from shared.contracts.institutions import RT_RW, Meeting, RkmDecision, Unit
from shared.contracts.targeting import KELURAHAN_CODE, PERIOD_CODE
from shared.dependencies import StoreDep
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import read, write
from shared.security.principal import REGION_CODE, Role

router = APIRouter()
Endpoint = Callable[..., Any]

PROGRAM = frozenset({Role.NATIONAL_ADMIN, Role.REGIONAL_CONSULTANT, Role.CITY_OPERATOR})
FIELD = PROGRAM | {Role.FACILITATOR}
# Roles that see people's names (the person register is personal data); others get ids only.
SEES_NAMES = frozenset(
    {
        Role.NATIONAL_ADMIN,
        Role.REGIONAL_CONSULTANT,
        Role.CITY_OPERATOR,
        Role.FACILITATOR,
        Role.BKM_OFFICER,
        Role.AUDITOR,
    }
)
READ_CYCLE = read("institutions.cycle.read")
RECORD_STEP = write("institutions.cycle.record", FIELD)
RECORD_ELECTION = write("institutions.bkm.record", FIELD)

PeriodCode = Annotated[str, Path(pattern=PERIOD_CODE, examples=["KOTAKU"])]
KelurahanCode = Annotated[str, Path(pattern=KELURAHAN_CODE, examples=["33.74.10.1004"])]
BASE = "/program-periods/{code}/kelurahan/{kelurahan_code}"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def hidden(code: str, kelurahan_code: str) -> str:
    return f"There is no kelurahan {kelurahan_code} in program period {code}."


async def allowed(guard: Guard, code: str, kelurahan_code: str) -> None:
    await guard.check(kelurahan_code, hidden=hidden(code, kelurahan_code))


# --- reading the cycle ----------------------------------------------------------------------------------


class ScheduleItemOut(BaseModel):
    step: Step
    year: int | None
    expected_on: date | None
    done_on: date | None
    progress: Progress
    late_days: int


class CycleOut(BaseModel):
    period_code: str
    kelurahan_code: str
    status: str
    started_on: date | None
    targeted_on: date | None
    parameters_version: int | None
    rkm_decision: RkmDecision | None
    relawan: int
    ps2_version: int | None
    bkm_status: str
    bkm_term_ends_on: date | None
    units: dict[Unit, date]
    schedule: list[ScheduleItemOut]
    late_steps: int
    version: int


@router.get(f"{BASE}/cycle", response_model=CycleOut, tags=["cycle"], summary="The cycle with its lateness")
async def get_cycle(
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    as_of: date | None = Query(default=None, description="judge lateness on this day (default today)"),
    guard: Guard = Guarded(READ_CYCLE),
) -> CycleOut:
    await allowed(guard, code, kelurahan_code)
    view = await handlers.get_cycle(store, code, kelurahan_code)
    cycle, on = view.cycle, as_of or today()
    schedule = (
        cycle.schedule(view.parameters.cycle, view.targeted_on, on, view.period_ends_on)
        if view.parameters
        else []
    )
    return CycleOut(
        period_code=code,
        kelurahan_code=kelurahan_code,
        status=str(cycle.status),
        started_on=cycle.started_on,
        targeted_on=view.targeted_on,
        parameters_version=cycle.parameters_version,
        rkm_decision=cycle.rkm.decision if cycle.rkm else None,
        relawan=len(cycle.relawan),
        ps2_version=cycle.ps2_version,
        bkm_status=str(cycle.bkm.status(on)) if cycle.bkm else "not formed",
        bkm_term_ends_on=cycle.bkm.term_ends_on if cycle.bkm else None,
        units=dict(cycle.units),
        schedule=[ScheduleItemOut(**item.__dict__) for item in schedule],
        late_steps=sum(item.progress in (Progress.LATE, Progress.DONE_LATE) for item in schedule),
        version=cycle.version,
    )


class CycleRowOut(BaseModel):
    period_code: str
    kelurahan_code: str
    status: str
    started_on: date | None
    last_step: str | None
    last_step_on: date | None
    bkm_term_ends_on: date | None
    version: int
    changed_at: datetime


@router.get("/program-periods/{code}/cycles", response_model=list[CycleRowOut], tags=["cycle"])
async def list_cycles(
    store: StoreDep,
    code: PeriodCode,
    city: str | None = Query(default=None, pattern=REGION_CODE.pattern, examples=["33.74"]),
    limit: int = Query(default=500, ge=1, le=5000),
    guard: Guard = Guarded(READ_CYCLE),
) -> list[CycleRowOut]:
    query = select(cycles).where(cycles.c.period_code == code, guard.visible(cycles.c.kelurahan_code))
    if city:
        guard.check_filter(city)
        query = query.where(cycles.c.kelurahan_code.like(city + "%"))
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(cycles.c.kelurahan_code).limit(limit))).mappings()
        return [CycleRowOut(**row) for row in rows]


# --- the steps -------------------------------------------------------------------------------------------


class StepMeeting(Input):
    meeting: Meeting


class Rkm(Input):
    meeting: Meeting
    decision: RkmDecision
    request_letter: str | None = Field(
        default=None, min_length=1, max_length=200, description="required when the RKM accepts"
    )


class Relawan(Input):
    registered_on: date
    person_ids: list[uuid.UUID] = Field(min_length=1, max_length=500, description="from the person register")


class Pemetaan(Input):
    meeting: Meeting
    ps2_version: int = Field(ge=1, le=10_000, description="the PS-2 list version the survey produced")


class FormUnit(Input):
    unit: Unit
    formed_on: date
    sk_number: str = Field(min_length=1, max_length=200)
    staff: list[uuid.UUID] = Field(min_length=1, max_length=50, description="person ids")


class Pjm(Input):
    meeting: Meeting
    document: str = Field(min_length=1, max_length=200)


class Renta(Input):
    year: int = Field(ge=1, le=30)
    approved_on: date
    document: str = Field(min_length=1, max_length=200)


class Review(Input):
    year: int = Field(ge=2, le=30)
    meeting: Meeting
    findings: str = Field(min_length=1, max_length=2000)


def _step_route(path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
    return router.post(
        f"{BASE}/cycle/{path}",
        status_code=status.HTTP_201_CREATED,
        response_model=Accepted,
        tags=["cycle"],
        summary=summary,
    )


@_step_route("sosialisasi-awal", "Record the sosialisasi awal: the cycle starts")
async def hold_sosialisasi(
    body: StepMeeting,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)

    async def decide(cycle: KelurahanCycle, conn: AsyncConnection) -> None:
        version, _ = await parameters_of(conn, code)
        cycle.hold_sosialisasi(body.meeting, version, today())

    return Accepted.of(
        await handlers.on_cycle(store, guard.actor, code, kelurahan_code, decide, starting=True)
    )


@_step_route("rkm", "Record the RKM and the community's decision")
async def hold_rkm(
    body: Rkm,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)
    return Accepted.of(
        await handlers.on_cycle(
            store,
            guard.actor,
            code,
            kelurahan_code,
            lambda cycle, _: cycle.hold_rkm(body.meeting, body.decision, body.request_letter, today()),
        )
    )


@_step_route("relawan", "Register relawan (volunteers) from the person register")
async def register_relawan(
    body: Relawan,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)

    async def decide(cycle: KelurahanCycle, conn: AsyncConnection) -> None:
        found = await handlers.registered_people(conn, body.person_ids, kelurahan_code=kelurahan_code)
        cycle.register_relawan(body.registered_on, found, today())

    return Accepted.of(await handlers.on_cycle(store, guard.actor, code, kelurahan_code, decide))


@_step_route("refleksi-kemiskinan", "Record the Refleksi Kemiskinan")
async def hold_refleksi(
    body: StepMeeting,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)
    return Accepted.of(
        await handlers.on_cycle(
            store,
            guard.actor,
            code,
            kelurahan_code,
            lambda cycle, _: cycle.hold_refleksi(body.meeting, today()),
        )
    )


@_step_route("pemetaan-swadaya", "Record the Pemetaan Swadaya and the PS-2 version it produced")
async def complete_pemetaan(
    body: Pemetaan,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)

    async def decide(cycle: KelurahanCycle, conn: AsyncConnection) -> None:
        published = await handlers.published_ps2(conn, code, kelurahan_code)
        cycle.complete_pemetaan(body.meeting, body.ps2_version, published, today())

    return Accepted.of(await handlers.on_cycle(store, guard.actor, code, kelurahan_code, decide))


@_step_route("units", "Record a unit (UPK, UPL or UPS) formed by the BKM")
async def form_unit(
    body: FormUnit,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)

    async def decide(cycle: KelurahanCycle, conn: AsyncConnection) -> None:
        await handlers.registered_people(conn, body.staff, kelurahan_code=kelurahan_code)
        cycle.form_unit(body.unit, body.formed_on, body.sk_number, body.staff, today())

    return Accepted.of(await handlers.on_cycle(store, guard.actor, code, kelurahan_code, decide))


@_step_route("pjm", "Record an approved PJM Pronangkis (the first, or the year-4 renewal)")
async def approve_pjm(
    body: Pjm,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)
    return Accepted.of(
        await handlers.on_cycle(
            store,
            guard.actor,
            code,
            kelurahan_code,
            lambda cycle, _: cycle.approve_pjm(body.meeting, body.document, today()),
        )
    )


@_step_route("renta", "Record a year's approved Renta Pronangkis")
async def approve_renta(
    body: Renta,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)
    return Accepted.of(
        await handlers.on_cycle(
            store,
            guard.actor,
            code,
            kelurahan_code,
            lambda cycle, _: cycle.approve_renta(body.year, body.approved_on, body.document, today()),
        )
    )


@_step_route("reviews", "Record a year's Review Partisipatif")
async def hold_review(
    body: Review,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_STEP),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)
    return Accepted.of(
        await handlers.on_cycle(
            store,
            guard.actor,
            code,
            kelurahan_code,
            lambda cycle, _: cycle.hold_review(body.year, body.meeting, body.findings, today()),
        )
    )


# --- the BKM ---------------------------------------------------------------------------------------------


class PersonOut(BaseModel):
    person_id: uuid.UUID
    name: str | None = Field(
        description="null once the person's data was erased, or for a role that does not see names"
    )
    woman: bool


class BkmMemberOut(PersonOut):
    coordinator: bool


class BkmOut(BaseModel):
    status: str
    election: int | None
    term_starts_on: date | None
    term_ends_on: date | None
    members: list[BkmMemberOut]
    women_below_target: bool | None
    utusan: dict[int, list[PersonOut]] = Field(description="per election")


@router.get(f"{BASE}/bkm", response_model=BkmOut, tags=["BKM"])
async def get_bkm(
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    as_of: date | None = Query(default=None),
    guard: Guard = Guarded(READ_CYCLE),
) -> BkmOut:
    await allowed(guard, code, kelurahan_code)
    cycle = (await handlers.get_cycle(store, code, kelurahan_code)).cycle
    ids = {i for chosen in cycle.utusan.values() for i in chosen}
    if guard.principal.role not in SEES_NAMES:
        ids = set()
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(people.c.person_id, people.c.name).where(people.c.person_id.in_([str(i) for i in ids]))
        )
        names = {uuid.UUID(p): n for p, n in rows}
    bkm = cycle.bkm

    def out(person_id: uuid.UUID, woman: bool) -> PersonOut:
        return PersonOut(person_id=person_id, name=names.get(person_id), woman=woman)

    return BkmOut(
        status=str(bkm.status(as_of or today())) if bkm else "not formed",
        election=bkm.election if bkm else None,
        term_starts_on=bkm.term_starts_on if bkm else None,
        term_ends_on=bkm.term_ends_on if bkm else None,
        members=[
            BkmMemberOut(**out(p, w).model_dump(), coordinator=p == bkm.coordinator)
            for p, w in bkm.members.items()
        ]
        if bkm
        else [],
        women_below_target=bkm.women_below_target if bkm else None,
        utusan={e: [out(p, w) for p, w in chosen.items()] for e, chosen in cycle.utusan.items()},
    )


class Utusan(Input):
    election: int = Field(ge=1, le=20, description="1 for the first election, 2 for the year-4 re-election")
    rt_rw: str = Field(pattern=RT_RW, examples=["RW 03 / RT 02"])
    held_on: date
    voters: int = Field(ge=1, le=100_000)
    person_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)


class CandidateIn(Input):
    person_id: uuid.UUID
    votes: int = Field(ge=0, le=100_000)
    literate: bool = Field(description="attested by the election committee")
    party_member: bool = Field(description="attested by the election committee")


class Election(Input):
    election: int = Field(ge=1, le=20)
    meeting: Meeting
    ballots_cast: int = Field(ge=1, le=100_000)
    members: list[CandidateIn] = Field(min_length=1, max_length=50)
    coordinator: uuid.UUID
    anggaran_dasar: str = Field(min_length=1, max_length=200, description="the AD/ART reference")


class Replacement(Input):
    leaving: uuid.UUID
    joining: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    replaced_on: date
    berita_acara: str = Field(min_length=1, max_length=200)
    coordinator: uuid.UUID | None = Field(default=None, description="required if the coordinator leaves")


class Coordinator(Input):
    person_id: uuid.UUID
    chosen_on: date


def _bkm_route(path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
    return router.post(
        f"{BASE}/bkm/{path}",
        status_code=status.HTTP_201_CREATED,
        response_model=Accepted,
        tags=["BKM"],
        summary=summary,
    )


@_bkm_route("utusan", "Stage 1: an RT/RW elects its utusan warga")
async def elect_utusan(
    body: Utusan,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_ELECTION),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)

    async def decide(cycle: KelurahanCycle, conn: AsyncConnection) -> None:
        found = await handlers.registered_people(conn, body.person_ids, kelurahan_code=kelurahan_code)
        cycle.elect_utusan(body.election, body.rt_rw, body.held_on, body.voters, found, today())

    return Accepted.of(await handlers.on_cycle(store, guard.actor, code, kelurahan_code, decide))


@_bkm_route("elections", "Stage 2: the utusan elect the BKM members by secret ballot")
async def constitute_bkm(
    body: Election,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_ELECTION),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)

    async def decide(cycle: KelurahanCycle, conn: AsyncConnection) -> None:
        version, parameters = await parameters_of(conn, code)
        cycle.constitute_bkm(
            body.election,
            body.meeting,
            body.ballots_cast,
            [Candidate(m.person_id, m.votes, m.literate, m.party_member) for m in body.members],
            body.coordinator,
            body.anggaran_dasar,
            parameters.bkm,
            version,
            today(),
        )

    return Accepted.of(await handlers.on_cycle(store, guard.actor, code, kelurahan_code, decide))


@_bkm_route("replacements", "Replace a member between elections (PAW)")
async def replace_member(
    body: Replacement,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_ELECTION),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)
    return Accepted.of(
        await handlers.on_cycle(
            store,
            guard.actor,
            code,
            kelurahan_code,
            lambda cycle, _: cycle.replace_member(
                body.leaving,
                body.joining,
                body.reason,
                body.replaced_on,
                body.berita_acara,
                body.coordinator,
                today(),
            ),
        )
    )


@_bkm_route("coordinator", "Choose a new coordinator among the members")
async def choose_coordinator(
    body: Coordinator,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_ELECTION),
) -> Accepted:
    await allowed(guard, code, kelurahan_code)
    return Accepted.of(
        await handlers.on_cycle(
            store,
            guard.actor,
            code,
            kelurahan_code,
            lambda cycle, _: cycle.choose_coordinator(body.person_id, body.chosen_on, today()),
        )
    )
