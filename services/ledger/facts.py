"""What the ledger keeps from the targeting and institutions services' events: the period parameters,
the facts the first tranche's gate needs (BKM term, PJM, Renta), and each KSM's type and published loan
eligibility, which a loan approval relies on and stores with the decision."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.readmodels import PERIODS, institution_facts, ksm_facts
from shared.consumer import upsert
from shared.contracts.institutions import (
    BkmConstituted,
    KsmLoanEligibilityChanged,
    KsmRegistered,
    PjmApproved,
    RentaApproved,
)
from shared.events import RecordedEvent
from shared.runtime import topic_of


class LedgerFacts:
    name = "ledger.facts"
    topics = (topic_of("targeting"), topic_of("institutions"))

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        payload = event.payload
        if await PERIODS.keep(conn, payload):
            return
        match payload:
            case BkmConstituted():
                await self._institution(
                    conn,
                    payload,
                    bkm_term_starts_on=payload.term_starts_on,
                    bkm_term_ends_on=payload.term_ends_on,
                )
            case PjmApproved(first_year=1):
                await self._institution(conn, payload, pjm_approved_on=payload.meeting.held_on)
            case RentaApproved(year=year):
                key = {"period_code": payload.period_code, "kelurahan_code": payload.kelurahan_code}
                years = (
                    await conn.execute(
                        select(institution_facts.c.renta_years).where(
                            *(getattr(institution_facts.c, k) == v for k, v in key.items())
                        )
                    )
                ).scalar_one_or_none()
                known = {int(y) for y in (years or "").split(",") if y}
                await self._institution(conn, payload, renta_years=",".join(map(str, sorted(known | {year}))))
            case KsmRegistered():
                await upsert(
                    conn,
                    ksm_facts,
                    {
                        "ksm_id": str(payload.ksm_id),
                        "period_code": payload.period_code,
                        "kelurahan_code": payload.kelurahan_code,
                        "type": str(payload.type),
                    },
                    ("ksm_id",),
                )
            case KsmLoanEligibilityChanged():
                await conn.execute(
                    ksm_facts.update()
                    .where(ksm_facts.c.ksm_id == str(payload.ksm_id))
                    .values(
                        eligible=payload.eligible,
                        eligibility=payload.model_dump_json(),
                        eligibility_event_id=str(event.event_id),
                    )
                )

    async def _institution(self, conn: AsyncConnection, payload: object, **values: object) -> None:
        key = {"period_code": payload.period_code, "kelurahan_code": payload.kelurahan_code}  # type: ignore[attr-defined]
        exists = (
            await conn.execute(
                select(institution_facts.c.period_code).where(
                    *(getattr(institution_facts.c, k) == v for k, v in key.items())
                )
            )
        ).first()
        if exists is None:
            await conn.execute(
                institution_facts.insert().values(**key, renta_years="", **{k: v for k, v in values.items()})
            )
        else:
            await conn.execute(
                institution_facts.update()
                .where(*(getattr(institution_facts.c, k) == v for k, v in key.items()))
                .values(**values)
            )
