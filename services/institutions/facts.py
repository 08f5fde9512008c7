"""What the institutions service keeps from the targeting service's events, and the policy they drive.

Kept: which kelurahan are targets of each period (and since when), the period parameters, the PS-2
list's members and published versions. Driven: when a household leaves the PS-2 list, every KSM it
belongs to flags it (and the KSM's loan eligibility is re-derived); when it returns, the flag clears.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.institutions.ksm import Ksm
from services.institutions.readmodels import (
    PERIODS,
    ksm_members,
    parameters_of,
    ps2_members,
    ps2_versions,
    record_ksm,
    targeted_kelurahan,
)
from shared.aggregate import load, save
from shared.clock import day_of
from shared.consumer import upsert
from shared.contracts.povertymap import Ps2ListPublished, Ps2MemberAdded, Ps2MemberRemoved
from shared.contracts.targeting import (
    KelurahanConfirmed,
    KelurahanDropped,
    KelurahanNominated,
    KelurahanRejected,
    KelurahanVerified,
)
from shared.errors import ConcurrencyConflict
from shared.events import Actor, RecordedEvent
from shared.eventstore import EventStore
from shared.runtime import topic_of

SYSTEM = Actor.system("institutions")
STATUS = {
    KelurahanNominated: "nominated",
    KelurahanVerified: "verified",
    KelurahanRejected: "rejected",
    KelurahanConfirmed: "confirmed",
    KelurahanDropped: "dropped",
}
# A command racing the policy for the same KSM makes the policy's append conflict: decide again.
ATTEMPTS = 5


class TargetingFacts:
    name = "institutions.targeting"
    topics = (topic_of("targeting"),)

    def __init__(self) -> None:
        # The event store of the runtime this handler runs in (set once the runtime exists).
        self.store: EventStore | None = None

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        payload = event.payload
        if type(payload) in STATUS:
            await self._sasaran(event, conn)
        elif await PERIODS.keep(conn, payload):
            pass
        elif isinstance(payload, Ps2MemberAdded | Ps2MemberRemoved):
            on_list = isinstance(payload, Ps2MemberAdded)
            await upsert(
                conn,
                ps2_members,
                {
                    "period_code": payload.period_code,
                    "kelurahan_code": payload.kelurahan_code,
                    "household_id": str(payload.household_id),
                    "on_list": on_list,
                    "changed_at": event.recorded_at,
                },
                ("period_code", "kelurahan_code", "household_id"),
            )
            reason = None if on_list else f"removed from the PS-2 list: {payload.reason}"
            await self._ksm_policy(conn, payload.period_code, payload.household_id, reason)
        elif isinstance(payload, Ps2ListPublished):
            await upsert(
                conn,
                ps2_versions,
                {
                    "period_code": payload.period_code,
                    "kelurahan_code": payload.kelurahan_code,
                    "version": payload.version,
                    "published_on": payload.published_on,
                    "member_count": payload.member_count,
                },
                ("period_code", "kelurahan_code", "version"),
            )

    async def _sasaran(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        payload = event.payload
        status = STATUS[type(payload)]
        key = {"period_code": payload.period_code, "kelurahan_code": payload.kelurahan_code}  # type: ignore[attr-defined]
        previous = (
            await conn.execute(
                select(targeted_kelurahan.c.targeted_on).where(
                    *(getattr(targeted_kelurahan.c, k) == v for k, v in key.items())
                )
            )
        ).scalar_one_or_none()
        targeted_on = day_of(event.recorded_at) if status == "verified" else previous
        await upsert(
            conn,
            targeted_kelurahan,
            {**key, "status": status, "targeted_on": targeted_on, "changed_at": event.recorded_at},
            ("period_code", "kelurahan_code"),
        )

    async def _ksm_policy(
        self, conn: AsyncConnection, period_code: str, household: uuid.UUID, reason: str | None
    ) -> None:
        memberships = (
            await conn.execute(
                select(ksm_members.c.ksm_id).where(
                    ksm_members.c.household_id == str(household), ksm_members.c.active.is_(True)
                )
            )
        ).scalars()
        store = self.store
        assert store is not None, "TargetingFacts.store is set when the service is built"
        for ksm_id in sorted(memberships):  # one order everywhere: streams are locked as loaded
            for attempt in range(ATTEMPTS):
                try:
                    async with conn.begin_nested():
                        ksm = await load(store, Ksm(uuid.UUID(ksm_id)), conn=conn)
                        if ksm.period_code != period_code:
                            break
                        version, parameters = await parameters_of(conn, period_code)
                        changed = (
                            ksm.flag_off_ps2(household, reason, parameters.ksm, version)
                            if reason
                            else ksm.clear_flag(household, parameters.ksm, version)
                        )
                        if changed:
                            recorded = await save(store, ksm, SYSTEM, conn=conn)
                            await record_ksm(conn, ksm, recorded[-1].recorded_at)
                    break
                except ConcurrencyConflict:
                    if attempt == ATTEMPTS - 1:
                        raise
