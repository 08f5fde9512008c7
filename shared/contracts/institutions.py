"""Events published by the institutions service on ``p2kp.institutions.events``: the community cycle of
each kelurahan, its BKM, its KSM and the training of its cadres (reference §2, §9.1).

People appear only as pseudonymous ids: relawan, utusan, BKM members and UP staff by the random
``person_id`` of the institutions service's person register, KSM members by the targeting service's
``household_id``. A person's name never leaves the service's database. Whether a person is a woman is
carried, because the program's rules count women (30 % of BKM members, of a borrowing KSM).
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.contracts import registry
from shared.contracts.targeting import KELURAHAN_CODE, MODULE_CODE, PERIOD_CODE
from shared.events import DomainEvent

PERSON_ID = "a person's pseudonymous id in the institutions service's register (a random UUID v4)"
HOUSEHOLD_ID = "a household's pseudonymous id from the targeting service's PS-2 list"
# "RW 03" or "RW 03 / RT 02": the neighbourhood an utusan represents.
RT_RW = r"^RW \d{2,3}( / RT \d{2,3})?$"
Document = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# The facilitator's staff id or platform account, never a name.
StaffId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")]


class _Closed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Attendance(_Closed):
    men: int = Field(ge=0, le=100_000)
    women: int = Field(ge=0, le=100_000)
    poor_households: int = Field(ge=0, le=100_000, description="poor households (PS-2) represented")

    @property
    def total(self) -> int:
        return self.men + self.women


class Meeting(_Closed):
    """What proves a step happened: when, where, who facilitated, who came, and the minutes."""

    held_on: date
    place: str = Field(min_length=1, max_length=200)
    facilitator: StaffId = Field(description="the facilitator's staff id or platform account")
    attendance: Attendance
    berita_acara: Document = Field(description="the minutes' (berita acara) number")


class _InCycle(DomainEvent):
    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)


# --- the cycle --------------------------------------------------------------------------------------


@registry.event("p2kp.institutions.sosialisasi-awal-held.v1")
class SosialisasiAwalHeld(_InCycle):
    """The cycle's first step; its date is day 0 of year 1. Names the parameter version the cycle uses."""

    meeting: Meeting
    parameters_version: int = Field(ge=1)


class RkmDecision(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@registry.event("p2kp.institutions.rkm-held.v1")
class RkmHeld(_InCycle):
    """The community's readiness meeting; a rejection ends the cycle for the period."""

    meeting: Meeting
    decision: RkmDecision
    request_letter: Document | None = Field(
        default=None, description="on acceptance: the request for technical assistance"
    )


class Person(_Closed):
    person_id: uuid.UUID = Field(description=PERSON_ID)
    woman: bool


@registry.event("p2kp.institutions.relawan-registered.v1")
class RelawanRegistered(_InCycle):
    registered_on: date
    relawan: tuple[Person, ...] = Field(min_length=1, max_length=500)


@registry.event("p2kp.institutions.refleksi-kemiskinan-held.v1")
class RefleksiKemiskinanHeld(_InCycle):
    meeting: Meeting


@registry.event("p2kp.institutions.pemetaan-swadaya-completed.v1")
class PemetaanSwadayaCompleted(_InCycle):
    meeting: Meeting
    ps2_version: int = Field(ge=1, description="the targeting service's published PS-2 list version")


@registry.event("p2kp.institutions.utusan-elected.v1")
class UtusanElected(_InCycle):
    """Stage 1 of a BKM election: one RT/RW elects its utusan warga (delegates)."""

    election: int = Field(ge=1, description="1 for the first election, 2 for the year-4 re-election, ...")
    rt_rw: str = Field(pattern=RT_RW)
    held_on: date
    voters: int = Field(ge=1, le=100_000)
    utusan: tuple[Person, ...] = Field(min_length=1, max_length=50)


class ElectedMember(Person):
    votes: int = Field(ge=0, le=100_000)


@registry.event("p2kp.institutions.bkm-constituted.v1")
class BkmConstituted(_InCycle):
    """Stage 2: the utusan elected the BKM's members by secret ballot; its term starts."""

    election: int = Field(ge=1)
    meeting: Meeting
    ballots_cast: int = Field(ge=1, le=100_000)
    members: tuple[ElectedMember, ...] = Field(min_length=1, max_length=50)
    coordinator: uuid.UUID = Field(description=PERSON_ID)
    anggaran_dasar: Document = Field(description="the BKM's statutes (AD/ART) reference")
    term_starts_on: date
    term_ends_on: date
    women_pct: float = Field(ge=0, le=100)
    women_below_target: bool = Field(description="fewer women than the period's target: allowed, flagged")
    parameters_version: int = Field(ge=1)


@registry.event("p2kp.institutions.bkm-member-replaced.v1")
class BkmMemberReplaced(_InCycle):
    """Pergantian antar waktu (PAW): a member leaves between elections; an utusan of that election joins."""

    election: int = Field(ge=1)
    leaving: uuid.UUID = Field(description=PERSON_ID)
    joining: Person
    reason: str = Field(min_length=1, max_length=500)
    replaced_on: date
    berita_acara: Document


@registry.event("p2kp.institutions.bkm-coordinator-chosen.v1")
class BkmCoordinatorChosen(_InCycle):
    election: int = Field(ge=1)
    coordinator: uuid.UUID = Field(description=PERSON_ID)
    chosen_on: date


class Unit(StrEnum):
    UPK = "UPK"  # finance and revolving loans
    UPL = "UPL"  # environment / infrastructure
    UPS = "UPS"  # social


@registry.event("p2kp.institutions.unit-pengelola-formed.v1")
class UnitPengelolaFormed(_InCycle):
    unit: Unit
    formed_on: date
    sk_number: Document = Field(description="the BKM decree forming the unit")
    staff: tuple[uuid.UUID, ...] = Field(min_length=1, max_length=50, description=PERSON_ID)


@registry.event("p2kp.institutions.pjm-approved.v1")
class PjmApproved(_InCycle):
    """A 3-year PJM Pronangkis; ``first_year`` is 1 for the first plan, 4 for the renewal."""

    meeting: Meeting
    first_year: int = Field(ge=1, le=30)
    years: int = Field(ge=1, le=10)
    document: Document


@registry.event("p2kp.institutions.renta-approved.v1")
class RentaApproved(_InCycle):
    year: int = Field(ge=1, le=30, description="the cycle year the annual plan is for")
    approved_on: date
    document: Document


@registry.event("p2kp.institutions.review-partisipatif-held.v1")
class ReviewPartisipatifHeld(_InCycle):
    year: int = Field(ge=2, le=30)
    meeting: Meeting
    findings: str = Field(min_length=1, max_length=2000)


# --- KSM --------------------------------------------------------------------------------------------


class KsmType(StrEnum):
    EKONOMI = "ekonomi"
    LINGKUNGAN = "lingkungan"
    SOSIAL = "sosial"


class Member(_Closed):
    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)
    woman: bool = Field(description="the household's member in the group is a woman")


class _Ksm(DomainEvent):
    ksm_id: uuid.UUID
    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)


@registry.event("p2kp.institutions.ksm-registered.v1")
class KsmRegistered(_Ksm):
    name: str = Field(min_length=1, max_length=200, description="the group's name, e.g. KSM Maju Bersama")
    type: KsmType
    registered_on: date
    members: tuple[Member, ...] = Field(min_length=1, max_length=100)


@registry.event("p2kp.institutions.ksm-member-joined.v1")
class KsmMemberJoined(_Ksm):
    member: Member
    joined_on: date


@registry.event("p2kp.institutions.ksm-member-left.v1")
class KsmMemberLeft(_Ksm):
    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)
    left_on: date
    reason: str = Field(min_length=1, max_length=500)


@registry.event("p2kp.institutions.ksm-member-flagged.v1")
class KsmMemberFlagged(_Ksm):
    """A member's household is no longer on the PS-2 list: kept, but visible and not loan-eligible."""

    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)
    reason: str = Field(min_length=1, max_length=500)


@registry.event("p2kp.institutions.ksm-member-flag-cleared.v1")
class KsmMemberFlagCleared(_Ksm):
    household_id: uuid.UUID = Field(description=HOUSEHOLD_ID)


@registry.event("p2kp.institutions.ksm-savings-recorded.v1")
class KsmSavingsRecorded(_Ksm):
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    amount_rupiah: int = Field(ge=0, le=10_000_000_000)


@registry.event("p2kp.institutions.ksm-joint-liability-recorded.v1")
class KsmJointLiabilityRecorded(_Ksm):
    """The members' signed joint-liability statement (pernyataan tanggung renteng)."""

    signed_on: date
    document: Document
    signatories: int = Field(ge=1, le=100)


@registry.event("p2kp.institutions.ksm-training-recorded.v1")
class KsmTrainingRecorded(_Ksm):
    module_code: str = Field(pattern=MODULE_CODE)
    completed_on: date


class EligibilitySnapshot(_Closed):
    """The facts a loan decision rests on, stored with it by the ledger."""

    members: int
    women: int
    women_pct: float
    members_off_ps2: int
    savings_months: int = Field(description="consecutive months with savings, up to the last recorded")
    joint_liability_signed_on: date | None
    trainings: tuple[str, ...]
    parameters_version: int


@registry.event("p2kp.institutions.ksm-loan-eligibility-changed.v1")
class KsmLoanEligibilityChanged(_Ksm):
    """Published whenever a KSM ekonomi's eligibility for revolving loans, or the list of rules it does
    not meet, changes. The ledger relies on it (and stores the snapshot with a loan decision)."""

    eligible: bool
    unmet: tuple[str, ...] = Field(description="each rule not met, in words; empty when eligible")
    snapshot: EligibilitySnapshot

    @model_validator(mode="after")
    def _eligible_iff_nothing_unmet(self) -> KsmLoanEligibilityChanged:
        if self.eligible == bool(self.unmet):
            raise ValueError("eligible exactly when no rule is unmet")
        return self


# --- cadre training -----------------------------------------------------------------------------------


class Audience(StrEnum):
    RELAWAN = "relawan"
    BKM = "bkm"
    UPK = "upk"
    UPL = "upl"
    UPS = "ups"
    KSM = "ksm"


@registry.event("p2kp.institutions.training-module-added.v1")
class TrainingModuleAdded(DomainEvent):
    """A module of a period's training catalogue; JPL = jam pelajaran, 45 minutes each."""

    period_code: str = Field(pattern=PERIOD_CODE)
    code: str = Field(pattern=MODULE_CODE)
    title: str = Field(min_length=1, max_length=200)
    jpl: int = Field(ge=1, le=500)
    audience: tuple[Audience, ...] = Field(min_length=1, max_length=6)


class TrainerRole(StrEnum):
    FASKEL = "faskel"
    ASKOT = "askot"
    KORKOT = "korkot"
    KMW = "kmw"
    BKM = "bkm"
    UPK = "upk"
    EXTERNAL = "external"


class Participant(_Closed):
    person_id: uuid.UUID = Field(description=PERSON_ID)
    role: Audience


@registry.event("p2kp.institutions.training-delivered.v1")
class TrainingDelivered(DomainEvent):
    training_id: uuid.UUID
    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)
    module_code: str = Field(pattern=MODULE_CODE)
    jpl: int = Field(ge=1, le=500)
    delivered_on: date
    trainer_role: TrainerRole
    participants: tuple[Participant, ...] = Field(min_length=1, max_length=500)
