"""Events published by the targeting service on ``p2kp.targeting.events``.

Only codes, counts and pseudonymous ids: no household's personal data ever appears here.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.contracts import registry
from shared.contracts.cycle import DEFAULT_SCHEDULE_DAYS, Step
from shared.events import DomainEvent

PERIOD_CODE = r"^[A-Z0-9][A-Z0-9-]{1,31}$"
KELURAHAN_CODE = r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$"
KECAMATAN_CODE = r"^\d{2}\.\d{2}\.\d{2}$"
MODULE_CODE = r"^[A-Z0-9][A-Z0-9-]{0,19}$"  # a training module's code in a period's catalogue


class _Closed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- program periods and their versioned parameters ---------------------------------------------------


@registry.event("p2kp.targeting.program-period-registered.v1")
class ProgramPeriodRegistered(DomainEvent):
    """A program period (P2KP-1, PNPM Mandiri Perkotaan, KOTAKU, ...) the platform can target under."""

    code: str = Field(pattern=PERIOD_CODE)
    name: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date


class BkmRules(_Closed):
    members_min: int = Field(default=9, ge=3, le=50)
    members_max: int = Field(default=13, ge=3, le=50)
    members_odd: bool = True
    term_years: int = Field(default=3, ge=1, le=10)
    women_target_pct: int = Field(default=30, ge=0, le=100)


class KsmRules(_Closed):
    # Any KSM (lingkungan, sosial, ekonomi) needs at least this many members.
    members_min_general: int = Field(default=3, ge=1, le=100)
    # A KSM ekonomi that borrows from the revolving fund needs all of the following.
    members_min: int = Field(default=5, ge=1, le=100)
    women_min_pct: int = Field(default=30, ge=0, le=100)
    savings_months_min: int = Field(default=3, ge=0, le=36)
    loan_training_modules: tuple[Annotated[str, StringConstraints(pattern=MODULE_CODE)], ...] = Field(
        default=("PB", "KWU", "PERT"),
        max_length=20,
        description="training-module codes a borrowing KSM must have done "
        "(pinjaman bergulir, kewirausahaan, PERT)",
    )


class CycleRules(_Closed):
    schedule_days: dict[Step, int] = Field(
        default_factory=lambda: dict(DEFAULT_SCHEDULE_DAYS),
        description="when each step is expected: the sosialisasi awal in days after the kelurahan "
        "became a target, every other step in days after the sosialisasi awal",
    )

    @model_validator(mode="after")
    def _every_step_scheduled(self) -> CycleRules:
        missing = [str(s) for s in Step if s not in self.schedule_days]
        if missing:
            raise ValueError(f"the schedule has no day for {missing}")
        if any(not 0 <= d <= 3650 for d in self.schedule_days.values()):
            raise ValueError("scheduled days must be between 0 and 3650")
        return self


FiscalCategory = Literal["rendah", "sedang", "tinggi", "sangat_tinggi"]
DDUB_2012: dict[FiscalCategory, int] = {"rendah": 5, "sedang": 10, "tinggi": 15, "sangat_tinggi": 20}


class BlmRules(_Closed):
    tranche_split_pct: tuple[int, ...] = Field(default=(20, 50, 30), min_length=1, max_length=6)
    # DDUB: the city's share of BLM by its fiscal category (IFKD), 2012 rule.
    ddub_share_pct: dict[FiscalCategory, int] = Field(default_factory=lambda: dict(DDUB_2012))

    @model_validator(mode="after")
    def _tranches_make_the_whole(self) -> BlmRules:
        if sum(self.tranche_split_pct) != 100:
            raise ValueError(f"tranche split {list(self.tranche_split_pct)} must add up to 100 %")
        return self


class LoanRules(_Closed):
    first_ceiling_rupiah: int = Field(default=1_000_000, ge=0)
    graduation_ceiling_rupiah: int = Field(default=3_000_000, ge=0)
    graduation_cycles: int = Field(default=4, ge=1, le=20)
    term_months_min: int = Field(default=3, ge=1, le=60)
    term_months_max: int = Field(default=12, ge=1, le=60)
    fee_bps_per_month: int = Field(default=150, ge=0, le=1000, description="jasa, flat, in basis points")
    # Collectibility: the most days overdue of Kol-1 (lancar) to Kol-4; beyond the last is Kol-5 (macet).
    collectibility_days: tuple[int, int, int, int] = (0, 90, 120, 180)
    # The loan-loss reserve for Kol-1 to Kol-5, in % of outstanding principal (BI PPAP; PNPM's own not found).
    reserve_pct: tuple[int, int, int, int, int] = (1, 5, 15, 50, 100)

    @model_validator(mode="after")
    def _ordered(self) -> LoanRules:
        if list(self.collectibility_days) != sorted(set(self.collectibility_days)):
            raise ValueError("collectibility_days must rise strictly from Kol-1 to Kol-4")
        if any(not 0 <= pct <= 100 for pct in self.reserve_pct):
            raise ValueError("reserve percentages are between 0 and 100")
        if self.term_months_min > self.term_months_max:
            raise ValueError("term_months_min is more than term_months_max")
        return self


class PeriodParameters(_Closed):
    """The rules of one program period that differ between editions (brief §5)."""

    bkm: BkmRules = Field(default_factory=BkmRules)
    ksm: KsmRules = Field(default_factory=KsmRules)
    blm: BlmRules = Field(default_factory=BlmRules)
    loans: LoanRules = Field(default_factory=LoanRules)
    cycle: CycleRules = Field(default_factory=CycleRules)


@registry.event("p2kp.targeting.program-parameters-set.v1")
class ProgramParametersSet(DomainEvent):
    """Version ``version`` of a period's parameter set; decisions record the version they used."""

    period_code: str = Field(pattern=PERIOD_CODE)
    version: int = Field(ge=1)
    parameters: PeriodParameters


class CriteriaRule(StrEnum):
    # P2KP-2 (2002): drop the richest share of kecamatan, keep those whose Pra-KS + KS-I share is high.
    KECAMATAN_WELFARE = "kecamatan-welfare"
    # A list decided elsewhere (TNP2K lokasi letter, a Bupati/Walikota SK Kumuh): nominations are checked
    # against it, nothing is computed.
    DECREED_LIST = "decreed-list"


class CriteriaThresholds(_Closed):
    exclude_richest_pct: int = Field(default=20, ge=0, le=100)
    min_pra_ks_ks1_pct: int = Field(default=30, ge=0, le=100)


@registry.event("p2kp.targeting.targeting-criteria-published.v1")
class TargetingCriteriaPublished(DomainEvent):
    """A version of the rule that selects target locations, with its thresholds and input dataset."""

    period_code: str = Field(pattern=PERIOD_CODE)
    version: int = Field(ge=1)
    rule: CriteriaRule
    thresholds: CriteriaThresholds
    dataset: str = Field(min_length=1, max_length=300, description="input dataset reference, e.g. PODES 2000")


# --- kelurahan sasaran ----------------------------------------------------------------------------------


class KelurahanIndicators(_Closed):
    """The figures a nomination rests on, with where they come from."""

    population: int = Field(ge=0, le=10_000_000)
    households: int = Field(ge=0, le=5_000_000)
    poor_households: int = Field(ge=0, le=5_000_000)
    source: str = Field(min_length=1, max_length=200, description="where the figures come from")

    @model_validator(mode="after")
    def _poor_within_households(self) -> KelurahanIndicators:
        if self.poor_households > self.households:
            raise ValueError(
                f"{self.poor_households} poor households is more than {self.households} households"
            )
        return self

    @property
    def poor_share_pct(self) -> float:
        return 100 * self.poor_households / self.households if self.households else 0.0


@registry.event("p2kp.targeting.kelurahan-nominated.v1")
class KelurahanNominated(DomainEvent):
    """A kelurahan proposed as a target for the period, with its indicators and the region-code vintage."""

    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)
    code_system: str = Field(max_length=40)
    vintage: str = Field(max_length=100)
    indicators: KelurahanIndicators


@registry.event("p2kp.targeting.kelurahan-verified.v1")
class KelurahanVerified(DomainEvent):
    """A named verifier found the kelurahan meets the criteria version."""

    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)
    verifier: str = Field(min_length=1, max_length=200)
    criteria_version: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=1000)


@registry.event("p2kp.targeting.kelurahan-rejected.v1")
class KelurahanRejected(DomainEvent):
    """A named verifier found the kelurahan does not meet the criteria version (it may be nominated again)."""

    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)
    verifier: str = Field(min_length=1, max_length=200)
    criteria_version: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=1000)


@registry.event("p2kp.targeting.kelurahan-confirmed.v1")
class KelurahanConfirmed(DomainEvent):
    """The pemda (city government) confirmed the kelurahan as a target for the period."""

    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)
    letter: str = Field(min_length=1, max_length=200, description="the pemda's letter or SK reference")


@registry.event("p2kp.targeting.kelurahan-dropped.v1")
class KelurahanDropped(DomainEvent):
    """The kelurahan is no longer a target for the period."""

    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)
    reason: str = Field(min_length=1, max_length=1000)
