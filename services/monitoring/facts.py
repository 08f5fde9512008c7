"""The monitoring projection: every service's events into dated facts, from which every figure of the
dashboard is computed as of any day (``measures.py``).

Facts, not running totals: a row says what became true on which day (a step done, a term that runs
from one day to another, a tranche received). A figure "as of 30 June" then counts the rows true on
that day, and a correction is a new fact, never a silent rewrite.

The tables belong to a generation (``targets_g<N>``, ``steps_g<N>``, ...): a rebuild fills generation
N+1 from the topics while N keeps serving, then readers switch (``generations.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    case,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.monitoring.writes import Writes
from shared.clock import day_of
from shared.contracts import handover as h
from shared.contracts import institutions as i
from shared.contracts import ledger as lg
from shared.contracts import targeting as t
from shared.contracts.cycle import Step
from shared.events import UNREAD, DomainEvent, RecordedEvent
from shared.periods import PeriodTables
from shared.runtime import topic_of

TOPICS = tuple(topic_of(s) for s in ("targeting", "institutions", "ledger", "handover"))


@dataclass(frozen=True)
class Facts:
    """One generation's tables."""

    generation: int
    metadata: MetaData
    targets: Table
    steps: Table
    meetings: Table
    bkm: Table
    ksm: Table
    blm: Table
    tranches: Table
    grants: Table
    loans: Table
    closings: Table
    audits: Table
    stages: Table
    readiness: Table
    cycles: Table
    periods: Table
    parameters: Table
    progress: Table
    changes: Table

    @property
    def tables(self) -> list[Table]:
        return [x for x in self.__dict__.values() if isinstance(x, Table)]

    @property
    def period_tables(self) -> PeriodTables:
        """The program periods and their parameter versions, kept as every consuming service keeps them."""
        return PeriodTables(self.periods, self.parameters)


def _kel(*extra: Column[Any]) -> list[Column[Any]]:
    return [
        Column("period_code", String(32), primary_key=True),
        # Indexed alone as well: a kelurahan's page asks by it without the period (the key's first column).
        Column("kelurahan_code", String(13), primary_key=True, index=True),
        *extra,
        Column("city_code", String(5), nullable=False, index=True),
    ]


def facts_tables(generation: int) -> Facts:
    m = MetaData()
    g = f"_g{generation}"
    return Facts(
        generation,
        m,
        targets=Table(
            f"targets{g}",
            m,
            *_kel(
                Column("status", String(20), nullable=False),
                Column("targeted_on", Date),
                Column("dropped_on", Date),
            ),
        ),
        steps=Table(
            f"steps{g}",
            m,
            *_kel(Column("step", String(30), primary_key=True), Column("year", Integer, primary_key=True)),
            Column("done_on", Date, nullable=False),
        ),
        meetings=Table(
            f"meetings{g}",
            m,
            Column("event_id", String(36), primary_key=True),
            Column("period_code", String(32), nullable=False),
            Column("kelurahan_code", String(13), nullable=False, index=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("step", String(30), nullable=False),
            Column("held_on", Date, nullable=False),
            Column("facilitator", String(100), nullable=False),
            Column("men", Integer, nullable=False),
            Column("women", Integer, nullable=False),
            Column("poor_households", Integer, nullable=False),
            Column("relawan", Integer, nullable=False),  # for a relawan registration: how many
        ),
        bkm=Table(
            f"bkm{g}",
            m,
            *_kel(Column("election", Integer, primary_key=True)),
            Column("starts_on", Date, nullable=False),
            Column("ends_on", Date, nullable=False),
            Column("women_pct", Float, nullable=False),
        ),
        ksm=Table(
            f"ksm{g}",
            m,
            Column("ksm_id", String(36), primary_key=True),
            Column("period_code", String(32), nullable=False),
            Column("kelurahan_code", String(13), nullable=False, index=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("type", String(20), nullable=False),
            Column("registered_on", Date, nullable=False),
            Column("members", Integer, nullable=False),
            Column("flagged", Integer, nullable=False),
        ),
        blm=Table(
            f"blm{g}",
            m,
            *_kel(Column("year", Integer, primary_key=True), Column("source", String(10), primary_key=True)),
            Column("amount", BigInteger, nullable=False),
            Column("allocated_on", Date, nullable=False),
        ),
        tranches=Table(
            f"tranches{g}",
            m,
            *_kel(
                Column("year", Integer, primary_key=True),
                Column("source", String(10), primary_key=True),
                Column("tranche", Integer, primary_key=True),
            ),
            Column("amount", BigInteger, nullable=False),
            Column("requested_on", Date),
            Column("transferred_on", Date),
            Column("received_on", Date),
            Column("lpj_accepted_on", Date),
        ),
        grants=Table(
            f"grants{g}",
            m,
            Column("grant_id", String(36), primary_key=True),
            Column("kelurahan_code", String(13), nullable=False, index=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("amount", BigInteger, nullable=False),
            Column("approved_on", Date, nullable=False),
            Column("disbursed_on", Date),
        ),
        loans=Table(
            f"loans{g}",
            m,
            Column("loan_id", String(36), primary_key=True),
            Column("kelurahan_code", String(13), nullable=False, index=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("principal", BigInteger, nullable=False),
            Column("disbursed_on", Date),
        ),
        closings=Table(
            f"closings{g}",
            m,
            Column("kelurahan_code", String(13), primary_key=True),
            Column("as_of", Date, primary_key=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("outstanding", BigInteger, nullable=False),
            Column("active_ksm", Integer, nullable=False),
            *(Column(f"{x}_pct", Float) for x in ("lar", "par", "rr", "ccr", "roi", "par30", "par90")),
            *(Column(f"{x}_band", String(20)) for x in ("lar", "par", "rr", "ccr", "roi")),
        ),
        audits=Table(
            f"audits{g}",
            m,
            Column("kelurahan_code", String(13), primary_key=True),
            Column("year", Integer, primary_key=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("opinion", String(5), nullable=False),
            Column("audited_on", Date, nullable=False),
        ),
        stages=Table(
            f"stages{g}",
            m,
            Column("event_id", String(36), primary_key=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("stage", String(20), nullable=False),
            Column("since", Date, nullable=False),
            Column("position", BigInteger, nullable=False),
        ),
        readiness=Table(
            f"readiness{g}",
            m,
            Column("event_id", String(36), primary_key=True),
            Column("city_code", String(5), nullable=False, index=True),
            Column("period_code", String(32), nullable=False),
            Column("assessed_on", Date, nullable=False),
            Column("position", BigInteger, nullable=False),
            Column("criteria", Text, nullable=False),  # the scorecard, as JSON
        ),
        # What the cycle's schedule needs besides its steps: the parameters version its sosialisasi awal
        # named, and the day the community rejected the program at the RKM (which ends the cycle).
        cycles=Table(
            f"cycles{g}",
            m,
            *_kel(Column("parameters_version", Integer), Column("rkm_rejected_on", Date)),
        ),
        # The shape of shared.periods.PeriodTables, under this generation's names.
        periods=Table(
            f"periods{g}",
            m,
            Column("code", String(32), primary_key=True),
            Column("starts_on", Date, nullable=False),
            Column("ends_on", Date, nullable=False),
        ),
        parameters=Table(
            f"parameters{g}",
            m,
            Column("period_code", String(32), primary_key=True),
            Column("version", Integer, primary_key=True),
            Column("parameters", Text, nullable=False),  # PeriodParameters as JSON
        ),
        progress=Table(
            f"progress{g}",
            m,
            Column("topic", String(100), primary_key=True),
            Column("events", BigInteger, nullable=False),
            Column("last_recorded_at", DateTime(timezone=True), nullable=False),
        ),
        # How many events have changed each city's facts ('': the whole program's, a period or its
        # parameters), written with them. The dashboard keeps a region's figures until its count moves.
        changes=Table(
            f"changes{g}",
            m,
            Column("city_code", String(5), primary_key=True),
            Column("events", BigInteger, nullable=False),
        ),
    )


TARGET_STATUS: dict[type[DomainEvent], str] = {
    t.KelurahanNominated: "nominated",
    t.KelurahanVerified: "verified",
    t.KelurahanRejected: "rejected",
    t.KelurahanConfirmed: "confirmed",
}
STAGE_OF: dict[type[DomainEvent], h.Stage] = {
    h.ReadinessAssessed: h.Stage.ASSESSED,
    h.HandoverAgreed: h.Stage.AGREED,
    h.ParallelRunStarted: h.Stage.PARALLEL_RUN,
    h.HandoverCompleted: h.Stage.TRANSFERRED,
    h.SustainabilityReported: h.Stage.SUSTAINED,
}
MEETING_STEPS: dict[type[DomainEvent], Step] = {
    i.SosialisasiAwalHeld: Step.SOSIALISASI_AWAL,
    i.RkmHeld: Step.RKM,
    i.RefleksiKemiskinanHeld: Step.REFLEKSI_KEMISKINAN,
    i.PemetaanSwadayaCompleted: Step.PEMETAAN_SWADAYA,
    i.BkmConstituted: Step.BKM_ELECTION,
    i.PjmApproved: Step.PJM,
    i.ReviewPartisipatifHeld: Step.REVIEW_PARTISIPATIF,
}


# Every payload type ``FactsProjection`` reads; the others (four in five events) reach it undecoded.
READS: frozenset[type[DomainEvent]] = frozenset(
    {
        t.ProgramPeriodRegistered,
        t.ProgramParametersSet,
        *TARGET_STATUS,
        t.KelurahanDropped,
        i.RelawanRegistered,
        i.RentaApproved,
        i.UnitPengelolaFormed,
        *MEETING_STEPS,
        i.KsmRegistered,
        i.KsmMemberJoined,
        i.KsmMemberLeft,
        i.KsmMemberFlagged,
        i.KsmMemberFlagCleared,
        lg.BlmAllocated,
        lg.TrancheRequested,
        lg.TrancheTransferred,
        lg.TrancheReceived,
        lg.LpjAccepted,
        lg.GrantApproved,
        lg.GrantDisbursed,
        lg.LoanApproved,
        lg.LoanDisbursed,
        lg.UpkIndicatorsRecorded,
        lg.AuditRecorded,
        h.HandoverRolledBack,
        *STAGE_OF,
    }
)


class FactsProjection:
    """Applies every service's events to one generation of the facts tables."""

    topics = TOPICS
    reads = READS

    def __init__(self, facts: Facts, name: str = "monitoring.facts") -> None:
        self.facts = facts
        self.name = name
        self._statements: dict[str, dict[tuple[Any, ...], Any]] = {}  # Writes' statements, per dialect
        # The reads of a batch (a kelurahan's step, its units), built once: building one is ~40 µs.
        steps = facts.steps
        kelurahan = [steps.c[k] == bindparam(k) for k in ("period_code", "kelurahan_code")]
        self._step_row = steps.select().where(
            *kelurahan, *(steps.c[k] == bindparam(k) for k in ("step", "year"))
        )
        self._unit_rows = steps.select().where(*kelurahan, steps.c.step.like("unit:%"))

    async def apply(self, event: RecordedEvent, conn: AsyncConnection) -> None:
        await self.apply_batch([event], conn)

    async def apply_batch(self, events: Sequence[RecordedEvent], conn: AsyncConnection) -> None:
        writes = Writes(conn.dialect, self._statements.setdefault(conn.dialect.name, {}))
        counted: dict[str, tuple[int, datetime]] = {}
        changed: dict[str, int] = {}
        for event in events:
            topic = f"p2kp.{event.source.rsplit('/', 1)[-1]}.events" if event.source else "unknown"
            n, last = counted.get(topic, (0, event.recorded_at))
            counted[topic] = (n + 1, max(last, event.recorded_at))
            if event.payload is not UNREAD:  # a type the projection does not read (four events in five)
                await self._apply(event, conn, writes)
                city = city_of(event.payload)
                changed[city] = changed.get(city, 0) + 1
        await writes.flush(conn)
        for topic, (n, last) in sorted(counted.items()):
            await self._progress(conn, topic, n, last)
        if changed:
            await self._changed(conn, changed)

    async def _apply(self, event: RecordedEvent, conn: AsyncConnection, w: Writes) -> None:
        f, p = self.facts, event.payload
        match p:
            case t.ProgramPeriodRegistered() | t.ProgramParametersSet():
                await f.period_tables.keep(conn, p)  # tables no other write of the batch touches
            case (
                t.KelurahanNominated()
                | t.KelurahanVerified()
                | t.KelurahanRejected()
                | t.KelurahanConfirmed()
            ):
                status = TARGET_STATUS[type(p)]
                values: dict[str, Any] = {
                    **_key(p),
                    "city_code": p.kelurahan_code[:5],
                    "status": status,
                    "dropped_on": None,
                }
                if isinstance(p, t.KelurahanVerified):
                    # Its verification's day, or the first step of its cycle if that came earlier (a
                    # history entered after the fact): a cycle only starts in a verified kelurahan.
                    await w.flush(conn, f.steps)
                    first = (
                        await conn.execute(
                            select(func.min(f.steps.c.done_on)).where(*_on_key(f.steps, _key(p)))
                        )
                    ).scalar()
                    values["targeted_on"] = min(day_of(event.recorded_at), first or date.max)
                w.upsert(f.targets, values, ("period_code", "kelurahan_code"))
            case t.KelurahanDropped():
                w.update(f.targets, _key(p), {"status": "dropped", "dropped_on": day_of(event.recorded_at)})
            case i.RelawanRegistered():
                await self._step(conn, w, p, Step.RELAWAN, 0, p.registered_on, keep_first=True)
                self._meeting(w, event, Step.RELAWAN, None, relawan=len(p.relawan), day=p.registered_on)
            case i.BkmConstituted():
                step = Step.BKM_ELECTION if p.election == 1 else Step.BKM_REELECTION
                await self._step(conn, w, p, step, 0, p.meeting.held_on)
                self._meeting(w, event, step, p.meeting)
                w.upsert(
                    f.bkm,
                    {
                        **_key(p),
                        "election": p.election,
                        "city_code": p.kelurahan_code[:5],
                        "starts_on": p.term_starts_on,
                        "ends_on": p.term_ends_on,
                        "women_pct": p.women_pct,
                    },
                    ("period_code", "kelurahan_code", "election"),
                )
            case i.PjmApproved():
                step = Step.PJM if p.first_year == 1 else Step.PJM_RENEWAL
                await self._step(conn, w, p, step, 0, p.meeting.held_on)
                self._meeting(w, event, Step.PJM, p.meeting)
            case i.RentaApproved():
                await self._step(conn, w, p, Step.RENTA, p.year, p.approved_on)
            case i.ReviewPartisipatifHeld():
                await self._step(conn, w, p, Step.REVIEW_PARTISIPATIF, p.year, p.meeting.held_on)
                self._meeting(w, event, Step.REVIEW_PARTISIPATIF, p.meeting)
            case i.UnitPengelolaFormed():
                await self._unit(conn, w, p)
            case (
                i.SosialisasiAwalHeld()
                | i.RkmHeld()
                | i.RefleksiKemiskinanHeld()
                | i.PemetaanSwadayaCompleted()
            ):
                step = MEETING_STEPS[type(p)]
                await self._step(conn, w, p, step, 0, p.meeting.held_on)
                self._meeting(w, event, step, p.meeting)
                if isinstance(p, i.SosialisasiAwalHeld):
                    self._cycle(w, p, parameters_version=p.parameters_version)
                elif isinstance(p, i.RkmHeld) and p.decision is i.RkmDecision.REJECTED:
                    self._cycle(w, p, rkm_rejected_on=p.meeting.held_on)
            case i.KsmRegistered():
                w.upsert(
                    f.ksm,
                    {
                        "ksm_id": str(p.ksm_id),
                        **_key(p),
                        "city_code": p.kelurahan_code[:5],
                        "type": str(p.type),
                        "registered_on": p.registered_on,
                        "members": len(p.members),
                        "flagged": 0,
                    },
                    ("ksm_id",),
                )
            case i.KsmMemberJoined() | i.KsmMemberLeft() | i.KsmMemberFlagged() | i.KsmMemberFlagCleared():
                column, delta = {
                    i.KsmMemberJoined: ("members", 1),
                    i.KsmMemberLeft: ("members", -1),
                    i.KsmMemberFlagged: ("flagged", 1),
                    i.KsmMemberFlagCleared: ("flagged", -1),
                }[type(p)]
                w.add(f.ksm, {"ksm_id": str(p.ksm_id)}, column, delta)
            case lg.BlmAllocated():
                for share in p.sources:
                    w.upsert(
                        f.blm,
                        {
                            **_key(p),
                            "year": p.year,
                            "source": str(share.source),
                            "city_code": p.kelurahan_code[:5],
                            "amount": share.amount_rupiah,
                            # the BLM of a year counts from that year on (or from its recording, if earlier)
                            "allocated_on": min(day_of(event.recorded_at), date(p.year, 1, 1)),
                        },
                        ("period_code", "kelurahan_code", "year", "source"),
                    )
            case lg.TrancheRequested() | lg.TrancheTransferred() | lg.TrancheReceived() | lg.LpjAccepted():
                field, day = {
                    lg.TrancheRequested: ("requested_on", getattr(p, "requested_on", None)),
                    lg.TrancheTransferred: ("transferred_on", getattr(p, "transferred_on", None)),
                    lg.TrancheReceived: ("received_on", getattr(p, "received_on", None)),
                    lg.LpjAccepted: ("lpj_accepted_on", getattr(p, "accepted_on", None)),
                }[type(p)]
                key = {**_key(p), "year": p.year, "source": str(p.source), "tranche": p.tranche}
                if isinstance(p, lg.TrancheRequested):  # the first of a tranche's events, or a re-request
                    values = {**key, "city_code": p.kelurahan_code[:5], field: day, "amount": p.amount_rupiah}
                    values.update(transferred_on=None, received_on=None)
                    w.upsert(f.tranches, values, tuple(key))
                else:  # a later step of a requested tranche (same stream, so it comes after)
                    w.update(f.tranches, key, {field: day})
            case lg.GrantApproved():
                w.upsert(
                    f.grants,
                    {
                        "grant_id": str(p.grant_id),
                        "kelurahan_code": p.kelurahan_code,
                        "city_code": p.kelurahan_code[:5],
                        "amount": p.amount_rupiah,
                        "approved_on": p.approved_on,
                        "disbursed_on": None,
                    },
                    ("grant_id",),
                )
            case lg.GrantDisbursed():
                w.update(f.grants, {"grant_id": str(p.grant_id)}, {"disbursed_on": p.disbursed_on})
            case lg.LoanApproved():
                w.upsert(
                    f.loans,
                    {
                        "loan_id": str(p.loan_id),
                        "kelurahan_code": p.kelurahan_code,
                        "city_code": p.kelurahan_code[:5],
                        "principal": p.principal_rupiah,
                        "disbursed_on": None,
                    },
                    ("loan_id",),
                )
            case lg.LoanDisbursed():
                w.update(f.loans, {"loan_id": str(p.loan_id)}, {"disbursed_on": p.disbursed_on})
            case lg.UpkIndicatorsRecorded():
                values = {
                    "kelurahan_code": p.kelurahan_code,
                    "as_of": p.as_of,
                    "city_code": p.kelurahan_code[:5],
                    "outstanding": p.outstanding_rupiah,
                    "active_ksm": p.active_ksm,
                    "par30_pct": p.par30_pct,
                    "par90_pct": p.par90_pct,
                }
                for name in ("lar", "par", "rr", "ccr", "roi"):
                    figure = getattr(p, name)
                    values[f"{name}_pct"], values[f"{name}_band"] = figure.value_pct, figure.band
                w.upsert(f.closings, values, ("kelurahan_code", "as_of"))
            case lg.AuditRecorded():
                w.upsert(
                    f.audits,
                    {
                        "kelurahan_code": p.kelurahan_code,
                        "year": p.year,
                        "city_code": p.kelurahan_code[:5],
                        "opinion": str(p.opinion),
                        "audited_on": p.audited_on,
                    },
                    ("kelurahan_code", "year"),
                )
            case h.ReadinessAssessed():
                self._stage(w, event, p.city_code, h.Stage.ASSESSED, p.assessed_on)
                w.insert(
                    f.readiness,
                    {
                        "event_id": str(event.event_id),
                        "city_code": p.city_code,
                        "period_code": p.period_code,
                        "assessed_on": p.assessed_on,
                        "position": event.position,
                        "criteria": json.dumps([c.model_dump(mode="json") for c in p.criteria]),
                    },
                )
            case h.HandoverRolledBack():
                self._stage(w, event, p.city_code, p.to_stage, p.rolled_back_on)
            case _ if type(p) in STAGE_OF:
                day = next(
                    getattr(p, a)
                    for a in ("assessed_on", "agreed_on", "started_on", "completed_on", "submitted_on")
                    if hasattr(p, a)
                )
                self._stage(w, event, p.city_code, STAGE_OF[type(p)], day)  # type: ignore[attr-defined]

    async def _progress(self, conn: AsyncConnection, topic: str, events: int, last: datetime) -> None:
        """Count a batch's events of a topic and keep the newest recorded time. The same whatever order
        partitions interleave in, and named without the deployment's topic prefix, so a rebuild anywhere
        gives the same row."""
        table = self.facts.progress
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).values(topic=topic, events=events, last_recorded_at=last)
        newer = statement.excluded.last_recorded_at > table.c.last_recorded_at
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["topic"],
                set_={
                    "events": table.c.events + statement.excluded.events,
                    "last_recorded_at": case(
                        (newer, statement.excluded.last_recorded_at), else_=table.c.last_recorded_at
                    ),
                },
            )
        )

    async def _changed(self, conn: AsyncConnection, changed: dict[str, int]) -> None:
        """Count the events that changed each city's facts (in key order: one writer's rows, but
        never two orders of one set of locks)."""
        table = self.facts.changes
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["city_code"], set_={"events": table.c.events + statement.excluded.events}
        )
        await conn.execute(statement, [{"city_code": c, "events": n} for c, n in sorted(changed.items())])

    async def _step(
        self,
        conn: AsyncConnection,
        w: Writes,
        p: Any,
        step: Step | str,
        year: int,
        day: Any,
        keep_first: bool = False,
    ) -> None:
        table = self.facts.steps
        key = {**_key(p), "step": str(step), "year": year}
        if keep_first:
            await w.flush(conn, table)
            if (await conn.execute(self._step_row, key)).first() is not None:
                return
        w.upsert(table, {**key, "city_code": p.kelurahan_code[:5], "done_on": day}, tuple(key))
        w.update(self.facts.targets, _key(p), {"targeted_on": day}, only_if_later="targeted_on")

    def _cycle(self, w: Writes, p: Any, **values: Any) -> None:
        row = {**_key(p), "city_code": p.kelurahan_code[:5], **values}
        w.upsert(self.facts.cycles, row, ("period_code", "kelurahan_code"))

    async def _unit(self, conn: AsyncConnection, w: Writes, p: Any) -> None:
        """A unit formed; the step is done when UPK, UPL and UPS all are, on the day the last was."""
        await self._step(conn, w, p, f"unit:{p.unit}", 0, p.formed_on)
        await w.flush(conn, self.facts.steps)
        formed = (await conn.execute(self._unit_rows, _key(p))).all()
        if len(formed) == len(i.Unit):
            await self._step(conn, w, p, Step.UNIT_PENGELOLA, 0, max(row.done_on for row in formed))

    def _meeting(
        self,
        w: Writes,
        event: RecordedEvent,
        step: Step,
        meeting: Any,
        relawan: int = 0,
        day: Any = None,
    ) -> None:
        p = event.payload
        w.insert(
            self.facts.meetings,
            {
                "event_id": str(event.event_id),
                "period_code": p.period_code,  # type: ignore[attr-defined]
                "kelurahan_code": p.kelurahan_code,  # type: ignore[attr-defined]
                "city_code": p.kelurahan_code[:5],  # type: ignore[attr-defined]
                "step": str(step),
                "held_on": meeting.held_on if meeting else day,
                "facilitator": meeting.facilitator if meeting else "",
                "men": meeting.attendance.men if meeting else 0,
                "women": meeting.attendance.women if meeting else 0,
                "poor_households": meeting.attendance.poor_households if meeting else 0,
                "relawan": relawan,
            },
        )

    def _stage(self, w: Writes, event: RecordedEvent, city: str, stage: h.Stage, day: Any) -> None:
        w.insert(
            self.facts.stages,
            {
                "event_id": str(event.event_id),
                "city_code": city,
                "stage": str(stage),
                "since": day,
                "position": event.position,
            },
        )


def city_of(payload: DomainEvent) -> str:
    """The city whose facts an event changes: its kelurahan's, or the city it names; '' for the whole
    program (a period, its parameters), which every region's figures depend on."""
    kelurahan: str | None = getattr(payload, "kelurahan_code", None)
    if kelurahan is not None:
        return kelurahan[:5]
    city: str | None = getattr(payload, "city_code", None)
    return city or ""


def _key(p: Any) -> dict[str, str]:
    return {"period_code": p.period_code, "kelurahan_code": p.kelurahan_code}


def _on_key(table: Table, key: dict[str, Any]) -> list[Any]:
    return [table.c[k] == v for k, v in key.items()]
