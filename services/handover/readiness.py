"""A city's readiness scorecard for a program period, as of any day.

Computed criteria come from the dated facts ``handover.facts`` keeps from the other services' events;
attested criteria from the attestations in the city's handover stream. Each criterion is met, not met
or unknown (no facts to judge it by), with its source in words. Scorecard version 1's thresholds are
below; a new version of them is a new ``SCORECARD_VERSION``, recorded with every assessment.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.handover.domain import Handover
from services.handover.readmodels import (
    audits,
    bkm_terms,
    ddub_committed,
    target_kelurahan,
    tranches_received,
    upk_closings,
)
from shared.contracts.handover import ATTESTED, Criterion, CriterionResult, Verdict
from shared.contracts.ledger import Source

SCORECARD_VERSION = 1
THRESHOLD_PCT = {
    Criterion.BKM_ACTIVE: 80.0,
    Criterion.DDUB_PAID: 90.0,
    Criterion.UPK_HEALTH: 80.0,
    Criterion.LPJ_COMPLETE: 90.0,
    Criterion.AUDITS_DONE: 80.0,
}
LPJ_DUE_DAYS = 90  # a tranche's LPJ is expected within this many days of its receipt
GOOD = "satisfactory"


def _result(criterion: Criterion, part: int, whole: int, what: str, on: date) -> CriterionResult:
    threshold = THRESHOLD_PCT[criterion]
    if whole == 0:
        return CriterionResult(
            criterion=criterion, verdict=Verdict.UNKNOWN, threshold_pct=threshold, source=f"no {what} on {on}"
        )
    pct = round(100 * part / whole, 1)
    return CriterionResult(
        criterion=criterion,
        verdict=Verdict.MET if 100 * part / whole >= threshold else Verdict.NOT_MET,
        value_pct=pct,
        threshold_pct=threshold,
        source=f"{part:,} of {whole:,} {what} on {on} ({pct:g} %; {threshold:g} % needed)",
    )


async def _count(conn: AsyncConnection, query: object) -> int:
    return int((await conn.execute(query)).scalar_one() or 0)  # type: ignore[call-overload]


async def scorecard(
    conn: AsyncConnection, handover: Handover, period: str, on: date
) -> list[CriterionResult]:
    city = handover.city
    targets = select(target_kelurahan.c.kelurahan_code).where(
        target_kelurahan.c.city_code == city,
        target_kelurahan.c.period_code == period,
        target_kelurahan.c.targeted_on <= on,
        or_(target_kelurahan.c.dropped_on.is_(None), target_kelurahan.c.dropped_on > on),
    )
    targeted = await _count(conn, select(func.count()).select_from(targets.subquery()))
    in_term = await _count(
        conn,
        select(func.count(func.distinct(bkm_terms.c.kelurahan_code))).where(
            bkm_terms.c.period_code == period,
            bkm_terms.c.kelurahan_code.in_(targets),
            bkm_terms.c.starts_on <= on,
            bkm_terms.c.ends_on > on,
        ),
    )
    committed = await _count(
        conn,
        select(func.sum(ddub_committed.c.amount)).where(
            ddub_committed.c.city_code == city,
            ddub_committed.c.period_code == period,
            ddub_committed.c.committed_on <= on,
        ),
    )
    paid = await _count(
        conn,
        select(func.sum(tranches_received.c.amount)).where(
            tranches_received.c.city_code == city,
            tranches_received.c.period_code == period,
            tranches_received.c.source == str(Source.DDUB),
            tranches_received.c.received_on <= on,
        ),
    )
    latest = (
        select(upk_closings.c.kelurahan_code, func.max(upk_closings.c.as_of).label("as_of"))
        .where(
            upk_closings.c.city_code == city, upk_closings.c.period_code == period, upk_closings.c.as_of <= on
        )
        .group_by(upk_closings.c.kelurahan_code)
        .subquery()
    )
    closings = (
        await conn.execute(
            select(upk_closings.c.par_band, upk_closings.c.rr_band).join(
                latest,
                and_(
                    upk_closings.c.kelurahan_code == latest.c.kelurahan_code,
                    upk_closings.c.as_of == latest.c.as_of,
                ),
            )
        )
    ).all()
    judged = [(par, rr) for par, rr in closings if par is not None]  # a UPK with no loans is not judged
    due_by = on - timedelta(days=LPJ_DUE_DAYS)
    received = tranches_received.c
    due = await _count(
        conn,
        select(func.count()).where(
            received.city_code == city, received.period_code == period, received.received_on <= due_by
        ),
    )
    accounted = await _count(
        conn,
        select(func.count()).where(
            received.city_code == city,
            received.period_code == period,
            received.received_on <= due_by,
            received.lpj_accepted_on <= on,
        ),
    )
    audited = await _count(
        conn,
        select(func.count(func.distinct(audits.c.kelurahan_code))).where(
            audits.c.kelurahan_code.in_(targets), audits.c.year == on.year - 1, audits.c.audited_on <= on
        ),
    )
    results = [
        _result(Criterion.BKM_ACTIVE, in_term, targeted, "target kelurahan with a BKM in term", on),
        _result(Criterion.DDUB_PAID, paid, committed, "rupiah of DDUB committed received", on),
        _result(
            Criterion.UPK_HEALTH,
            sum(par == GOOD and rr == GOOD for par, rr in judged),
            len(judged),
            "UPK with PAR and repayment rate satisfactory at their last closing",
            on,
        ),
        _result(
            Criterion.LPJ_COMPLETE,
            accounted,
            due,
            f"tranches received {LPJ_DUE_DAYS}+ days before with their LPJ accepted",
            on,
        ),
        _result(
            Criterion.AUDITS_DONE,
            audited,
            targeted,
            f"target kelurahan with their {on.year - 1} books audited",
            on,
        ),
    ]
    for criterion in sorted(ATTESTED):
        attested = handover.attested(period, criterion, on)
        results.append(
            CriterionResult(criterion=criterion, verdict=Verdict.UNKNOWN, source=f"not attested by {on}")
            if attested is None
            else CriterionResult(
                criterion=criterion,
                verdict=Verdict.MET if attested.met else Verdict.NOT_MET,
                source=f"attested on {attested.attested_on}: {attested.evidence}",
            )
        )
    return results
