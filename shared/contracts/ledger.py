"""Events published by the fund ledger on ``p2kp.ledger.events``: BLM allocations and tranches, grants,
revolving loans and the BKM/UPK books (reference §2.5, §3, §5.4).

Every event that moves money carries its balanced journal entry (``entry``): the books are the sum of
those entries, never a separate mutable balance. Amounts are integer rupiah.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.contracts import registry
from shared.contracts.targeting import KELURAHAN_CODE, PERIOD_CODE, FiscalCategory
from shared.events import DomainEvent

Rupiah = Annotated[int, Field(ge=0, le=1_000_000_000_000)]
Positive = Annotated[int, Field(gt=0, le=1_000_000_000_000)]
Document = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# An account of a BKM's chart: a kind, and for per-party accounts the party, e.g. "loans-receivable:<ksm>".
ACCOUNT = r"^[a-z][a-z-]{1,40}(:[A-Za-z0-9-]{1,40})?$"


class _Closed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Line(_Closed):
    account: str = Field(pattern=ACCOUNT)
    debit: Rupiah = 0
    credit: Rupiah = 0

    @model_validator(mode="after")
    def _one_side(self) -> Line:
        if (self.debit > 0) == (self.credit > 0):
            raise ValueError("a line is either a debit or a credit, of a positive amount")
        return self


class JournalEntry(_Closed):
    """A balanced double entry in one BKM's books (the book is its kelurahan)."""

    entry_id: uuid.UUID
    book: str = Field(pattern=KELURAHAN_CODE)
    posted_on: date
    memo: str = Field(min_length=1, max_length=300)
    lines: tuple[Line, ...] = Field(min_length=2, max_length=50)
    reverses: uuid.UUID | None = Field(default=None, description="the entry this one reverses")

    @model_validator(mode="after")
    def _balanced(self) -> JournalEntry:
        debits, credits = sum(x.debit for x in self.lines), sum(x.credit for x in self.lines)
        if debits != credits:
            raise ValueError(f"debits {debits} and credits {credits} differ: an entry must balance")
        return self

    @property
    def amount(self) -> int:
        return sum(x.debit for x in self.lines)


class _InBook(DomainEvent):
    period_code: str = Field(pattern=PERIOD_CODE)
    kelurahan_code: str = Field(pattern=KELURAHAN_CODE)


# --- BLM -------------------------------------------------------------------------------------------------


class Source(StrEnum):
    APBN = "APBN"  # the national budget (the loan or budget reference is recorded)
    DDUB = "DDUB"  # Dana Daerah Urusan Bersama: the city's share
    SWADAYA = "SWADAYA"  # the community's own contribution


class Level(StrEnum):
    """Who verifies a tranche's files, in order (reference §2.3 step 11)."""

    FASKEL = "faskel"
    KORKOT = "korkot"
    SATKER = "satker"  # satker / PPK


class SourceShare(_Closed):
    source: Source
    amount_rupiah: Rupiah
    reference: Document | None = Field(default=None, description="APBN: the loan or budget (DIPA) reference")


@registry.event("p2kp.ledger.blm-allocated.v1")
class BlmAllocated(_InBook):
    """A kelurahan's BLM for one year, split by funding source. DDUB is the city's share by its fiscal
    category, from the period's parameters; tranches split APBN and DDUB by the parameters too."""

    year: int = Field(ge=1990, le=2100)
    fiscal_category: FiscalCategory
    ddub_pct: int = Field(ge=0, le=100)
    sources: tuple[SourceShare, ...] = Field(min_length=1, max_length=3)
    tranche_split_pct: tuple[int, ...] = Field(min_length=1, max_length=6)
    parameters_version: int = Field(ge=1)


class _Tranche(_InBook):
    year: int = Field(ge=1990, le=2100)
    source: Source
    tranche: int = Field(ge=1, le=6)


@registry.event("p2kp.ledger.tranche-requested.v1")
class TrancheRequested(_Tranche):
    amount_rupiah: Positive
    requested_on: date
    document: Document = Field(description="the payment request (PP-BLM)")


@registry.event("p2kp.ledger.tranche-verified.v1")
class TrancheVerified(_Tranche):
    level: Level
    verified_on: date
    verifier: str = Field(min_length=1, max_length=200)


@registry.event("p2kp.ledger.tranche-returned.v1")
class TrancheReturned(_Tranche):
    """A verifier sent the files back: the tranche is requested again once they are fixed."""

    level: Level
    returned_on: date
    reason: str = Field(min_length=1, max_length=500)


@registry.event("p2kp.ledger.tranche-transferred.v1")
class TrancheTransferred(_Tranche):
    transferred_on: date
    reference: Document = Field(description="the transfer order (SP2D) reference")


@registry.event("p2kp.ledger.tranche-received.v1")
class TrancheReceived(_Tranche):
    received_on: date
    entry: JournalEntry


@registry.event("p2kp.ledger.lpj-submitted.v1")
class LpjSubmitted(_Tranche):
    """The BKM's accountability report (LPJ) for a received tranche."""

    submitted_on: date
    document: Document


@registry.event("p2kp.ledger.lpj-accepted.v1")
class LpjAccepted(_Tranche):
    accepted_on: date
    verifier: str = Field(min_length=1, max_length=200)


@registry.event("p2kp.ledger.swadaya-received.v1")
class SwadayaReceived(_InBook):
    year: int = Field(ge=1990, le=2100)
    amount_rupiah: Positive
    received_on: date
    entry: JournalEntry


@registry.event("p2kp.ledger.revolving-fund-capitalised.v1")
class RevolvingFundCapitalised(_InBook):
    """BLM the BKM puts into the UPK's revolving fund: capital the loans are lent from."""

    year: int = Field(ge=1990, le=2100)
    source: Source
    amount_rupiah: Positive
    capitalised_on: date
    entry: JournalEntry


# --- grants --------------------------------------------------------------------------------------------


class _Grant(_InBook):
    grant_id: uuid.UUID
    ksm_id: uuid.UUID


@registry.event("p2kp.ledger.grant-approved.v1")
class GrantApproved(_Grant):
    """A grant (hibah) to a KSM lingkungan or sosial against its approved proposal."""

    proposal: Document
    purpose: str = Field(min_length=1, max_length=500)
    amount_rupiah: Positive
    approved_on: date
    entry: JournalEntry


@registry.event("p2kp.ledger.grant-disbursed.v1")
class GrantDisbursed(_Grant):
    disbursed_on: date
    entry: JournalEntry


@registry.event("p2kp.ledger.grant-lpj-accepted.v1")
class GrantLpjAccepted(_Grant):
    document: Document
    accepted_on: date


# --- revolving loans -------------------------------------------------------------------------------------


class _Loan(_InBook):
    loan_id: uuid.UUID
    ksm_id: uuid.UUID


class Instalment(_Closed):
    number: int = Field(ge=1, le=240)
    due_on: date
    principal_rupiah: Rupiah
    fee_rupiah: Rupiah


class EligibilityAtApproval(_Closed):
    """The KSM's eligibility as the institutions service last published it, kept with the decision."""

    eligible: bool
    members: int
    women_pct: float
    savings_months: int
    joint_liability_signed_on: date | None
    published_event: uuid.UUID = Field(description="the KsmLoanEligibilityChanged event relied on")


@registry.event("p2kp.ledger.loan-approved.v1")
class LoanApproved(_Loan):
    principal_rupiah: Positive
    term_months: int = Field(ge=1, le=60)
    fee_bps_per_month: int = Field(ge=0, le=1000)
    loan_cycle: int = Field(ge=1, le=20, description="1 for the KSM's first loan, 2 for its second, ...")
    ceiling_rupiah: Rupiah = Field(description="members x the per-member ceiling of this loan cycle")
    approved_on: date
    decision: Document = Field(description="the UPK/BKM decision's reference")
    eligibility: EligibilityAtApproval
    parameters_version: int = Field(ge=1)


@registry.event("p2kp.ledger.loan-disbursed.v1")
class LoanDisbursed(_Loan):
    disbursed_on: date
    schedule: tuple[Instalment, ...] = Field(min_length=1, max_length=120)
    entry: JournalEntry


class Allocation(_Closed):
    fee_rupiah: Rupiah
    principal_overdue_rupiah: Rupiah
    principal_current_rupiah: Rupiah


@registry.event("p2kp.ledger.repayment-received.v1")
class RepaymentReceived(_Loan):
    """A repayment, allocated fee first, then overdue principal, then current principal."""

    repayment_id: uuid.UUID
    idempotency_key: str = Field(min_length=1, max_length=100)
    amount_rupiah: Positive
    paid_on: date
    allocation: Allocation
    entry: JournalEntry


@registry.event("p2kp.ledger.repayment-reversed.v1")
class RepaymentReversed(_Loan):
    """A repayment booked in error, taken back by a reversing entry."""

    repayment_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)
    reversed_on: date
    entry: JournalEntry


@registry.event("p2kp.ledger.loan-rescheduled.v1")
class LoanRescheduled(_Loan):
    """The outstanding principal spread over a new schedule (fees of the new instalments included)."""

    rescheduled_on: date
    approval: Document
    carried_over: int = Field(
        ge=0, le=120, description="the first instalments, kept with what was paid of them; the rest are new"
    )
    schedule: tuple[Instalment, ...] = Field(min_length=1, max_length=240)


@registry.event("p2kp.ledger.loan-written-off.v1")
class LoanWrittenOff(_Loan):
    written_off_on: date
    approval: Document
    reason: str = Field(min_length=1, max_length=500)
    principal_rupiah: Positive
    entry: JournalEntry


# --- the books ------------------------------------------------------------------------------------------


class EntryKind(StrEnum):
    OPERATING_COST = "operating-cost"  # biaya operasional (BOP)
    OTHER_INCOME = "other-income"
    CAPITAL = "capital"  # capital from another source for the revolving fund
    RESERVE = "reserve"  # loan-loss reserve adjustment
    REVERSAL = "reversal"


@registry.event("p2kp.ledger.entry-posted.v1")
class EntryPosted(_InBook):
    """An entry posted directly to the books (costs, other income, capital, reserve, reversals)."""

    kind: EntryKind
    entry: JournalEntry


class AuditOpinion(StrEnum):
    WTP = "WTP"  # wajar tanpa pengecualian: unqualified
    WDP = "WDP"  # wajar dengan pengecualian: qualified
    TW = "TW"  # tidak wajar: adverse
    TMP = "TMP"  # tidak memberikan pendapat: disclaimer


@registry.event("p2kp.ledger.audit-recorded.v1")
class AuditRecorded(_InBook):
    """An independent audit of the BKM's books for a year (a public accounting firm, KAP)."""

    year: int = Field(ge=1990, le=2100)
    auditor: str = Field(min_length=1, max_length=200)
    opinion: AuditOpinion
    findings: int = Field(ge=0, le=1000)
    report: Document
    audited_on: date


class IndicatorFigure(_Closed):
    value_pct: float | None
    band: str | None


@registry.event("p2kp.ledger.upk-indicators-recorded.v1")
class UpkIndicatorsRecorded(_InBook):
    """The UPK's indicators at a book closing (POB 2013), for the readiness of its city and monitoring."""

    as_of: date
    active_ksm: int = Field(ge=0)
    outstanding_rupiah: Rupiah
    lar: IndicatorFigure
    par: IndicatorFigure
    rr: IndicatorFigure
    ccr: IndicatorFigure
    roi: IndicatorFigure
    par30_pct: float | None
    par90_pct: float | None
