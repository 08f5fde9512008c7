"""Evaluating a targeting-criteria version over an imported indicator table, to propose a shortlist.

The P2KP-2 rule (2002): rank the kecamatan by a welfare indicator, drop the richest share, and keep those
whose Pra-KS + KS-I families exceed a threshold share of all families.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, Field, ValidationError

from shared.contracts.targeting import KECAMATAN_CODE, CriteriaRule, TargetingCriteriaPublished
from shared.errors import InvalidInput
from shared.regions import Level, require


class KecamatanIndicators(BaseModel):
    kecamatan_code: str = Field(pattern=KECAMATAN_CODE)
    families: int = Field(gt=0)
    pra_ks_ks1_families: int = Field(ge=0)
    welfare_index: float = Field(description="higher is richer (e.g. PODES average expenditure)")


@dataclass(frozen=True)
class Assessment:
    kecamatan_code: str
    shortlisted: bool
    reason: str
    pra_ks_ks1_pct: float


def parse_indicator_rows(rows: list[tuple[int, dict[str, str]]]) -> list[KecamatanIndicators]:
    parsed, problems = [], []
    seen: dict[str, int] = {}
    for number, row in rows:
        try:
            indicators = KecamatanIndicators.model_validate(row)
            require(indicators.kecamatan_code, Level.KECAMATAN, what="kecamatan")
            if indicators.pra_ks_ks1_families > indicators.families:
                raise ValueError("more Pra-KS + KS-I families than families")
            if indicators.kecamatan_code in seen:  # a second line would skew the richest-share cut
                raise ValueError(
                    f"{indicators.kecamatan_code} is already in row {seen[indicators.kecamatan_code]}"
                )
            seen[indicators.kecamatan_code] = number
            parsed.append(indicators)
        except (ValidationError, InvalidInput, ValueError) as exc:
            problems.append(f"row {number}: {_explain(exc)}")
    if problems:
        raise InvalidInput("The indicator table has rows that cannot be used: " + "; ".join(problems[:20]))
    return parsed


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
    if isinstance(exc, InvalidInput):
        return exc.detail
    return str(exc)


def evaluate(criteria: TargetingCriteriaPublished, table: list[KecamatanIndicators]) -> list[Assessment]:
    if criteria.rule is not CriteriaRule.KECAMATAN_WELFARE:
        raise InvalidInput(
            f"Criteria version {criteria.version} is a {criteria.rule} rule: it names its "
            "locations and computes no shortlist."
        )
    thresholds = criteria.thresholds
    richest_first = sorted(table, key=lambda k: (-k.welfare_index, k.kecamatan_code))
    excluded = {
        k.kecamatan_code
        for k in richest_first[: math.floor(len(table) * thresholds.exclude_richest_pct / 100)]
    }
    assessments = []
    for k in sorted(table, key=lambda k: k.kecamatan_code):
        share = 100 * k.pra_ks_ks1_families / k.families
        if k.kecamatan_code in excluded:
            verdict = (False, f"among the richest {thresholds.exclude_richest_pct} % of kecamatan")
        elif share <= thresholds.min_pra_ks_ks1_pct:
            verdict = (False, f"Pra-KS + KS-I is {share:.1f} %, not above {thresholds.min_pra_ks_ks1_pct} %")
        else:
            verdict = (True, f"Pra-KS + KS-I is {share:.1f} %, above {thresholds.min_pra_ks_ks1_pct} %")
        assessments.append(Assessment(k.kecamatan_code, verdict[0], verdict[1], round(share, 1)))
    return assessments
