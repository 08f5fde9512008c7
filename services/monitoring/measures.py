"""Every figure of the dashboard, as of a day, computed from one generation's facts.

A kelurahan counts as a target on day D if its verification was recorded by D and it was not dropped
by D; a step counts if done by D; a BKM is active if a term runs on D; money counts once received (or
disbursed) by D; the UPK indicators are those of the last book closing on or before D.

The four implementation factors of the study, per city (each a ratio in %, None when there is nothing
to divide by):

- kebijakan (policy executed): ``steps_done_pct`` = year-1 steps done / (targets x 8);
  ``tranches_on_time_pct`` = tranches transferred within 60 days of their request / tranches requested
  60+ days before D.
- sosialisasi: ``coverage_pct`` = targets with a sosialisasi awal / targets; ``women_attendance_pct``
  = women / people at the cycle's meetings; ``poor_per_meeting`` = poor households present per meeting.
- ketaatan (compliance): ``lpj_on_time_pct`` = tranches whose LPJ was accepted within 90 days of
  receipt / tranches received 90+ days before D; ``audited_pct`` = targets with last year's books
  audited; ``members_off_ps2`` = KSM members flagged off the PS-2 list; ``bkm_women_below_target``.
- sumber daya (resources): ``facilitators`` (distinct facilitators at meetings), ``relawan_per_kelurahan``,
  ``blm_received_per_kelurahan`` (rupiah).

Each kelurahan's cycle against its expected schedule (``timeline.py``): per step its expected day, the
day it was done and its status (done, done late by N days, late by N days, not yet due); per kelurahan
``late_steps`` (done late or late now) and ``overdue_steps`` (late now); per city, among the barriers,
``overdue_steps`` over its targets and ``kelurahan_overdue``, the targets with at least one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.monitoring.facts import Facts
from services.monitoring.timeline import Timeline, timelines
from shared import regions
from shared.contracts.cycle import Step

YEAR_1 = (
    Step.SOSIALISASI_AWAL,
    Step.RKM,
    Step.RELAWAN,
    Step.REFLEKSI_KEMISKINAN,
    Step.PEMETAAN_SWADAYA,
    Step.BKM_ELECTION,
    Step.UNIT_PENGELOLA,
    Step.PJM,
)
ON_TIME_DAYS, LPJ_DAYS = 60, 90
T = TypeVar("T")


def _pct(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _name(code: str) -> str:
    found = regions.find(code)
    return found.name if found else code


@dataclass
class CityFigures:
    city_code: str
    name: str
    targets: int = 0
    cycles_started: int = 0
    steps_done_pct: float | None = None
    bkm_active: int = 0
    ksm: dict[str, int] = field(default_factory=dict)
    blm_allocated: int = 0
    blm_received: int = 0
    passed_to_ksm: int = 0
    outstanding: int = 0
    par_pct: float | None = None
    handover_stage: str = "not started"
    progress_pct: float | None = None
    risk_pct: float | None = None


class Measures:
    def __init__(self, conn: AsyncConnection, facts: Facts, on: date, period: str | None = None) -> None:
        self.conn, self.f, self.on, self.period = conn, facts, on, period
        self._asked: dict[tuple[Any, ...], Any] = {}  # rows several parts of one page need, read once

    async def _once(self, key: tuple[Any, ...], read: Callable[[], Awaitable[T]]) -> T:
        """What ``read`` gives, read the first time ``key`` is asked of this ``Measures`` (one page)."""
        if key not in self._asked:
            self._asked[key] = await read()
        return self._asked[key]  # type: ignore[no-any-return]

    # --- building blocks --------------------------------------------------------------------------------

    def _targets(self, city: str | None = None) -> Any:
        t = self.f.targets
        query = select(t.c.kelurahan_code, t.c.city_code, t.c.period_code).where(
            t.c.targeted_on <= self.on, or_(t.c.dropped_on.is_(None), t.c.dropped_on > self.on)
        )
        if self.period:
            query = query.where(t.c.period_code == self.period)
        return query.where(t.c.city_code == city) if city else query

    async def _by_city(self, query: Any) -> dict[str, Any]:
        return {row[0]: row[1] for row in await self.conn.execute(query)}

    async def cities(self, within: str | None = None) -> list[CityFigures]:
        """Every city with a target kelurahan (within a province or city), ranked by progress (best first)."""
        f, on = self.f, self.on
        if within and within.count(".") > 1:
            return []  # a kecamatan or kelurahan is within no whole city

        def scoped(query: Any, table: Any) -> Any:
            return query.where(_in_region(table, within)) if within else query

        targets = scoped(self._targets(), f.targets).subquery()
        in_targets = f.steps.c.kelurahan_code.in_(select(targets.c.kelurahan_code))
        counts = await self._by_city(select(targets.c.city_code, func.count()).group_by(targets.c.city_code))
        started, done = {}, {}
        awal = f.steps.c.step == str(Step.SOSIALISASI_AWAL)
        for city, n_started, n_done in await self.conn.execute(
            scoped(
                select(f.steps.c.city_code, func.count().filter(awal), func.count()),
                f.steps,
            )
            .where(in_targets, f.steps.c.step.in_([str(s) for s in YEAR_1]), f.steps.c.done_on <= on)
            .group_by(f.steps.c.city_code)
        ):
            started[city], done[city] = n_started, n_done
        active = await self._by_city(
            scoped(select(f.bkm.c.city_code, func.count(func.distinct(f.bkm.c.kelurahan_code))), f.bkm)
            .where(f.bkm.c.starts_on <= on, f.bkm.c.ends_on > on)
            .group_by(f.bkm.c.city_code)
        )
        allocated = await self._by_city(
            scoped(select(f.blm.c.city_code, func.sum(f.blm.c.amount)), f.blm)
            .where(f.blm.c.allocated_on <= on)
            .group_by(f.blm.c.city_code)
        )
        received = await self._by_city(
            scoped(select(f.tranches.c.city_code, func.sum(f.tranches.c.amount)), f.tranches)
            .where(f.tranches.c.received_on <= on)
            .group_by(f.tranches.c.city_code)
        )
        grants = await self._by_city(
            scoped(select(f.grants.c.city_code, func.sum(f.grants.c.amount)), f.grants)
            .where(f.grants.c.disbursed_on <= on)
            .group_by(f.grants.c.city_code)
        )
        lent = await self._by_city(
            scoped(select(f.loans.c.city_code, func.sum(f.loans.c.principal)), f.loans)
            .where(f.loans.c.disbursed_on <= on)
            .group_by(f.loans.c.city_code)
        )
        portfolio = await self._portfolio_by_city(within)
        stages = await self._stages(within)
        ksm: dict[str, dict[str, int]] = {}
        for city, kind, n in await self.conn.execute(
            scoped(select(f.ksm.c.city_code, f.ksm.c.type, func.count()), f.ksm)
            .where(f.ksm.c.registered_on <= on)
            .group_by(f.ksm.c.city_code, f.ksm.c.type)
        ):
            ksm.setdefault(city, {})[kind] = n
        found = []
        for city, n in counts.items():
            if within and not city.startswith(within):
                continue
            outstanding, par = portfolio.get(city, (0, None))
            figures = CityFigures(
                city_code=city,
                name=_name(city),
                targets=n,
                cycles_started=started.get(city, 0),
                steps_done_pct=_pct(done.get(city, 0), n * len(YEAR_1)),
                bkm_active=active.get(city, 0),
                ksm=ksm.get(city, {}),
                blm_allocated=int(allocated.get(city) or 0),
                blm_received=int(received.get(city) or 0),
                passed_to_ksm=int(grants.get(city) or 0) + int(lent.get(city) or 0),
                outstanding=outstanding,
                par_pct=par,
                handover_stage=stages.get(city, "not started"),
            )
            figures.progress_pct = figures.steps_done_pct
            figures.risk_pct = par
            found.append(figures)
        return ranked(found)

    async def _latest_closings(self, region: str | None = None) -> list[Any]:
        """Each UPK's last book closing on or before the day (within a region: a province, city or
        kelurahan)."""
        return await self._once(("closings", region), lambda: self._read_latest_closings(region))

    async def _read_latest_closings(self, region: str | None) -> list[Any]:
        c = self.f.closings
        latest = select(c.c.kelurahan_code, func.max(c.c.as_of).label("as_of")).where(c.c.as_of <= self.on)
        if region:
            latest = latest.where(_in_region(c, region))
        sub = latest.group_by(c.c.kelurahan_code).subquery()
        query = select(c).join(
            sub, and_(c.c.kelurahan_code == sub.c.kelurahan_code, c.c.as_of == sub.c.as_of)
        )
        if region:  # the region's rows again: else PostgreSQL hash-joins the whole table to the latest
            query = query.where(_in_region(c, region))
        return list((await self.conn.execute(query.order_by(c.c.kelurahan_code))).mappings())

    async def _portfolio_by_city(self, within: str | None) -> dict[str, tuple[int, float | None]]:
        by_city: dict[str, list[Any]] = {}
        for row in await self._latest_closings(within):
            by_city.setdefault(row["city_code"], []).append(row)
        result = {}
        for city, rows in by_city.items():
            outstanding = sum(r["outstanding"] for r in rows)
            at_risk = sum(r["outstanding"] * (r["par_pct"] or 0) / 100 for r in rows)
            result[city] = (outstanding, _pct(at_risk, outstanding))
        return result

    async def _stages(self, within: str | None = None) -> dict[str, str]:
        return await self._once(("stages", within), lambda: self._read_stages(within))

    async def _read_stages(self, within: str | None) -> dict[str, str]:
        s = self.f.stages
        query = select(s.c.city_code, s.c.stage).where(s.c.since <= self.on)
        if within:
            query = query.where(_in_region(s, within))
        rows = await self.conn.execute(query.order_by(s.c.position))
        return {city: stage for city, stage in rows}  # the latest by position wins

    # --- pages ----------------------------------------------------------------------------------------------

    async def overview(self, within: str | None = None) -> dict[str, Any]:
        return overview_of(self.on, await self.cities(within))

    async def city(self, city: str) -> dict[str, Any]:
        f, on = self.f, self.on
        found = [c for c in await self.cities(city) if c.city_code == city]
        summary = asdict(found[0]) if found else asdict(CityFigures(city, _name(city)))
        rows = (await self.conn.execute(self._targets(city))).all()
        targets = [row.kelurahan_code for row in rows]
        n = len(targets)
        cycles = await timelines(self.conn, f, on, [(r.period_code, r.kelurahan_code) for r in rows])
        meetings = (
            await self.conn.execute(
                select(
                    func.count(),
                    func.sum(f.meetings.c.men),
                    func.sum(f.meetings.c.women),
                    func.sum(f.meetings.c.poor_households),
                    func.count(func.distinct(f.meetings.c.facilitator)),
                    func.sum(f.meetings.c.relawan),
                ).where(f.meetings.c.city_code == city, f.meetings.c.held_on <= on)
            )
        ).one()
        count, men, women, poor, facilitators, relawan = (int(x or 0) for x in meetings)
        done_by = await self._steps_done(city, targets)
        awal = str(Step.SOSIALISASI_AWAL)
        sosialisasi = sum(1 for kel in targets if any(step == awal for step, _ in done_by.get(kel, [])))
        tranches = await self._city_tranches(city)
        requested_due, on_time = _in_time(tranches, "requested_on", "transferred_on", ON_TIME_DAYS, on)
        lpj_due, lpj_on_time = _in_time(tranches, "received_on", "lpj_accepted_on", LPJ_DAYS, on)
        audited = await self._count(
            select(func.count(func.distinct(f.audits.c.kelurahan_code))).where(
                f.audits.c.city_code == city,
                f.audits.c.year == on.year - 1,
                f.audits.c.audited_on <= on,
                f.audits.c.kelurahan_code.in_(targets),
            )
        )
        flagged = await self._count(
            select(func.sum(f.ksm.c.flagged)).where(f.ksm.c.city_code == city, f.ksm.c.registered_on <= on)
        )
        below = await self._count(
            select(func.count()).where(
                f.bkm.c.city_code == city,
                f.bkm.c.starts_on <= on,
                f.bkm.c.ends_on > on,
                f.bkm.c.women_pct < 30,
            )
        )
        return {
            "as_of": on,
            "summary": summary,
            "factors": {
                "kebijakan": {
                    "steps_done_pct": summary["steps_done_pct"],
                    "tranches_on_time_pct": _pct(on_time, requested_due),
                },
                "sosialisasi": {
                    "coverage_pct": _pct(sosialisasi, n),
                    "women_attendance_pct": _pct(women, men + women),
                    "poor_per_meeting": round(poor / count, 1) if count else None,
                },
                "ketaatan": {
                    "lpj_on_time_pct": _pct(lpj_on_time, lpj_due),
                    "audited_pct": _pct(audited, n),
                    "members_off_ps2": flagged,
                    "bkm_women_below_target": below,
                },
                "sumber_daya": {
                    "facilitators": facilitators,
                    "relawan_per_kelurahan": round(relawan / n, 1) if n else None,
                    "blm_received_per_kelurahan": summary["blm_received"] // n if n else None,
                },
            },
            "barriers": await self.barriers(city, targets, cycles),
            "kelurahan": await self.kelurahan_rows(city, targets, cycles),
        }

    async def _count(self, query: Any) -> int:
        return int((await self.conn.execute(query)).scalar_one() or 0)

    async def _city_tranches(self, city: str) -> list[Any]:
        """The city's tranches requested by the day (the factors and the barriers each count some)."""

        async def read() -> list[Any]:
            tr = self.f.tranches.c
            query = select(
                tr.kelurahan_code,
                tr.source,
                tr.tranche,
                tr.amount,
                tr.requested_on,
                tr.transferred_on,
                tr.received_on,
                tr.lpj_accepted_on,
            ).where(tr.city_code == city, tr.requested_on <= self.on)
            return list(await self.conn.execute(query))

        return await self._once(("tranches", city), read)

    async def barriers(self, city: str, targets: list[str], cycles: list[Timeline]) -> dict[str, Any]:
        """Where the city is stuck: the longest-waiting next step, the steps past their expected day and
        not done (``overdue_steps``, in ``kelurahan_overdue`` of its targets), tranches waiting for
        transfer, DDUB committed but not received, and whether its handover has started."""
        f, on = self.f, self.on
        waiting: list[dict[str, Any]] = []
        done_by = await self._steps_done(city, targets)
        for kel in targets:
            done = dict(done_by.get(kel, []))
            nxt = next((s for s in YEAR_1 if str(s) not in done), None)
            if nxt is not None:
                since = max(done.values()) if done else None
                waiting.append(
                    {
                        "kelurahan_code": kel,
                        "next_step": str(nxt),
                        "waiting_days": (on - since).days if since else None,
                    }
                )
        waiting.sort(key=lambda w: -(w["waiting_days"] or 0))
        tranches = await self._city_tranches(city)
        stuck = [t for t in tranches if t.transferred_on is None or t.transferred_on > on]
        ddub_committed = await self._count(
            select(func.sum(f.blm.c.amount)).where(
                f.blm.c.city_code == city, f.blm.c.source == "DDUB", f.blm.c.allocated_on <= on
            )
        )
        ddub_received = sum(
            int(t.amount) for t in tranches if t.source == "DDUB" and t.received_on and t.received_on <= on
        )
        stage = (await self._stages(city)).get(city, "not started")
        return {
            "longest_waiting": waiting[:10],
            "overdue_steps": sum(c.overdue_steps for c in cycles),
            "kelurahan_overdue": len({c.kelurahan_code for c in cycles if c.overdue_steps}),
            "tranches_waiting_transfer": [
                {
                    "kelurahan_code": t.kelurahan_code,
                    "source": t.source,
                    "tranche": t.tranche,
                    "waiting_days": (on - t.requested_on).days,
                }
                for t in stuck
            ],
            "ddub_unpaid": ddub_committed - ddub_received,
            "handover_not_started": stage == "not started",
        }

    async def _steps_done(self, city: str, targets: list[str]) -> dict[str, list[tuple[str, date]]]:
        """Each target kelurahan of ``city``: its steps done by the day, and when (one query)."""
        return await self._once(("steps", city, *targets), lambda: self._read_steps_done(city, targets))

    async def _read_steps_done(self, city: str, targets: list[str]) -> dict[str, list[tuple[str, date]]]:
        s = self.f.steps.c
        wanted = set(targets)
        done: dict[str, list[tuple[str, date]]] = {}
        for kel, step, day in await self.conn.execute(
            select(s.kelurahan_code, s.step, s.done_on).where(s.city_code == city, s.done_on <= self.on)
        ):
            if kel in wanted:
                done.setdefault(kel, []).append((step, day))
        return done

    async def kelurahan_rows(
        self, city: str, targets: list[str], cycles: list[Timeline]
    ) -> list[dict[str, Any]]:
        f, on = self.f, self.on
        closings = {r["kelurahan_code"]: r for r in await self._latest_closings(city)}
        late: dict[str, tuple[int, int]] = {}
        for c in cycles:
            before = late.get(c.kelurahan_code, (0, 0))
            late[c.kelurahan_code] = (before[0] + c.late_steps, before[1] + c.overdue_steps)
        done_by = await self._steps_done(city, targets)
        year_1 = {str(s) for s in YEAR_1}
        b = f.bkm.c
        with_bkm = {
            kel
            for (kel,) in await self.conn.execute(
                select(b.kelurahan_code)
                .where(b.city_code == city, b.starts_on <= on, b.ends_on > on)
                .group_by(b.kelurahan_code)
            )
        }
        rows = []
        for kel in sorted(targets):
            done = sum(1 for step, _ in done_by.get(kel, []) if step in year_1)
            bkm = kel in with_bkm
            closing = closings.get(kel)
            rows.append(
                {
                    "kelurahan_code": kel,
                    "name": _name(kel),
                    "steps_done": done,
                    "late_steps": late.get(kel, (0, 0))[0],
                    "overdue_steps": late.get(kel, (0, 0))[1],
                    "bkm_active": bool(bkm),
                    "outstanding": closing["outstanding"] if closing else 0,
                    "par_pct": closing["par_pct"] if closing else None,
                }
            )
        return rows

    async def kelurahan(self, kel: str) -> dict[str, Any]:
        f, on = self.f, self.on
        steps = [
            {"step": r.step, "year": r.year, "done_on": r.done_on}
            for r in await self.conn.execute(
                select(f.steps.c.step, f.steps.c.year, f.steps.c.done_on)
                .where(
                    f.steps.c.kelurahan_code == kel, f.steps.c.done_on <= on, ~f.steps.c.step.like("unit:%")
                )
                .order_by(f.steps.c.done_on)
            )
        ]
        bkm = (
            (
                await self.conn.execute(
                    select(f.bkm)
                    .where(f.bkm.c.kelurahan_code == kel, f.bkm.c.starts_on <= on)
                    .order_by(f.bkm.c.election.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        ksm = {
            kind: n
            for kind, n in await self.conn.execute(
                select(f.ksm.c.type, func.count())
                .where(f.ksm.c.kelurahan_code == kel, f.ksm.c.registered_on <= on)
                .group_by(f.ksm.c.type)
            )
        }
        grants = await self._count(
            select(func.sum(f.grants.c.amount)).where(
                f.grants.c.kelurahan_code == kel, f.grants.c.disbursed_on <= on
            )
        )
        loans = await self._count(
            select(func.sum(f.loans.c.principal)).where(
                f.loans.c.kelurahan_code == kel, f.loans.c.disbursed_on <= on
            )
        )
        closing = next(iter(await self._latest_closings(kel)), None)
        cycle = await self.cycle_of(kel)
        return {
            "as_of": on,
            "kelurahan_code": kel,
            "name": _name(kel),
            "city_code": kel[:5],
            "steps": steps,
            "cycle": cycle.summary(),
            "timeline": cycle.rows(),
            "bkm": {
                "status": "active" if bkm and bkm["ends_on"] > on else ("expired" if bkm else "not formed"),
                "term_ends_on": bkm["ends_on"] if bkm else None,
                "women_pct": bkm["women_pct"] if bkm else None,
            },
            "ksm": ksm,
            "blm": await self.blm(kel),
            "tranches": await self.tranches(kel),
            "grants_disbursed": grants,
            "loans_disbursed": loans,
            "upk": {k: v for k, v in closing.items() if k not in ("city_code", "kelurahan_code")}
            if closing
            else None,
            "handover_stage": (await self._stages(kel[:5])).get(kel[:5], "not started"),
        }

    async def cycle_of(self, kel: str) -> Timeline:
        """The kelurahan's cycle in the period asked for, else in the period it was last targeted in
        (nominated counts: its steps then wait for their anchor), else in the period of its steps."""
        f = self.f
        period = self.period
        if period is None:
            t = f.targets.c
            period = (
                await self.conn.execute(
                    select(t.period_code)
                    .where(t.kelurahan_code == kel)
                    .order_by(t.targeted_on.desc().nulls_last(), t.period_code.desc())
                    .limit(1)
                )
            ).scalar()
        if period is None:
            s = f.steps.c
            period = (
                await self.conn.execute(
                    select(s.period_code).where(s.kelurahan_code == kel).order_by(s.done_on.desc()).limit(1)
                )
            ).scalar()
        [cycle] = await timelines(self.conn, f, self.on, [(period, kel)])
        return cycle

    # --- tables of kelurahan within a region (a city or smaller), for the pages and the exports -----

    async def timeline_rows(self, region: str) -> list[dict[str, Any]]:
        """Every step of the cycle of each target kelurahan in ``region`` (of a kelurahan: its page's)."""
        if region.count(".") == 3:  # a kelurahan code
            cycles = [await self.cycle_of(region)]
        else:
            targets = self._targets().subquery()
            pairs = await self.conn.execute(
                select(targets.c.period_code, targets.c.kelurahan_code)
                .where(_under(targets.c.kelurahan_code, region))
                .order_by(targets.c.kelurahan_code, targets.c.period_code)
            )
            cycles = await timelines(self.conn, self.f, self.on, [(p, k) for p, k in pairs])
        return [
            {"kelurahan_code": c.kelurahan_code, "period_code": c.period_code, **row}
            for c in cycles
            for row in c.rows()
        ]

    async def blm(self, region: str) -> list[dict[str, Any]]:
        """BLM allocated by the day, per kelurahan, year and funding source."""
        b = self.f.blm.c
        rows = await self.conn.execute(
            select(b.kelurahan_code, b.period_code, b.year, b.source, b.amount)
            .where(_under(b.kelurahan_code, region), b.allocated_on <= self.on)
            .order_by(b.kelurahan_code, b.period_code, b.year, b.source)
        )
        return [dict(r) for r in rows.mappings()]

    async def tranches(self, region: str) -> list[dict[str, Any]]:
        """Each tranche requested by the day, per kelurahan, year and source, with the days of its
        steps done by then."""
        tr = self.f.tranches.c
        rows = await self.conn.execute(
            select(self.f.tranches)
            .where(_under(tr.kelurahan_code, region), tr.requested_on <= self.on)
            .order_by(tr.kelurahan_code, tr.period_code, tr.year, tr.source, tr.tranche)
        )
        days = ("requested_on", "transferred_on", "received_on", "lpj_accepted_on")
        return [
            {
                **{k: r[k] for k in ("kelurahan_code", "period_code", "year", "source", "tranche", "amount")},
                **{d: r[d] if r[d] and r[d] <= self.on else None for d in days},
            }
            for r in rows.mappings()
        ]

    async def ksm_counts(self, region: str) -> list[dict[str, Any]]:
        """KSM registered by the day, per kelurahan and type."""
        k = self.f.ksm.c
        rows = await self.conn.execute(
            select(k.kelurahan_code, k.type, func.count().label("ksm"))
            .where(_under(k.kelurahan_code, region), k.registered_on <= self.on)
            .group_by(k.kelurahan_code, k.type)
            .order_by(k.kelurahan_code, k.type)
        )
        return [dict(r) for r in rows.mappings()]

    async def portfolio(self, within: str | None = None) -> list[dict[str, Any]]:
        rows = await self._latest_closings(within)
        return [{**{k: v for k, v in r.items()}, "name": _name(r["kelurahan_code"])} for r in rows]

    async def handovers(self, within: str | None = None) -> list[dict[str, Any]]:
        stages = await self._stages()
        cities = {c.city_code for c in await self.cities(within)} | set(stages)
        return [
            {"city_code": c, "name": _name(c), "stage": stages.get(c, "not started")}
            for c in sorted(cities)
            if not within or c.startswith(within)
        ]

    # --- series for the dashboard's charts ----------------------------------------------------------------

    async def cycle_funnel(self, within: str | None = None) -> dict[str, Any]:
        """The target kelurahan within ``within`` (all: None), and how many have done each year-1 step."""
        targets = self._targets().subquery()
        scoped = select(targets.c.kelurahan_code)
        if within:
            scoped = scoped.where(_under(targets.c.kelurahan_code, within))
        whole = await self._count(select(func.count()).select_from(scoped.subquery()))
        s = self.f.steps.c
        done = {
            step: n
            for step, n in await self.conn.execute(
                select(s.step, func.count(func.distinct(s.kelurahan_code)))
                .where(
                    s.kelurahan_code.in_(scoped), s.step.in_([str(x) for x in YEAR_1]), s.done_on <= self.on
                )
                .group_by(s.step)
            )
        }
        return {
            "targets": whole,
            "steps": [{"step": str(x), "kelurahan": done.get(str(x), 0)} for x in YEAR_1],
        }

    async def monthly_received(self, within: str | None = None) -> list[dict[str, Any]]:
        """BLM received per month within ``within``, by source, every month from the first receipt to
        the last (a month with none is there, at 0)."""
        tr = self.f.tranches.c
        query = select(tr.received_on, tr.source, tr.amount).where(tr.received_on <= self.on)
        if within:
            query = query.where(_under(tr.kelurahan_code, within))
        if self.period:
            query = query.where(tr.period_code == self.period)
        months: dict[str, dict[str, int]] = {}
        for received_on, source, amount in await self.conn.execute(query):
            by_source = months.setdefault(f"{received_on:%Y-%m}", {})
            by_source[source] = by_source.get(source, 0) + int(amount)
        if not months:
            return []
        first, last = min(months), max(months)
        series = []
        year, month = int(first[:4]), int(first[5:])
        while (key := f"{year:04d}-{month:02d}") <= last:
            by_source = months.get(key, {})
            series.append({"month": key, "received": sum(by_source.values()), "by_source": by_source})
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return series

    async def par_trend(self, region: str) -> list[dict[str, Any]]:
        """Each UPK of ``region`` (a kelurahan: its own) at each book closing up to the day:
        outstanding, PAR, PAR30 and PAR90."""
        c = self.f.closings.c
        rows = await self.conn.execute(
            select(c.kelurahan_code, c.as_of, c.outstanding, c.par_pct, c.par30_pct, c.par90_pct)
            .where(_under(c.kelurahan_code, region), c.as_of <= self.on)
            .order_by(c.kelurahan_code, c.as_of)
        )
        return [dict(r) for r in rows.mappings()]


def ranked(cities: Iterable[CityFigures]) -> list[CityFigures]:
    """Cities by progress, the best first."""
    return sorted(cities, key=lambda c: (-(c.progress_pct or 0), c.city_code))


def overview_of(on: date, cities: list[CityFigures]) -> dict[str, Any]:
    """The overview of ``cities`` (ranked): their totals, and the cities by progress and by risk."""

    def total(name: str) -> int:
        return sum(int(getattr(c, name)) for c in cities)

    outstanding = total("outstanding")
    at_risk = sum(c.outstanding * (c.par_pct or 0) / 100 for c in cities)
    return {
        "as_of": on,
        "cities": len(cities),
        "targets": total("targets"),
        "cycles_started": total("cycles_started"),
        "bkm_active": total("bkm_active"),
        "blm_allocated": total("blm_allocated"),
        "blm_received": total("blm_received"),
        "passed_to_ksm": total("passed_to_ksm"),
        "outstanding": outstanding,
        "par_pct": _pct(at_risk, outstanding),
        "by_progress": [asdict(c) for c in cities],
        "by_risk": [asdict(c) for c in sorted(cities, key=lambda c: (-(c.risk_pct or -1), c.city_code))],
    }


def _in_time(rows: list[Any], begun: str, ended: str, days: int, on: date) -> tuple[int, int]:
    """Of ``rows``, those whose ``begun`` day is ``days`` or more before ``on`` (due by now), and how
    many of those had their ``ended`` day by ``on``, within ``days`` of the first."""
    due = [(getattr(r, begun), getattr(r, ended)) for r in rows]
    due = [(start, end) for start, end in due if start is not None and start <= on - timedelta(days)]
    in_time = sum(1 for start, end in due if end is not None and end <= on and (end - start).days <= days)
    return len(due), in_time


def _in_region(table: Any, region: str) -> Any:
    """Rows of ``table`` in ``region`` (a province, city, kecamatan or kelurahan), by the indexed column
    that decides it (a province or city: ``city_code``; smaller: ``kelurahan_code``)."""
    depth = region.count(".")
    if depth == 3:
        return table.c.kelurahan_code == region
    if depth == 2:
        return table.c.kelurahan_code.like(f"{region}.%")
    if depth == 1:
        return table.c.city_code == region
    return table.c.city_code.in_(_cities_of(region))


@functools.cache
def _cities_of(province: str) -> tuple[str, ...]:
    """The province's city codes, from the registry every service checks a region against (a kelurahan
    of no registered city is refused at the door). ``city_code LIKE '33.%'`` read every row: a pattern
    from a parameter cannot use the index, and the statements are prepared."""
    return tuple(sorted(c.code for c in regions.children(province)))


def _under(column: Any, region: str) -> Any:
    """``column`` (a region code) is ``region`` or lies inside it (a kelurahan has nothing inside: the
    equality alone lets its index answer)."""
    if region.count(".") == 3:
        return column == region
    return or_(column == region, column.like(f"{region}.%"))


async def readiness_of(measures: Measures, city: str) -> dict[str, Any] | None:
    """The city's last readiness assessment on or before the day (the scorecard the handover took)."""
    r = measures.f.readiness
    row = (
        (
            await measures.conn.execute(
                select(r)
                .where(r.c.city_code == city, r.c.assessed_on <= measures.on)
                .order_by(r.c.position.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return {
        "assessed_on": row["assessed_on"],
        "period_code": row["period_code"],
        "criteria": json.loads(row["criteria"]),
    }
