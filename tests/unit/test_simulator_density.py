"""The simulator's kelurahan density: planned from the seed alone, so checked without any service."""

from __future__ import annotations

from collections import Counter
from datetime import date

from services.simulator.program import DEFAULT_UNTIL, Planner
from services.simulator.synthetic import choose_cities, choose_villages


def _plan(density: int | None = None) -> list[str]:
    city = choose_villages(choose_cities(1)[0], 3)
    start = date(2023, 11, 1)
    if density is None:  # as every caller before the density existed
        planner = Planner(1, "KOTAKU", start, DEFAULT_UNTIL, city_signs=True)
    else:
        planner = Planner(1, "KOTAKU", start, DEFAULT_UNTIL, city_signs=True, density=density)
    plan = planner.plan([city])
    return [c.line() for s in plan.scripts for c in s.commands]


def test_density_one_plans_what_the_demo_always_planned() -> None:
    assert _plan() == _plan(density=1)


def test_a_denser_kelurahan_has_more_poor_households_ksm_and_loans() -> None:
    kinds = {density: Counter(line.split(" ", 1)[0] for line in _plan(density=density)) for density in (1, 4)}
    for kind in ("targeting.household.survey", "institutions.ksm.register", "ledger.loan.approve"):
        assert kinds[4][kind] >= 3 * kinds[1][kind] > 0, kind
    # The cycle itself is not denser: one sosialisasi awal a kelurahan either way.
    step = "institutions.cycle.sosialisasi-awal"
    assert kinds[4][step] == kinds[1][step] == 3
