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


def _pct(numerator: float, denominator: float) -> float | None:
    return round(100 * numerator / denominator, 1) if denominator else None


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
    lar = _pct(len({p.ksm_id for p in at_risk}), len(ksm))
    par = _pct(at_risk_outstanding, outstanding)
    rr = _pct(outstanding - at_risk_outstanding, outstanding)
    ccr = _pct(income, costs)
    months = as_of.month
    roi = _pct((income - costs) * 12 / months, capital)
    return Indicators(
        as_of=as_of,
        active_ksm=len(ksm),
        outstanding=outstanding,
        lar=Indicator(lar, _band(lar, 10, 20)),
        par=Indicator(par, _band(par, 10, 20)),
        rr=Indicator(rr, _band(rr, 90, 80)),
        ccr=Indicator(ccr, _band(ccr, 125, 100)),
        roi=Indicator(roi, _band(roi, 10, 0)),
        par30=_pct(sum(p.outstanding for p in active if p.days_overdue > 30), outstanding),
        par90=_pct(sum(p.outstanding for p in active if p.days_overdue > 90), outstanding),
    )
