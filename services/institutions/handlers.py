"""Institutions command handlers: one transaction each — check what targeting told us, load the
aggregate, decide, append with the version read, and update the service's views beside the events."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.institutions.cycle import KelurahanCycle
from services.institutions.ksm import Ksm
from services.institutions.readmodels import (
    parameters_of,
    people,
    person_trainings,
    program_periods,
    ps2_members,
    ps2_versions,
    record_cycle,
    record_ksm,
    targeted_kelurahan,
)
from services.institutions.training import Training, TrainingCatalogue
from shared.aggregate import load, save
from shared.contracts.institutions import KsmType, Member, Person, TrainingModuleAdded
from shared.contracts.targeting import PeriodParameters
from shared.errors import Conflict
from shared.events import Actor, RecordedEvent, utcnow
from shared.eventstore import EventStore

TARGETED = ("verified", "confirmed")


async def _targeting_status(conn: AsyncConnection, period_code: str, kelurahan_code: str) -> str | None:
    return (
        await conn.execute(
            select(targeted_kelurahan.c.status).where(
                targeted_kelurahan.c.period_code == period_code,
                targeted_kelurahan.c.kelurahan_code == kelurahan_code,
            )
        )
    ).scalar_one_or_none()


async def require_targeted(
    conn: AsyncConnection, period_code: str, kelurahan_code: str, *, starting: bool
) -> None:
    """A cycle starts only in a kelurahan targeting verified for the period, and stops when it is dropped."""
    status = await _targeting_status(conn, period_code, kelurahan_code)
    name = f"Kelurahan {kelurahan_code}"
    if status == "dropped":
        raise Conflict(f"{name} was dropped as a target of {period_code}; its cycle cannot go on.")
    if starting and status not in TARGETED:
        if status is None:
            raise Conflict(
                f"{name} has not been verified as a target of program period {period_code}: no verification "
                "from the targeting service has reached the institutions service. If it was verified just "
                "now, try again in a moment."
            )
        raise Conflict(
            f"{name} is {status} in program period {period_code}; only a kelurahan the targeting service "
            "verified can start a cycle."
        )


async def targeted_on(conn: AsyncConnection, period_code: str, kelurahan_code: str) -> date | None:
    return (
        await conn.execute(
            select(targeted_kelurahan.c.targeted_on).where(
                targeted_kelurahan.c.period_code == period_code,
                targeted_kelurahan.c.kelurahan_code == kelurahan_code,
            )
        )
    ).scalar_one_or_none()


async def published_ps2(conn: AsyncConnection, period_code: str, kelurahan_code: str) -> set[int]:
    rows = await conn.execute(
        select(ps2_versions.c.version).where(
            ps2_versions.c.period_code == period_code, ps2_versions.c.kelurahan_code == kelurahan_code
        )
    )
    return set(rows.scalars())


async def not_on_ps2(
    conn: AsyncConnection, period_code: str, kelurahan_code: str, households: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    rows = await conn.execute(
        select(ps2_members.c.household_id).where(
            ps2_members.c.period_code == period_code,
            ps2_members.c.kelurahan_code == kelurahan_code,
            ps2_members.c.on_list.is_(True),
            ps2_members.c.household_id.in_([str(h) for h in households]),
        )
    )
    on_list = {uuid.UUID(h) for h in rows.scalars()}
    return [h for h in households if h not in on_list]


async def registered_people(
    conn: AsyncConnection,
    ids: Sequence[uuid.UUID],
    *,
    kelurahan_code: str | None = None,
    city_code: str | None = None,
) -> list[Person]:
    """The people of the register with these ids (in this kelurahan, or city), or a 409 naming the others."""
    query = select(people.c.person_id, people.c.woman).where(people.c.person_id.in_([str(i) for i in ids]))
    if kelurahan_code:
        query = query.where(people.c.kelurahan_code == kelurahan_code)
    if city_code:
        query = query.where(people.c.city_code == city_code)
    found = {uuid.UUID(p): woman for p, woman in await conn.execute(query)}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        where = f"kelurahan {kelurahan_code}" if kelurahan_code else f"city {city_code}"
        raise Conflict(
            f"Not in the person register of {where}: {', '.join(unknown)}. Register each person first."
        )
    return [Person(person_id=i, woman=found[i]) for i in ids]


# --- the cycle --------------------------------------------------------------------------------------


async def on_cycle(
    store: EventStore,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    decide: Callable[[KelurahanCycle, AsyncConnection], object],
    *,
    starting: bool = False,
) -> list[RecordedEvent]:
    """Run one cycle command: ``decide`` may await (it returns a coroutine) or not."""
    async with store.transaction() as conn:
        await require_targeted(conn, period_code, kelurahan_code, starting=starting)
        cycle = await load(store, KelurahanCycle(period_code, kelurahan_code), conn=conn)
        if not starting and not cycle.exists:
            raise Conflict(
                f"The cycle of kelurahan {kelurahan_code} in {period_code} has not started: the sosialisasi "
                "awal comes first."
            )
        if inspect.isawaitable(outcome := decide(cycle, conn)):
            await outcome
        recorded = await save(store, cycle, actor, conn=conn)
        await record_cycle(conn, cycle, recorded[-1].recorded_at)
        return recorded


@dataclass(frozen=True)
class CycleView:
    cycle: KelurahanCycle
    parameters: PeriodParameters | None  # None until the period's parameters reached this service
    targeted_on: date | None
    period_ends_on: date | None


async def get_cycle(store: EventStore, period_code: str, kelurahan_code: str) -> CycleView:
    async with store.engine.connect() as conn:
        cycle = await load(store, KelurahanCycle(period_code, kelurahan_code), conn=conn)
        try:
            _, parameters = await parameters_of(conn, period_code, cycle.parameters_version)
        except Conflict:
            parameters = None
        ends_on = (
            await conn.execute(select(program_periods.c.ends_on).where(program_periods.c.code == period_code))
        ).scalar_one_or_none()
        return CycleView(cycle, parameters, await targeted_on(conn, period_code, kelurahan_code), ends_on)


# --- KSM --------------------------------------------------------------------------------------------


async def on_ksm(
    store: EventStore,
    actor: Actor,
    ksm_id: uuid.UUID,
    decide: Callable[[Ksm, AsyncConnection, PeriodParameters, int], object],
) -> list[RecordedEvent]:
    async with store.transaction() as conn:
        ksm = await load(store, Ksm(ksm_id), missing=ksm_missing(ksm_id), conn=conn)
        version, parameters = await parameters_of(conn, ksm.period_code)
        if inspect.isawaitable(outcome := decide(ksm, conn, parameters, version)):
            await outcome
        recorded = await save(store, ksm, actor, conn=conn)
        await record_ksm(conn, ksm, recorded[-1].recorded_at)
        return recorded


def ksm_missing(ksm_id: uuid.UUID) -> str:
    return f"There is no KSM {ksm_id}."


async def get_ksm(store: EventStore, ksm_id: uuid.UUID) -> Ksm:
    return await load(store, Ksm(ksm_id), missing=ksm_missing(ksm_id))


async def register_ksm(
    store: EventStore,
    actor: Actor,
    ksm: Ksm,
    period_code: str,
    kelurahan_code: str,
    name: str,
    type: KsmType,
    registered_on: date,
    members: list[Member],
) -> list[RecordedEvent]:
    async with store.transaction() as conn:
        await require_targeted(conn, period_code, kelurahan_code, starting=False)
        cycle = await load(store, KelurahanCycle(period_code, kelurahan_code), conn=conn)
        cycle.require_bkm(registered_on, "KSM are formed under a BKM")
        version, parameters = await parameters_of(conn, period_code)
        missing = await not_on_ps2(conn, period_code, kelurahan_code, [m.household_id for m in members])
        ksm.register(
            period_code, kelurahan_code, name, type, registered_on, members, missing, parameters.ksm, version
        )
        recorded = await save(store, ksm, actor, conn=conn)
        await record_ksm(conn, ksm, recorded[-1].recorded_at)
        return recorded


# --- training ------------------------------------------------------------------------------------------


async def add_module(
    store: EventStore, actor: Actor, period_code: str, decide: Callable[[TrainingCatalogue], None]
) -> list[RecordedEvent]:
    async with store.transaction() as conn:
        await parameters_of(conn, period_code)  # the period exists (its parameters reached us)
        catalogue = await load(store, TrainingCatalogue(period_code), conn=conn)
        decide(catalogue)
        return await save(store, catalogue, actor, conn=conn)


async def catalogue_of(
    store: EventStore, period_code: str, conn: AsyncConnection | None = None
) -> TrainingCatalogue:
    return await load(store, TrainingCatalogue(period_code), conn=conn)


async def deliver_training(
    store: EventStore,
    actor: Actor,
    training: Training,
    period_code: str,
    kelurahan_code: str,
    module_code: str,
    decide: Callable[[Training, TrainingModuleAdded], None],
) -> list[RecordedEvent]:
    async with store.transaction() as conn:
        catalogue = await load(store, TrainingCatalogue(period_code), conn=conn)
        decide(training, catalogue.module(module_code))
        delivered = training.delivered
        assert delivered is not None
        await registered_people(
            conn, [p.person_id for p in delivered.participants], city_code=kelurahan_code[:5]
        )
        recorded = await save(store, training, actor, conn=conn)
        for participant in delivered.participants:
            await conn.execute(
                person_trainings.insert().values(
                    person_id=str(participant.person_id),
                    training_id=str(training.training_id),
                    period_code=period_code,
                    kelurahan_code=kelurahan_code,
                    module_code=module_code,
                    jpl=delivered.jpl,
                    delivered_on=delivered.delivered_on,
                    role=str(participant.role),
                    trainer_role=str(delivered.trainer_role),
                )
            )
        return recorded


# --- the person register ----------------------------------------------------------------------------------


async def register_person(store: EventStore, kelurahan_code: str, name: str, woman: bool) -> uuid.UUID:
    person_id = uuid.uuid4()
    async with store.transaction() as conn:
        await conn.execute(
            people.insert().values(
                person_id=str(person_id),
                kelurahan_code=kelurahan_code,
                city_code=kelurahan_code[:5],
                name=name,
                woman=woman,
                registered_at=utcnow(),
            )
        )
    return person_id


async def erase_person(store: EventStore, person_id: uuid.UUID) -> None:
    async with store.transaction() as conn:
        await conn.execute(
            update(people).where(people.c.person_id == str(person_id)).values(name=None, erased_at=utcnow())
        )


def person_missing(person_id: uuid.UUID) -> str:
    return f"There is no person {person_id} in the register."
