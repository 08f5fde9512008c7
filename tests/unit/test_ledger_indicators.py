"""UPK performance indicators without a database: the worked example of reference §3.5, the POB 2013
bands at their boundaries, PAR30/PAR90, and ratios without a denominator."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.ledger.indicators import Band, Indicator, compute
from services.ledger.loans import Position

MAY_31 = date(2026, 5, 31)
DEC_31 = date(2026, 12, 31)


def position(
    outstanding: int,
    instalments_overdue: int = 0,
    days_overdue: int = 0,
    ksm: uuid.UUID | None = None,
) -> Position:
    return Position(
        loan_id=uuid.uuid4(),
        ksm_id=ksm or uuid.uuid4(),
        outstanding=outstanding,
        instalments_overdue=instalments_overdue,
        days_overdue=days_overdue,
        kol=1,
        reserve=0,
    )


def worked_example() -> list[Position]:
    """Reference §3.5: 40 active KSM, Rp300,000,000 outstanding, 5 KSM >= 3 instalments late (Rp36 juta)."""
    current = [position(7_500_000) for _ in range(30)]  # 225,000,000
    current += [position(9_000_000), position(9_000_000)]  # 18,000,000
    # 1-2 instalments late: current by the POB 2013 rule, but in PAR30 when more than 30 days late.
    current += [position(7_000_000, 1, 20), position(7_000_000, 1, 35), position(7_000_000, 2, 61)]
    assert len(current) == 35 and sum(p.outstanding for p in current) == 264_000_000
    at_risk = [
        position(6_000_000, 3, 92),
        position(6_000_000, 3, 95),
        position(8_000_000, 4, 120),
        position(8_000_000, 5, 150),
        position(8_000_000, 6, 181),
    ]
    assert sum(p.outstanding for p in at_risk) == 36_000_000
    repaid = [position(0), position(0, 3, 200)]  # no balance: not active, whatever their schedule says
    return [*current, *at_risk, *repaid]


def test_the_worked_example_of_the_reference() -> None:
    result = compute(MAY_31, worked_example(), income=22_500_000, costs=16_000_000, capital=320_000_000)
    assert (result.as_of, result.active_ksm, result.outstanding) == (MAY_31, 40, 300_000_000)
    assert result.lar == Indicator(12.5, Band.ADEQUATE)  # 5 / 40
    assert result.par == Indicator(12.0, Band.ADEQUATE)  # 36 / 300
    assert result.rr == Indicator(88.0, Band.ADEQUATE)  # (300 - 36) / 300
    assert result.ccr == Indicator(140.6, Band.SATISFACTORY)  # 22.5 / 16
    assert result.roi == Indicator(4.9, Band.ADEQUATE)  # 6.5 x 12 / 5 / 320
    # MFI convention: PAR30 also takes the loans 1-2 instalments but more than 30 days late.
    assert result.par30 == round(100 * (36_000_000 + 14_000_000) / 300_000_000, 1) == 16.7
    assert result.par90 == 12.0


def lar_of(at_risk: int, ksm: int) -> Indicator:
    positions = [position(1_000_000, 3 if k < at_risk else 0, 95 if k < at_risk else 0) for k in range(ksm)]
    return compute(DEC_31, positions, income=1, costs=1, capital=1).lar


@pytest.mark.parametrize(
    ("at_risk", "ksm", "expected"),
    [
        (1, 10, Indicator(10.0, Band.ADEQUATE)),
        (10, 101, Indicator(9.9, Band.SATISFACTORY)),
        (0, 10, Indicator(0.0, Band.SATISFACTORY)),
        (2, 10, Indicator(20.0, Band.ADEQUATE)),
        (30, 149, Indicator(20.1, Band.POOR)),
    ],
)
def test_lar_bands_at_their_boundaries(at_risk: int, ksm: int, expected: Indicator) -> None:
    assert lar_of(at_risk, ksm) == expected


def test_lar_counts_ksm_not_loans_and_only_those_with_a_balance() -> None:
    ksm = uuid.uuid4()
    positions = [
        position(1_000_000, 3, 95, ksm=ksm),
        position(2_000_000, 0, 0, ksm=ksm),
        position(1_000_000),
        position(1_000_000),
        position(0, 4, 130),
    ]
    result = compute(DEC_31, positions, income=1, costs=1, capital=1)
    assert (result.active_ksm, result.lar.value_pct) == (3, 33.3)
    assert result.par.value_pct == 20.0  # only the late loan's balance, not its KSM's other loan


@pytest.mark.parametrize(
    ("late", "total", "par", "rr"),
    [
        (10, 100, Indicator(10.0, Band.ADEQUATE), Indicator(90.0, Band.ADEQUATE)),
        (99, 1000, Indicator(9.9, Band.SATISFACTORY), Indicator(90.1, Band.SATISFACTORY)),
        (20, 100, Indicator(20.0, Band.ADEQUATE), Indicator(80.0, Band.ADEQUATE)),
        (201, 1000, Indicator(20.1, Band.POOR), Indicator(79.9, Band.POOR)),
    ],
)
def test_par_and_rr_bands_at_their_boundaries(late: int, total: int, par: Indicator, rr: Indicator) -> None:
    positions = [position(late * 1000, 3, 91), position((total - late) * 1000)]
    result = compute(DEC_31, positions, income=1, costs=1, capital=1)
    assert (result.par, result.rr) == (par, rr)


@pytest.mark.parametrize(
    ("income", "costs", "expected"),
    [
        (100, 100, Indicator(100.0, Band.ADEQUATE)),
        (999, 1000, Indicator(99.9, Band.POOR)),
        (125, 100, Indicator(125.0, Band.ADEQUATE)),
        (1251, 1000, Indicator(125.1, Band.SATISFACTORY)),
        (0, 100, Indicator(0.0, Band.POOR)),
    ],
)
def test_cost_coverage_bands_at_their_boundaries(income: int, costs: int, expected: Indicator) -> None:
    assert compute(DEC_31, [], income=income, costs=costs, capital=1).ccr == expected


@pytest.mark.parametrize(
    ("as_of", "income", "costs", "capital", "expected"),
    [
        (DEC_31, 100, 101, 1000, Indicator(-0.1, Band.POOR)),
        (DEC_31, 5_000, 9_000, 100_000, Indicator(-4.0, Band.POOR)),
        (DEC_31, 100, 100, 1000, Indicator(0.0, Band.ADEQUATE)),
        (DEC_31, 110, 10, 1000, Indicator(10.0, Band.ADEQUATE)),
        (DEC_31, 1011, 10, 10_000, Indicator(10.0, Band.SATISFACTORY)),  # 10.01 % banded exactly, shown 10.0
        (DEC_31, 1016, 10, 10_000, Indicator(10.1, Band.SATISFACTORY)),
        (date(2026, 1, 31), 110, 10, 12_000, Indicator(10.0, Band.ADEQUATE)),  # one month, annualised
        (date(2026, 6, 15), 60, 10, 1_000, Indicator(10.0, Band.ADEQUATE)),  # six months
    ],
)
def test_roi_is_annualised_and_banded(
    as_of: date, income: int, costs: int, capital: int, expected: Indicator
) -> None:
    assert compute(as_of, [], income=income, costs=costs, capital=capital).roi == expected


def test_par30_and_par90_count_loans_more_than_30_and_90_days_late() -> None:
    positions = [
        position(100, 1, 30),  # 30 days: not in PAR30
        position(200, 1, 31),
        position(300, 3, 90),  # 90 days: in PAR30, not in PAR90 (and >= 3 instalments: in PAR)
        position(400, 4, 91),
        position(1000),
    ]
    result = compute(DEC_31, positions, income=1, costs=1, capital=1)
    assert result.outstanding == 2000
    assert result.par30 == 45.0  # (200 + 300 + 400) / 2000
    assert result.par90 == 20.0  # 400 / 2000
    assert result.par.value_pct == 35.0  # (300 + 400) / 2000


def test_ratios_without_a_denominator_are_none() -> None:
    empty = compute(DEC_31, [position(0, 5, 300)], income=0, costs=0, capital=0)
    assert (empty.active_ksm, empty.outstanding) == (0, 0)
    for indicator in (empty.lar, empty.par, empty.rr, empty.ccr, empty.roi):
        assert indicator == Indicator(None, None)
    assert (empty.par30, empty.par90) == (None, None)
    no_costs = compute(DEC_31, [position(1000)], income=500, costs=0, capital=10_000)
    assert no_costs.ccr == Indicator(None, None)
    assert no_costs.roi == Indicator(5.0, Band.ADEQUATE)
    assert no_costs.lar == Indicator(0.0, Band.SATISFACTORY)
    assert no_costs.rr == Indicator(100.0, Band.SATISFACTORY)


def test_a_net_loss_however_small_is_a_poor_roi() -> None:
    roi = compute(DEC_31, [], income=100, costs=101, capital=10_000).roi  # -0.01 %
    assert roi.band is Band.POOR


def test_costs_not_covered_however_narrowly_is_a_poor_cost_coverage() -> None:
    ccr = compute(DEC_31, [], income=99_996, costs=100_000, capital=1).ccr
    assert ccr.band is Band.POOR
