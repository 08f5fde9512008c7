"""Institutions HTTP API, part two: KSM, the person register and cadre training."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.institutions import handlers
from services.institutions.api import (
    BASE,
    FIELD,
    SEES_NAMES,
    Input,
    KelurahanCode,
    PeriodCode,
    PersonOut,
    allowed,
)
from services.institutions.ksm import Ksm
from services.institutions.readmodels import ksm_groups, people, person_trainings
from services.institutions.training import Training
from shared.clock import today
from shared.contracts.institutions import (
    Audience,
    EligibilitySnapshot,
    KsmType,
    Member,
    Participant,
    TrainerRole,
)
from shared.contracts.targeting import MODULE_CODE, PeriodParameters
from shared.dependencies import StoreDep
from shared.errors import NotFound
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import read, write
from shared.security.principal import Role

router = APIRouter()
Endpoint = Callable[..., Any]

COMMUNITY = FIELD | {Role.BKM_OFFICER}
READ_KSM = read("institutions.ksm.read")
RECORD_KSM = write("institutions.ksm.record", COMMUNITY)
REGISTER_PERSON = write("institutions.person.register", COMMUNITY)
READ_PERSON = read("institutions.person.read", SEES_NAMES)
ERASE_PERSON = write("institutions.person.erase", frozenset({Role.NATIONAL_ADMIN, Role.CITY_OPERATOR}))
ADD_MODULE = write("institutions.training-module.add", frozenset({Role.NATIONAL_ADMIN}), national=True)
READ_MODULES = read("institutions.training-module.read", national=True)
RECORD_TRAINING = write("institutions.training.record", COMMUNITY)

KsmId = Annotated[uuid.UUID, Path()]
PersonId = Annotated[uuid.UUID, Path()]


# --- KSM -------------------------------------------------------------------------------------------------


class RegisterKsm(Input):
    name: str = Field(min_length=1, max_length=200, examples=["KSM Maju Bersama"])
    type: KsmType
    registered_on: date
    members: list[Member] = Field(min_length=1, max_length=100)


class KsmRegistered(Accepted):
    ksm_id: uuid.UUID


class MemberOut(Member):
    flagged: str | None = Field(description="why the member no longer counts (off the PS-2 list)")


class EligibilityOut(BaseModel):
    eligible: bool
    unmet: list[str]
    snapshot: EligibilitySnapshot


class KsmOut(BaseModel):
    ksm_id: uuid.UUID
    period_code: str
    kelurahan_code: str
    name: str
    type: KsmType
    registered_on: date
    members: list[MemberOut]
    savings: dict[str, int]
    savings_months: int
    joint_liability_signed_on: date | None
    trainings: dict[str, date]
    loan_eligibility: EligibilityOut | None = Field(description="only a KSM ekonomi borrows")
    version: int


def _ksm_out(ksm: Ksm) -> KsmOut:
    assert ksm.type is not None and ksm.registered_on is not None
    e = ksm.eligibility
    return KsmOut(
        ksm_id=ksm.ksm_id,
        period_code=ksm.period_code,
        kelurahan_code=ksm.kelurahan_code,
        name=ksm.name,
        type=ksm.type,
        registered_on=ksm.registered_on,
        members=[
            MemberOut(household_id=h, woman=w, flagged=ksm.flagged.get(h)) for h, w in ksm.members.items()
        ],
        savings=dict(sorted(ksm.savings.items())),
        savings_months=ksm.savings_months,
        joint_liability_signed_on=ksm.joint_liability_signed_on,
        trainings=ksm.trainings,
        loan_eligibility=EligibilityOut(eligible=e.eligible, unmet=list(e.unmet), snapshot=e.snapshot)
        if e
        else None,
        version=ksm.version,
    )


@router.post(f"{BASE}/ksm", status_code=status.HTTP_201_CREATED, response_model=KsmRegistered, tags=["KSM"])
async def register_ksm(
    body: RegisterKsm,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_KSM),
) -> KsmRegistered:
    await allowed(guard, code, kelurahan_code)
    ksm = Ksm(uuid.uuid4())
    recorded = await handlers.register_ksm(
        store, guard.actor, ksm, code, kelurahan_code, body.name, body.type, body.registered_on, body.members
    )
    return KsmRegistered(ksm_id=ksm.ksm_id, **Accepted.of(recorded).model_dump())


class KsmRowOut(BaseModel):
    ksm_id: uuid.UUID
    name: str
    type: KsmType
    members: int
    women: int
    flagged: int
    loan_eligible: bool | None
    version: int
    changed_at: datetime


@router.get(f"{BASE}/ksm", response_model=list[KsmRowOut], tags=["KSM"])
async def list_ksm(
    store: StoreDep, code: PeriodCode, kelurahan_code: KelurahanCode, guard: Guard = Guarded(READ_KSM)
) -> list[KsmRowOut]:
    await allowed(guard, code, kelurahan_code)
    query = select(ksm_groups).where(
        ksm_groups.c.period_code == code, ksm_groups.c.kelurahan_code == kelurahan_code
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(ksm_groups.c.name))).mappings()
        return [KsmRowOut(**row) for row in rows]


async def _ksm_in_scope(store: StoreDep, guard: Guard, ksm_id: uuid.UUID) -> Ksm:
    ksm = await handlers.get_ksm(store, ksm_id)
    await guard.check(ksm.kelurahan_code, hidden=handlers.ksm_missing(ksm_id))
    return ksm


@router.get("/ksm/{ksm_id}", response_model=KsmOut, tags=["KSM"], summary="A KSM with its loan eligibility")
async def get_ksm(store: StoreDep, ksm_id: KsmId, guard: Guard = Guarded(READ_KSM)) -> KsmOut:
    return _ksm_out(await _ksm_in_scope(store, guard, ksm_id))


class Join(Input):
    member: Member
    joined_on: date


class Leave(Input):
    left_on: date
    reason: str = Field(min_length=1, max_length=500)


class Savings(Input):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])
    amount_rupiah: int = Field(ge=0, le=10_000_000_000)


class JointLiability(Input):
    signed_on: date
    document: str = Field(min_length=1, max_length=200)
    signatories: int = Field(ge=1, le=100)


class KsmTraining(Input):
    module_code: str = Field(pattern=MODULE_CODE, examples=["PB"])
    completed_on: date


def _ksm_route(path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
    return router.post(
        f"/ksm/{{ksm_id}}/{path}",
        status_code=status.HTTP_201_CREATED,
        response_model=Accepted,
        tags=["KSM"],
        summary=summary,
    )


@_ksm_route("members", "A household on the PS-2 list joins")
async def join_ksm(
    body: Join, store: StoreDep, ksm_id: KsmId, guard: Guard = Guarded(RECORD_KSM)
) -> Accepted:
    await _ksm_in_scope(store, guard, ksm_id)

    async def decide(ksm: Ksm, conn: AsyncConnection, parameters: PeriodParameters, version: int) -> None:
        missing = await handlers.not_on_ps2(
            conn, ksm.period_code, ksm.kelurahan_code, [body.member.household_id]
        )
        ksm.join(body.member, body.joined_on, not missing, parameters.ksm, version)

    return Accepted.of(await handlers.on_ksm(store, guard.actor, ksm_id, decide))


@_ksm_route("members/{household_id}/departure", "A member leaves")
async def leave_ksm(
    body: Leave, store: StoreDep, ksm_id: KsmId, household_id: uuid.UUID, guard: Guard = Guarded(RECORD_KSM)
) -> Accepted:
    await _ksm_in_scope(store, guard, ksm_id)
    return Accepted.of(
        await handlers.on_ksm(
            store,
            guard.actor,
            ksm_id,
            lambda ksm, _, parameters, version: ksm.leave(
                household_id, body.left_on, body.reason, parameters.ksm, version
            ),
        )
    )


@_ksm_route("savings", "Record a month's group savings")
async def record_savings(
    body: Savings, store: StoreDep, ksm_id: KsmId, guard: Guard = Guarded(RECORD_KSM)
) -> Accepted:
    await _ksm_in_scope(store, guard, ksm_id)
    return Accepted.of(
        await handlers.on_ksm(
            store,
            guard.actor,
            ksm_id,
            lambda ksm, _, parameters, version: ksm.record_savings(
                body.month, body.amount_rupiah, today(), parameters.ksm, version
            ),
        )
    )


@_ksm_route("joint-liability", "Record the signed joint-liability statement (tanggung renteng)")
async def record_joint_liability(
    body: JointLiability, store: StoreDep, ksm_id: KsmId, guard: Guard = Guarded(RECORD_KSM)
) -> Accepted:
    await _ksm_in_scope(store, guard, ksm_id)
    return Accepted.of(
        await handlers.on_ksm(
            store,
            guard.actor,
            ksm_id,
            lambda ksm, _, parameters, version: ksm.record_joint_liability(
                body.signed_on, body.document, body.signatories, parameters.ksm, version
            ),
        )
    )


@_ksm_route("trainings", "Record a training the group completed")
async def record_ksm_training(
    body: KsmTraining, store: StoreDep, ksm_id: KsmId, guard: Guard = Guarded(RECORD_KSM)
) -> Accepted:
    await _ksm_in_scope(store, guard, ksm_id)

    async def decide(ksm: Ksm, conn: AsyncConnection, parameters: PeriodParameters, version: int) -> None:
        catalogue = await handlers.catalogue_of(store, ksm.period_code, conn)
        catalogue.module(body.module_code)
        ksm.record_training(body.module_code, body.completed_on, parameters.ksm, version)

    return Accepted.of(await handlers.on_ksm(store, guard.actor, ksm_id, decide))


# --- the person register -----------------------------------------------------------------------------------


class RegisterPerson(Input):
    name: str = Field(min_length=1, max_length=200)
    woman: bool


class PersonRegistered(BaseModel):
    person_id: uuid.UUID


class TrainingOut(BaseModel):
    training_id: uuid.UUID
    period_code: str
    kelurahan_code: str
    module_code: str
    jpl: int
    delivered_on: date
    role: Audience
    trainer_role: TrainerRole


class PersonDetailOut(PersonOut):
    kelurahan_code: str
    trainings: list[TrainingOut]
    total_jpl: int


@router.post(
    "/kelurahan/{kelurahan_code}/people",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonRegistered,
    tags=["people"],
    summary="Register a relawan, utusan, BKM or UP member; the name stays in this service",
)
async def register_person(
    body: RegisterPerson,
    store: StoreDep,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(REGISTER_PERSON),
) -> PersonRegistered:
    await guard.check(kelurahan_code, hidden=f"There is no kelurahan {kelurahan_code}.")
    return PersonRegistered(
        person_id=await handlers.register_person(store, kelurahan_code, body.name, body.woman)
    )


async def _person_row(store: StoreDep, guard: Guard, person_id: uuid.UUID) -> dict[str, object]:
    async with store.engine.connect() as conn:
        row = (
            (await conn.execute(select(people).where(people.c.person_id == str(person_id))))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(handlers.person_missing(person_id))
    await guard.check(row["kelurahan_code"], hidden=handlers.person_missing(person_id))
    return dict(row)


@router.get(
    "/people/{person_id}",
    response_model=PersonDetailOut,
    tags=["people"],
    summary="A person and their trainings",
)
async def get_person(
    store: StoreDep, person_id: PersonId, guard: Guard = Guarded(READ_PERSON)
) -> PersonDetailOut:
    row = await _person_row(store, guard, person_id)
    async with store.engine.connect() as conn:
        trainings = (
            await conn.execute(
                select(person_trainings)
                .where(person_trainings.c.person_id == str(person_id))
                .order_by(person_trainings.c.delivered_on)
            )
        ).mappings()
        history = [TrainingOut(**t) for t in trainings]
    return PersonDetailOut(
        person_id=person_id,
        name=row["name"],
        woman=row["woman"],
        kelurahan_code=row["kelurahan_code"],
        trainings=history,
        total_jpl=sum(t.jpl for t in history),
    )


@router.delete(
    "/people/{person_id}/personal-data",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    tags=["people"],
    summary="Erase a person's name (their pseudonymous records stay)",
)
async def erase_person(
    store: StoreDep, person_id: PersonId, guard: Guard = Guarded(ERASE_PERSON)
) -> Response:
    await _person_row(store, guard, person_id)
    await handlers.erase_person(store, person_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- training -----------------------------------------------------------------------------------------


class AddModule(Input):
    code: str = Field(pattern=MODULE_CODE, examples=["PB"])
    title: str = Field(min_length=1, max_length=200, examples=["Pinjaman bergulir"])
    jpl: int = Field(ge=1, le=500, description="jam pelajaran of 45 minutes")
    audience: list[Audience] = Field(min_length=1, max_length=6)


class ModuleOut(BaseModel):
    code: str
    title: str
    jpl: int
    audience: list[Audience]


@router.post(
    "/program-periods/{code}/training-modules",
    status_code=status.HTTP_201_CREATED,
    response_model=Accepted,
    tags=["training"],
)
async def add_module(
    body: AddModule, store: StoreDep, code: PeriodCode, guard: Guard = Guarded(ADD_MODULE)
) -> Accepted:
    return Accepted.of(
        await handlers.add_module(
            store,
            guard.actor,
            code,
            lambda catalogue: catalogue.add_module(body.code, body.title, body.jpl, body.audience),
        )
    )


@router.get("/program-periods/{code}/training-modules", response_model=list[ModuleOut], tags=["training"])
async def list_modules(
    store: StoreDep, code: PeriodCode, guard: Guard = Guarded(READ_MODULES)
) -> list[ModuleOut]:
    catalogue = await handlers.catalogue_of(store, code)
    return [
        ModuleOut(code=m.code, title=m.title, jpl=m.jpl, audience=list(m.audience))
        for m in sorted(catalogue.modules.values(), key=lambda m: m.code)
    ]


class DeliverTraining(Input):
    module_code: str = Field(pattern=MODULE_CODE, examples=["PB"])
    delivered_on: date
    trainer_role: TrainerRole
    participants: list[Participant] = Field(min_length=1, max_length=500)


class TrainingRecorded(Accepted):
    training_id: uuid.UUID


@router.post(
    f"{BASE}/trainings",
    status_code=status.HTTP_201_CREATED,
    response_model=TrainingRecorded,
    tags=["training"],
)
async def deliver_training(
    body: DeliverTraining,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(RECORD_TRAINING),
) -> TrainingRecorded:
    await allowed(guard, code, kelurahan_code)
    training = Training(uuid.uuid4())
    recorded = await handlers.deliver_training(
        store,
        guard.actor,
        training,
        code,
        kelurahan_code,
        body.module_code,
        lambda t, module: t.deliver(
            module, kelurahan_code, body.delivered_on, body.trainer_role, body.participants, today()
        ),
    )
    return TrainingRecorded(training_id=training.training_id, **Accepted.of(recorded).model_dump())
