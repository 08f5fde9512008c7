"""UPK performance indicators as the 2013 operating manual (POB Pinjaman Bergulir PNPM MP 2013) defines
them, with its bands, and beside them the microfinance PAR30 and PAR90 (reference §3.2, §3.3).

    LAR = KSM with arrears of >= 3 instalments / active KSM with an outstanding balance
    PAR = outstanding principal of loans with >= 3 instalments in arrears / total outstanding principal
    RR  = (total outstanding - outstanding of loans with >= 3 instalments in arrears) / total outstanding
    CCr = income, 1 January to the day / costs, 1 January to the day
    ROI = (net profit, 1 January to the day, x 12 / months elapsed) / total capital of the revolving fund
    PAR30, PAR90 = outstanding of loans with an instalment more than 30 (90) days late / total outstanding

Income is jasa and other income; costs are operating costs, loan-loss provisions and write-offs; capital
is the revolving fund's (BLM put into it and other capital). A ratio whose denominator is zero is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.ledger.loans import ARREARS_INSTALMENTS, Position


class Band(StrEnum):
    SATISFACTORY = "satisfactory"  # memuaskan
    ADEQUATE = "adequate"  # cukup
    POOR = "poor"  # kurang


@dataclass(frozen=True)
class Indicator:
    value_pct: float | None
    band: Band | None


@dataclass(frozen=True)
class Indicators:
    as_of: date
    active_ksm: int
    outstanding: int
    lar: Indicator
    par: Indicator
    rr: Indicator
    ccr: Indicator
    roi: Indicator
    par30: float | None
    par90: float | None


def _ratio(numerator: float, denominator: float) -> float | None:
    return 100 * numerator / denominator if denominator else None


def _shown(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _indicator(value: float | None, satisfactory: float, poor: float) -> Indicator:
    """Banded on the exact ratio (a loss of 0.01 % is poor), shown to one decimal."""
    return Indicator(_shown(value), _band(value, satisfactory, poor))


def _band(value: float | None, satisfactory: float, poor: float) -> Band | None:
    """Bands bounded by two limits; ``satisfactory`` above ``poor`` means higher is better."""
    if value is None:
        return None
    if satisfactory > poor:
        return Band.SATISFACTORY if value > satisfactory else Band.POOR if value < poor else Band.ADEQUATE
    return Band.SATISFACTORY if value < satisfactory else Band.POOR if value > poor else Band.ADEQUATE


def compute(as_of: date, positions: Sequence[Position], income: int, costs: int, capital: int) -> Indicators:
    """The indicators of one UPK on ``as_of`` from its loans' positions and its year-to-date books."""
    active = [p for p in positions if p.outstanding > 0]
    outstanding = sum(p.outstanding for p in active)
    at_risk = [p for p in active if p.instalments_overdue >= ARREARS_INSTALMENTS]
    at_risk_outstanding = sum(p.outstanding for p in at_risk)
    ksm = {p.ksm_id for p in active}
    lar = _ratio(len({p.ksm_id for p in at_risk}), len(ksm))
    par = _ratio(at_risk_outstanding, outstanding)
    rr = _ratio(outstanding - at_risk_outstanding, outstanding)
    ccr = _ratio(income, costs)
    roi = _ratio((income - costs) * 12 / as_of.month, capital)
    return Indicators(
        as_of=as_of,
        active_ksm=len(ksm),
        outstanding=outstanding,
        lar=_indicator(lar, 10, 20),
        par=_indicator(par, 10, 20),
        rr=_indicator(rr, 90, 80),
        ccr=_indicator(ccr, 125, 100),
        roi=_indicator(roi, 10, 0),
        par30=_shown(_ratio(sum(p.outstanding for p in active if p.days_overdue > 30), outstanding)),
        par90=_shown(_ratio(sum(p.outstanding for p in active if p.days_overdue > 90), outstanding)),
    )
