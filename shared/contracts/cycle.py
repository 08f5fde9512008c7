"""The steps of the community cycle (siklus) in a kelurahan, shared by the period parameters that
schedule them and the institutions service that records them (reference §2.3 and §2.4), and the
schedule that judges their lateness, shared by that service and the monitoring dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Step(StrEnum):
    SOSIALISASI_AWAL = "sosialisasi-awal"
    RKM = "rkm"  # Rembug Kesiapan Masyarakat: the community accepts or rejects the program
    RELAWAN = "relawan"  # volunteers registered
    REFLEKSI_KEMISKINAN = "refleksi-kemiskinan"
    PEMETAAN_SWADAYA = "pemetaan-swadaya"  # the community self-survey, ending in a PS-2 list
    BKM_ELECTION = "bkm-election"
    UNIT_PENGELOLA = "unit-pengelola"  # UPK, UPL and UPS formed
    PJM = "pjm"  # PJM Pronangkis, the 3-year plan
    RENTA = "renta"  # each year's plan (Renta Pronangkis)
    REVIEW_PARTISIPATIF = "review-partisipatif"  # each year from year 2
    BKM_REELECTION = "bkm-reelection"  # year 4
    PJM_RENEWAL = "pjm-renewal"  # year 4: a new PJM, "as in year 1"


# Steps done once per year of the cycle; the others once per cycle.
YEARLY = frozenset({Step.RENTA, Step.REVIEW_PARTISIPATIF})

# When each step is expected, in days: the sosialisasi awal after the kelurahan became a target, every
# other step after the sosialisasi awal (day 0 of year 1). Yearly steps: the first occurrence (Renta of
# year 1, review of year 2); each later year adds 365 days. Assumed values [M], set per period.
DEFAULT_SCHEDULE_DAYS: dict[Step, int] = {
    Step.SOSIALISASI_AWAL: 30,
    Step.RKM: 30,
    Step.RELAWAN: 45,
    Step.REFLEKSI_KEMISKINAN: 75,
    Step.PEMETAAN_SWADAYA: 120,
    Step.BKM_ELECTION: 180,
    Step.UNIT_PENGELOLA: 210,
    Step.PJM: 270,
    Step.RENTA: 300,
    Step.REVIEW_PARTISIPATIF: 365 + 300,
    Step.BKM_REELECTION: 3 * 365 + 60,
    Step.PJM_RENEWAL: 3 * 365 + 150,
}


class Progress(StrEnum):
    DONE = "done"
    DONE_LATE = "done late"
    LATE = "late"
    DUE = "due"  # not done, and not yet expected (or no expected day known)
    ENDED = "not needed"  # after an RKM rejection


@dataclass(frozen=True)
class ScheduleItem:
    step: Step
    year: int | None
    expected_on: date | None
    done_on: date | None
    progress: Progress
    late_days: int


def schedule(
    days: Mapping[Step, int] | None,
    targeted_on: date | None,
    done: Mapping[Step, date],
    yearly: Mapping[Step, Mapping[int, date]],
    ended: bool,
    today: date,
    period_ends_on: date | None = None,
) -> list[ScheduleItem]:
    """Every step of a cycle expected by ``today`` or within a year of it (and within the program
    period), with how late each is or was: the institutions service's cycle and the monitoring
    dashboard's timeline judge lateness with this one rule.

    ``days``: the period's ``CycleRules.schedule_days`` (None when not known: no step is expected on a
    day, so none is late). ``done``: each once-per-cycle step's day; ``yearly``: each yearly step's
    days by cycle year. ``ended``: the community rejected the program at the RKM. Steps done after
    ``today`` count as not done: the cycle as of that day."""
    started_on = done.get(Step.SOSIALISASI_AWAL)
    start = started_on if started_on and started_on <= today else None
    horizon = today + timedelta(365)
    if period_ends_on is not None:
        horizon = min(horizon, period_ends_on)

    def after(anchor: date | None, step: Step, extra: int = 0) -> date | None:
        return anchor + timedelta(days[step] + extra) if anchor and days is not None else None

    items: list[tuple[Step, int | None, date | None, date | None]] = [
        (Step.SOSIALISASI_AWAL, None, after(targeted_on, Step.SOSIALISASI_AWAL), start)
    ]
    for step in Step:
        if step is Step.SOSIALISASI_AWAL:
            continue
        if step in YEARLY:
            first = 1 if step is Step.RENTA else 2
            by_year = yearly.get(step, {})
            current = max(1, (today - start).days // 365 + 1) if start else None
            last_year = max([*by_year, current + 1 if current else first])
            for year in range(first, last_year + 1):
                expected = after(start, step, 365 * (year - first))
                if year in by_year or expected is None or expected <= horizon:
                    items.append((step, year, expected, by_year.get(year)))
        else:
            expected = after(start, step)
            if step in done or expected is None or expected <= horizon:
                items.append((step, None, expected, done.get(step)))
    return [
        _item(step, year, expected, day if day and day <= today else None, ended, today)
        for step, year, expected, day in items
    ]


def _item(
    step: Step, year: int | None, expected: date | None, done: date | None, ended: bool, today: date
) -> ScheduleItem:
    if done is not None:
        late = max(0, (done - expected).days) if expected else 0
        return ScheduleItem(step, year, expected, done, Progress.DONE_LATE if late else Progress.DONE, late)
    if ended:
        return ScheduleItem(step, year, expected, None, Progress.ENDED, 0)
    late = max(0, (today - expected).days) if expected else 0
    return ScheduleItem(step, year, expected, None, Progress.LATE if late else Progress.DUE, late)
