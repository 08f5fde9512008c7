"""The handover service's consumers.

``handover.facts`` keeps, from the targeting, institutions and ledger services' events, the dated facts
a city's readiness is computed from. ``handover.feed`` copies every event that belongs to a city into
that city's feed, in the order applied (per aggregate, the order it happened).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.handover.readmodels import (
    PERIODS,
    audits,
    bkm_terms,
    ddub_committed,
    feed,
    target_kelurahan,
    tranches_received,
    upk_closings,
)
from shared.clock import day_of
from shared.consumer import upsert
from shared.contracts.institutions import BkmConstituted
from shared.contracts.ledger import (
    AuditRecorded,
    BlmAllocated,
    LpjAccepted,
    Source,
    TrancheReceived,
    UpkIndicatorsRecorded,
)
from shared.contracts.targeting import KelurahanConfirmed, KelurahanDropped, KelurahanVerified
from shared.events import RecordedEvent
from shared.runtime import topic_of

SERVICES = ("targeting", "institutions", "ledger", "handover")


class ReadinessFacts:
    name = "handover.facts"
    topics = tuple(topic_of(s) for s in SERVICES[:3])

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        p: Any = event.payload
        day = day_of(event.recorded_at)
        if await PERIODS.keep(conn, p):
            return
        match p:
            case KelurahanVerified() | KelurahanConfirmed():
                key = {"period_code": p.period_code, "kelurahan_code": p.kelurahan_code}
                values: dict[str, Any] = {**key, "city_code": p.kelurahan_code[:5], "dropped_on": None}
                if isinstance(p, KelurahanVerified):
                    values["targeted_on"] = day
                await upsert(conn, target_kelurahan, values, tuple(key))
            case KelurahanDropped():
                await conn.execute(
                    update(target_kelurahan)
                    .where(
                        target_kelurahan.c.period_code == p.period_code,
                        target_kelurahan.c.kelurahan_code == p.kelurahan_code,
                    )
                    .values(dropped_on=day)
                )
            case BkmConstituted():
                await upsert(
                    conn,
                    bkm_terms,
                    {
                        "period_code": p.period_code,
                        "kelurahan_code": p.kelurahan_code,
                        "election": p.election,
                        "city_code": p.kelurahan_code[:5],
                        "starts_on": p.term_starts_on,
                        "ends_on": p.term_ends_on,
                    },
                    ("period_code", "kelurahan_code", "election"),
                )
            case BlmAllocated():
                committed = sum(s.amount_rupiah for s in p.sources if s.source is Source.DDUB)
                await upsert(
                    conn,
                    ddub_committed,
                    {
                        "period_code": p.period_code,
                        "kelurahan_code": p.kelurahan_code,
                        "year": p.year,
                        "city_code": p.kelurahan_code[:5],
                        "amount": committed,
                        "committed_on": day,
                    },
                    ("period_code", "kelurahan_code", "year"),
                )
            case TrancheReceived():
                await upsert(
                    conn,
                    tranches_received,
                    {
                        **_tranche(p),
                        "city_code": p.kelurahan_code[:5],
                        "amount": p.entry.amount,
                        "received_on": p.received_on,
                    },
                    tuple(_tranche(p)),
                )
            case LpjAccepted():
                await conn.execute(
                    update(tranches_received)
                    .where(*(getattr(tranches_received.c, k) == v for k, v in _tranche(p).items()))
                    .values(lpj_accepted_on=p.accepted_on)
                )
            case UpkIndicatorsRecorded():
                await upsert(
                    conn,
                    upk_closings,
                    {
                        "kelurahan_code": p.kelurahan_code,
                        "as_of": p.as_of,
                        "period_code": p.period_code,
                        "city_code": p.kelurahan_code[:5],
                        "par_band": p.par.band,
                        "rr_band": p.rr.band,
                    },
                    ("kelurahan_code", "as_of"),
                )
            case AuditRecorded():
                await upsert(
                    conn,
                    audits,
                    {
                        "kelurahan_code": p.kelurahan_code,
                        "year": p.year,
                        "period_code": p.period_code,
                        "city_code": p.kelurahan_code[:5],
                        "opinion": str(p.opinion),
                        "audited_on": p.audited_on,
                    },
                    ("kelurahan_code", "year"),
                )


def _tranche(p: Any) -> dict[str, Any]:
    return {
        "period_code": p.period_code,
        "kelurahan_code": p.kelurahan_code,
        "year": p.year,
        "source": str(p.source),
        "tranche": p.tranche,
    }


class CityFeed:
    """Every event of every service that belongs to a city, into the city's feed."""

    name = "handover.feed"
    topics = tuple(topic_of(s) for s in SERVICES)

    def __init__(self) -> None:
        self.on_new_rows: list[Any] = []  # callbacks (the webhook worker's wake-up)

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        city = event.metadata.city_code
        if city is None:
            return  # national data (program periods, catalogues) is no city's
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(
            insert(feed)
            .values(
                city_code=city,
                event_id=str(event.event_id),
                stream_id=event.stream_id,
                stream_version=event.stream_version,
                type=event.event_type,
                cloudevent=json.dumps(event.to_cloudevent(), separators=(",", ":"), sort_keys=True),
                recorded_at=event.recorded_at,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        for callback in self.on_new_rows:
            callback()
