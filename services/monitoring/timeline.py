"""Each kelurahan's cycle as a timeline as of a day: every step's expected day, the day it was done and
how late it is or was, judged by the schedule the institutions service judges its cycles by
(``shared.contracts.cycle.schedule``) from one generation's facts.

The schedule's inputs, as of day D:

- the anchor: the day the kelurahan counts as a target from (``targets.targeted_on``: its verification's
  day, or its cycle's first step if that was earlier), if that is on or before D;
- the steps done by D (``steps``), the yearly ones (Renta, review partisipatif) by cycle year;
- the period's ``CycleRules.schedule_days`` of the parameters version the sosialisasi awal named (the
  period's latest version before the cycle has started), kept from the targeting events (``parameters``);
- the program period's end (``periods``), past which nothing is expected;
- an RKM rejection by D (``cycles``), after which the steps not done are not needed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.monitoring.facts import Facts
from shared.contracts.cycle import YEARLY, Progress, ScheduleItem, Step, schedule
from shared.contracts.targeting import PeriodParameters
from shared.errors import Conflict

LATE = (Progress.LATE, Progress.DONE_LATE)
STEPS = {str(step): step for step in Step}  # by name: Step(name) costs an enum lookup per fact


@dataclass(frozen=True)
class Timeline:
    period_code: str | None
    kelurahan_code: str
    targeted_on: date | None  # the anchor as of the day (None: not a target yet)
    parameters_version: int | None  # None: the period's parameters are not known here
    ended: bool  # rejected at the RKM by the day
    items: list[ScheduleItem]

    @property
    def late_steps(self) -> int:
        """Steps done late or late now: the institutions service's ``late_steps``."""
        return sum(item.progress in LATE for item in self.items)

    @property
    def overdue_steps(self) -> int:
        """Steps past their expected day and still not done."""
        return sum(item.progress is Progress.LATE for item in self.items)

    def summary(self) -> dict[str, Any]:
        return {
            "period_code": self.period_code,
            "targeted_on": self.targeted_on,
            "parameters_version": self.parameters_version,
            "ended": self.ended,
            "late_steps": self.late_steps,
            "overdue_steps": self.overdue_steps,
        }

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "step": str(item.step),
                "year": item.year,
                "expected_on": item.expected_on,
                "done_on": item.done_on,
                "status": str(item.progress),
                "late_days": item.late_days,
            }
            for item in self.items
        ]


async def timelines(
    conn: AsyncConnection, facts: Facts, on: date, cycles: Iterable[tuple[str | None, str]]
) -> list[Timeline]:
    """The timeline of each (period, kelurahan) as of ``on``, in the order asked; a period of None is
    a kelurahan not (yet) targeted in any period: its steps have no expected day."""
    wanted = list(cycles)
    kelurahan = sorted({kel for _, kel in wanted})
    if not kelurahan:
        return []
    f = facts
    done: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for fact in await conn.execute(
        select(
            f.steps.c.period_code, f.steps.c.kelurahan_code, f.steps.c.step, f.steps.c.year, f.steps.c.done_on
        )
        .where(_among(f.steps.c.kelurahan_code, kelurahan), f.steps.c.done_on <= on)
        .where(~f.steps.c.step.like("unit:%"))
    ):
        done[(fact.period_code, fact.kelurahan_code)].append(fact)
    anchors = {
        (r.period_code, r.kelurahan_code): r.targeted_on
        for r in await conn.execute(
            select(f.targets.c.period_code, f.targets.c.kelurahan_code, f.targets.c.targeted_on).where(
                _among(f.targets.c.kelurahan_code, kelurahan)
            )
        )
    }
    cycle_rows = {
        (r.period_code, r.kelurahan_code): r
        for r in await conn.execute(select(f.cycles).where(_among(f.cycles.c.kelurahan_code, kelurahan)))
    }
    rules = _Rules(conn, facts)
    found = []
    for period, kel in wanted:
        key = (period or "", kel)
        anchor = anchors.get(key)
        cycle = cycle_rows.get(key)
        version, parameters = await rules.of(period, cycle.parameters_version if cycle else None)
        once: dict[Step, date] = {}
        yearly: dict[Step, dict[int, date]] = {s: {} for s in YEARLY}
        for fact in done.get(key, []):
            step = STEPS[fact.step]
            if step in YEARLY:
                yearly[step][fact.year] = fact.done_on
            else:
                once[step] = fact.done_on
        ended = bool(cycle and cycle.rkm_rejected_on and cycle.rkm_rejected_on <= on)
        anchor = anchor if anchor and anchor <= on else None
        items = schedule(
            parameters.cycle.schedule_days if parameters else None,
            anchor,
            once,
            yearly,
            ended,
            on,
            await rules.ends_on(period),
        )
        found.append(Timeline(period, kel, anchor, version, ended, items))
    return found


def _among(column: Any, codes: list[str]) -> Any:
    """``column`` is one of ``codes``; for many, a row of their cities (the rows are keyed after)."""
    if len(codes) <= 200:
        return column.in_(codes)
    return or_(*(column.like(f"{city}.%") for city in sorted({c[:5] for c in codes})))


class _Rules:
    """Each period's parameters and end, read once per request."""

    def __init__(self, conn: AsyncConnection, facts: Facts) -> None:
        self.conn, self.tables = conn, facts.period_tables
        self._parameters: dict[tuple[str, int | None], tuple[int | None, PeriodParameters | None]] = {}
        self._ends: dict[str, date | None] = {}

    async def of(self, period: str | None, version: int | None) -> tuple[int | None, PeriodParameters | None]:
        if period is None:
            return None, None
        if (period, version) not in self._parameters:
            try:
                self._parameters[(period, version)] = await self.tables.parameters_of(
                    self.conn, period, version
                )
            except Conflict:  # the period's parameters have not reached monitoring
                self._parameters[(period, version)] = (None, None)
        return self._parameters[(period, version)]

    async def ends_on(self, period: str | None) -> date | None:
        if period is None:
            return None
        if period not in self._ends:
            self._ends[period] = await self.tables.ends_on(self.conn, period)
        return self._ends[period]
