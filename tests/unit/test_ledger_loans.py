"""Revolving loans without a database: the schedule, ceilings, approval, the allocation of repayments
(fee first, then overdue principal, then current principal), idempotent repayments, arrears and
collectibility as of a day, rescheduling, write-off and reversal (reference §3.1, §3.2)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta

import pytest

from services.ledger.loans import (
    Due,
    Loan,
    Status,
    add_months,
    make_schedule,
    per_member_ceiling,
)
from shared.contracts.ledger import (
    Allocation,
    EligibilityAtApproval,
    Instalment,
    JournalEntry,
    Line,
    LoanApproved,
    LoanDisbursed,
    LoanRescheduled,
    LoanWrittenOff,
    RepaymentReceived,
    RepaymentReversed,
)
from shared.contracts.targeting import LoanRules
from shared.errors import Conflict, InvalidInput, NotFound

PERIOD, KELURAHAN = "KOTAKU", "33.74.01.1001"
RULES = LoanRules()
KSM_ID = uuid.UUID("5a1e0000-0000-4000-8000-00000000000a")
LOAN_ID = uuid.UUID("10a40000-0000-4000-8000-000000000001")
APPROVED_ON = date(2026, 1, 10)
# 1,200,000 over 4 months at 1.5 %: 300,000 principal + 18,000 fee, due 10 Feb, 10 Mar, 10 Apr, 10 May.
PRINCIPAL, TERM = 1_200_000, 4
DUE = (date(2026, 2, 10), date(2026, 3, 10), date(2026, 4, 10), date(2026, 5, 10))
RECEIVABLE = f"loans-receivable:{KSM_ID}"


def eligibility(eligible: bool = True, members: int = 5) -> EligibilityAtApproval:
    return EligibilityAtApproval(
        eligible=eligible,
        members=members,
        women_pct=40.0,
        savings_months=4,
        joint_liability_signed_on=date(2025, 12, 1),
        published_event=uuid.UUID("e0e00000-0000-4000-8000-000000000001"),
    )


def approve(
    loan: Loan,
    *,
    principal: int = PRINCIPAL,
    term: int = TERM,
    cycle: int = 1,
    on: date = APPROVED_ON,
    eligible: EligibilityAtApproval | None = None,
    unmet: list[str] | None = None,
    rules: LoanRules = RULES,
) -> None:
    loan.approve(
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        ksm_id=KSM_ID,
        principal=principal,
        term_months=term,
        approved_on=on,
        decision="SK UPK 12/2026",
        eligibility=eligible or eligibility(),
        unmet=unmet or [],
        loan_cycle=cycle,
        rules=rules,
        parameters_version=1,
    )


def committed(loan: Loan) -> Loan:
    """``loan`` rebuilt from all its events, as the next command would load it."""
    return Loan(loan.loan_id).replay(loan.history)


def disbursed(principal: int = PRINCIPAL, term: int = TERM, on: date = APPROVED_ON) -> Loan:
    loan = Loan(LOAN_ID)
    approve(loan, principal=principal, term=term, on=on)
    loan.disburse(on)
    return committed(loan)


def snapshot(loan: Loan) -> list[Due]:
    return [dataclasses.replace(d) for d in loan.schedule]


def paid(loan: Loan) -> list[tuple[int, int]]:
    return [(d.paid_principal, d.paid_fee) for d in loan.schedule]


# --- the schedule and the ceilings -----------------------------------------------------------------------


def test_the_schedule_has_equal_principal_and_the_last_instalment_takes_the_remainder() -> None:
    schedule = make_schedule(1_000_000, 3, 150, date(2026, 1, 10))
    assert schedule == (
        Instalment(number=1, due_on=date(2026, 2, 10), principal_rupiah=333_333, fee_rupiah=15_000),
        Instalment(number=2, due_on=date(2026, 3, 10), principal_rupiah=333_333, fee_rupiah=15_000),
        Instalment(number=3, due_on=date(2026, 4, 10), principal_rupiah=333_334, fee_rupiah=15_000),
    )
    assert sum(i.principal_rupiah for i in schedule) == 1_000_000
    even = make_schedule(1_200_000, 4, 150, date(2026, 1, 10))
    assert [i.principal_rupiah for i in even] == [300_000] * 4
    tiny = make_schedule(5, 3, 150, date(2026, 1, 10), first_number=7)
    assert [(i.number, i.principal_rupiah) for i in tiny] == [(7, 1), (8, 1), (9, 3)]


@pytest.mark.parametrize(
    ("principal", "bps", "fee"),
    [(2_500_000, 150, 37_500), (1_234_567, 150, 18_518), (1_000_000, 0, 0), (3_000_000, 1000, 300_000)],
)
def test_the_fee_is_flat_principal_times_bps_over_ten_thousand_rounded_down(
    principal: int, bps: int, fee: int
) -> None:
    schedule = make_schedule(principal, 6, bps, date(2026, 1, 10))
    assert {i.fee_rupiah for i in schedule} == {fee}
    assert fee == principal * bps // 10_000


def test_due_dates_are_monthly_from_the_start_and_clamped_to_the_month_end() -> None:
    schedule = make_schedule(1_200_000, 4, 150, date(2026, 1, 31))
    # Clamped each month from the start, not carried: February's 28th does not make March the 28th.
    assert [i.due_on for i in schedule] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    assert make_schedule(100, 1, 0, date(2028, 1, 31))[0].due_on == date(2028, 2, 29)  # leap year
    assert [i.due_on for i in make_schedule(300, 3, 0, date(2026, 11, 30))] == [
        date(2026, 12, 30),
        date(2027, 1, 30),
        date(2027, 2, 28),
    ]
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 31), 12) == date(2027, 3, 31)
    assert add_months(date(2026, 5, 31), 0) == date(2026, 5, 31)


def test_the_per_member_ceiling_rises_from_the_first_to_the_graduation_ceiling() -> None:
    assert [per_member_ceiling(RULES, c) for c in (1, 2, 3, 4)] == [
        1_000_000,
        1_666_666,
        2_333_333,
        3_000_000,
    ]
    older = LoanRules(first_ceiling_rupiah=500_000, graduation_ceiling_rupiah=2_000_000)
    assert [per_member_ceiling(older, c) for c in (1, 2, 3, 4)] == [500_000, 1_000_000, 1_500_000, 2_000_000]
    one_cycle = LoanRules(graduation_cycles=1)
    assert per_member_ceiling(one_cycle, 1) == 3_000_000


# --- approval and disbursement --------------------------------------------------------------------------


def test_an_eligible_ksm_is_approved_within_its_ceiling_with_the_rules_fee() -> None:
    loan = Loan(LOAN_ID)
    approve(loan, principal=5_000_000, cycle=1)  # exactly 5 members x Rp1,000,000
    (event,) = loan.pending
    assert isinstance(event, LoanApproved)
    assert (event.principal_rupiah, event.ceiling_rupiah, event.fee_bps_per_month, event.loan_cycle) == (
        5_000_000,
        5_000_000,
        150,
        1,
    )
    assert event.eligibility == eligibility()
    loaded = committed(loan)
    assert (loaded.status, loaded.principal, loaded.outstanding) == (Status.APPROVED, 5_000_000, 0)
    with pytest.raises(Conflict, match="already exists"):
        approve(loaded)
    second = Loan(uuid.uuid4())
    approve(second, principal=5 * 1_666_666, cycle=2)
    assert second.approved is not None and second.approved.ceiling_rupiah == 5 * 1_666_666


def test_approval_is_refused_when_the_ksm_is_not_eligible_naming_the_unmet_rules() -> None:
    loan = Loan(LOAN_ID)
    unmet = ["at least 5 members (has 4)", "3 months of group savings (has 1)"]
    with pytest.raises(Conflict, match="not eligible") as refused:
        approve(loan, eligible=eligibility(eligible=False, members=4), unmet=unmet)
    assert all(rule in refused.value.detail for rule in unmet)
    assert loan.pending == [] and not loan.exists


def test_approval_beyond_the_graduation_cycles_refers_the_ksm_to_a_formal_institution() -> None:
    loan = Loan(LOAN_ID)
    with pytest.raises(Conflict, match="formal financial institution") as refused:
        approve(loan, cycle=RULES.graduation_cycles + 1)
    assert "has had 4 loans" in refused.value.detail
    assert loan.pending == []
    approve(loan, cycle=RULES.graduation_cycles, principal=15_000_000)  # the last cycle, at its ceiling
    assert len(loan.pending) == 1


@pytest.mark.parametrize("term", [0, 2, 13, 60])
def test_a_term_out_of_range_is_invalid(term: int) -> None:
    loan = Loan(LOAN_ID)
    with pytest.raises(InvalidInput, match=f"3 to 12 months; {term} asked"):
        approve(loan, term=term)
    assert loan.pending == []


@pytest.mark.parametrize(("cycle", "principal"), [(1, 5_000_001), (2, 5 * 1_666_666 + 1), (4, 15_000_001)])
def test_a_principal_over_the_ceiling_is_invalid(cycle: int, principal: int) -> None:
    loan = Loan(LOAN_ID)
    with pytest.raises(InvalidInput, match="more than the ceiling"):
        approve(loan, principal=principal, cycle=cycle)
    assert loan.pending == []


def test_disbursement_books_the_receivable_and_generates_the_schedule() -> None:
    loan = Loan(LOAN_ID)
    approve(loan)
    with pytest.raises(InvalidInput, match="before the loan's last recorded event"):
        loan.disburse(APPROVED_ON - timedelta(days=1))
    loan = committed(loan)
    with pytest.raises(Conflict, match="cannot take a repayment"):
        loan.repay(10_000, APPROVED_ON, "too-early")
    loan.disburse(APPROVED_ON)
    (event,) = loan.pending
    assert isinstance(event, LoanDisbursed)
    assert event.schedule == make_schedule(PRINCIPAL, TERM, 150, APPROVED_ON)
    assert event.entry.lines == (
        Line(account=RECEIVABLE, debit=PRINCIPAL),
        Line(account="bank", credit=PRINCIPAL),
    )
    assert event.entry.book == KELURAHAN and event.entry.posted_on == APPROVED_ON
    again = committed(loan)
    assert (again.status, again.outstanding, tuple(d.due_on for d in again.schedule)) == (
        Status.DISBURSED,
        PRINCIPAL,
        DUE,
    )
    with pytest.raises(Conflict, match="cannot be disbursed"):
        again.disburse(APPROVED_ON)


# --- repayments ------------------------------------------------------------------------------------------


def test_a_repayment_goes_to_fees_first_then_overdue_then_current_principal() -> None:
    loan = disbursed()
    paid_on = date(2026, 3, 15)  # two instalments due: fees 36,000, overdue principal 600,000
    assert loan.owed(paid_on) == Allocation(
        fee_rupiah=36_000, principal_overdue_rupiah=600_000, principal_current_rupiah=600_000
    )
    assert loan.payoff(paid_on) == 1_236_000
    event = loan.repay(700_000, paid_on, "kwitansi-001")
    assert event is not None
    assert event.allocation == Allocation(
        fee_rupiah=36_000, principal_overdue_rupiah=600_000, principal_current_rupiah=64_000
    )
    assert event.entry.lines == (
        Line(account="bank", debit=700_000),
        Line(account="fee-income", credit=36_000),
        Line(account=RECEIVABLE, credit=664_000),
    )
    assert paid(loan) == [(300_000, 18_000), (300_000, 18_000), (64_000, 0), (0, 0)]
    assert (loan.repaid_principal, loan.outstanding) == (664_000, 536_000)
    assert paid(committed(loan)) == paid(loan)


def test_small_repayments_fill_the_oldest_fees_and_then_the_oldest_overdue_principal() -> None:
    loan = disbursed()
    first = loan.repay(20_000, date(2026, 3, 15), "k1")
    assert first is not None and first.allocation == Allocation(
        fee_rupiah=20_000, principal_overdue_rupiah=0, principal_current_rupiah=0
    )
    assert first.entry.lines == (
        Line(account="bank", debit=20_000),
        Line(account="fee-income", credit=20_000),
    )
    assert paid(loan) == [(0, 18_000), (0, 2_000), (0, 0), (0, 0)]
    second = loan.repay(30_000, date(2026, 3, 16), "k2")
    assert second is not None and second.allocation == Allocation(
        fee_rupiah=16_000, principal_overdue_rupiah=14_000, principal_current_rupiah=0
    )
    assert paid(loan) == [(14_000, 18_000), (0, 18_000), (0, 0), (0, 0)]
    # Before any instalment is due, everything paid is current principal, oldest instalment first.
    early = disbursed()
    prepaid = early.repay(450_000, date(2026, 1, 20), "early")
    assert prepaid is not None and prepaid.allocation == Allocation(
        fee_rupiah=0, principal_overdue_rupiah=0, principal_current_rupiah=450_000
    )
    assert paid(early) == [(300_000, 0), (150_000, 0), (0, 0), (0, 0)]


def test_paying_more_than_is_owed_is_invalid_and_books_nothing() -> None:
    loan = disbursed()
    paid_on = date(2026, 3, 15)
    with pytest.raises(InvalidInput, match=r"more than .* owes on 2026-03-15: Rp1,236,000"):
        loan.repay(1_236_001, paid_on, "too-much")
    assert loan.pending == [] and loan.by_key == {}
    event = loan.repay(1_236_000, paid_on, "payoff")
    assert event is not None
    assert (loan.status, loan.outstanding, loan.repaid_principal) == (Status.REPAID, 0, PRINCIPAL)
    assert committed(loan).status is Status.REPAID
    with pytest.raises(Conflict, match="cannot take a repayment"):
        loan.repay(1, paid_on, "after-payoff")


def test_a_retried_repayment_books_nothing_and_a_reused_key_is_a_conflict() -> None:
    loan = disbursed()
    first = loan.repay(100_000, date(2026, 2, 12), "kwitansi-7")
    assert first is not None
    assert loan.repay(100_000, date(2026, 2, 12), "kwitansi-7") is None
    assert loan.pending == [first]
    loaded = committed(loan)
    before = (snapshot(loaded), loaded.version)
    assert loaded.repay(100_000, date(2026, 2, 12), "kwitansi-7") is None
    assert loaded.pending == [] and (snapshot(loaded), loaded.version) == before
    with pytest.raises(Conflict, match="'kwitansi-7' was used for another repayment"):
        loaded.repay(100_001, date(2026, 2, 12), "kwitansi-7")
    with pytest.raises(Conflict, match="Rp100,000 on 2026-02-12"):
        loaded.repay(100_000, date(2026, 2, 13), "kwitansi-7")
    assert loaded.pending == []


def test_repayments_out_of_date_order_are_invalid() -> None:
    loan = disbursed()
    assert loan.repay(50_000, date(2026, 3, 15), "a") is not None
    with pytest.raises(InvalidInput, match="before the loan's last recorded event"):
        loan.repay(50_000, date(2026, 3, 14), "b")
    assert len(loan.pending) == 1
    assert loan.repay(50_000, date(2026, 3, 15), "c") is not None  # the same day is in order


# --- arrears and collectibility -------------------------------------------------------------------------


def test_position_counts_days_from_the_oldest_unpaid_instalment() -> None:
    loan = disbursed()
    on_due = loan.position(DUE[0], RULES)
    assert (on_due.instalments_overdue, on_due.days_overdue, on_due.kol) == (0, 0, 1)  # due, not late
    day_after = loan.position(DUE[0] + timedelta(days=1), RULES)
    assert (day_after.instalments_overdue, day_after.days_overdue, day_after.kol) == (1, 1, 2)
    late = loan.position(date(2026, 4, 15), RULES)
    assert (late.instalments_overdue, late.days_overdue) == (3, (date(2026, 4, 15) - DUE[0]).days)
    assert (late.loan_id, late.ksm_id, late.outstanding) == (LOAN_ID, KSM_ID, PRINCIPAL)

    # The first instalment paid in full (fees of both due, then its principal): days count from the second.
    loan.repay(336_000, date(2026, 3, 15), "k1")
    after = loan.position(date(2026, 4, 15), RULES)
    assert (after.instalments_overdue, after.days_overdue) == (2, (date(2026, 4, 15) - DUE[1]).days)
    # Principal paid but the fee not: the instalment is still in arrears.
    fee_only = disbursed()
    fee_only.repay(300_000, date(2026, 1, 20), "prepay")  # before it was due: all current principal
    unpaid_fee = fee_only.position(date(2026, 2, 20), RULES)
    assert (unpaid_fee.instalments_overdue, unpaid_fee.days_overdue) == (1, 10)


@pytest.mark.parametrize(
    ("days", "kol"),
    [(0, 1), (1, 2), (90, 2), (91, 3), (120, 3), (121, 4), (180, 4), (181, 5), (400, 5)],
)
def test_collectibility_follows_the_days_overdue_limits(days: int, kol: int) -> None:
    assert RULES.collectibility_days == (0, 90, 120, 180)
    principal = 1_234_567
    loan = disbursed(principal=principal)
    day = DUE[0] + timedelta(days=days)
    position = loan.position(day, RULES)
    assert (position.days_overdue, position.kol) == (days, kol)
    assert position.reserve == principal * RULES.reserve_pct[kol - 1] // 100
    assert position.instalments_overdue == sum(d < day for d in DUE)


def test_reserve_is_outstanding_times_the_kol_percentage_rounded_down() -> None:
    loan = disbursed(principal=1_234_567)
    assert loan.position(DUE[0], RULES).reserve == 12_345  # Kol-1: 1 %
    assert loan.position(DUE[0] + timedelta(days=91), RULES).reserve == 185_185  # Kol-3: 15 %
    custom = LoanRules(collectibility_days=(0, 30, 60, 90), reserve_pct=(0, 10, 20, 40, 100))
    position = loan.position(DUE[0] + timedelta(days=31), custom)
    assert (position.kol, position.reserve) == (3, 246_913)


def test_position_as_of_an_earlier_day_ignores_later_repayments() -> None:
    loan = disbursed()
    loan.repay(636_000, date(2026, 3, 15), "k1")  # fees of two + both overdue instalments
    before = loan.position(date(2026, 3, 12), RULES)
    assert (before.outstanding, before.instalments_overdue, before.days_overdue, before.kol) == (
        PRINCIPAL,
        2,
        30,
        2,
    )
    after = loan.position(date(2026, 3, 16), RULES)
    assert (after.outstanding, after.instalments_overdue, after.days_overdue, after.kol) == (600_000, 0, 0, 1)
    assert loan.as_of(date(2026, 3, 14)).outstanding == PRINCIPAL
    assert loan.as_of(date(2026, 3, 15)).outstanding == 600_000
    assert loan.as_of(APPROVED_ON - timedelta(days=1)).status is Status.NONE
    # the aggregate itself is untouched by looking back
    assert (loan.outstanding, len(loan.history)) == (600_000, 3)


def test_a_loan_paid_off_on_its_last_due_date_is_current_afterwards() -> None:
    loan = disbursed()
    for n, day in enumerate(DUE):
        loan.repay(318_000, day, f"k{n}")
    assert loan.status is Status.REPAID
    position = loan.position(date(2027, 1, 1), RULES)
    assert (position.outstanding, position.instalments_overdue, position.kol, position.reserve) == (
        0,
        0,
        1,
        0,
    )


def test_a_loan_paid_off_early_is_not_in_arrears_afterwards() -> None:
    loan = disbursed()
    payoff = loan.payoff(date(2026, 1, 20))
    assert payoff == PRINCIPAL  # nothing due yet: the payoff is the principal
    loan.repay(payoff, date(2026, 1, 20), "payoff")
    assert (loan.status, loan.outstanding) == (Status.REPAID, 0)
    position = loan.position(date(2026, 9, 1), RULES)
    assert (position.instalments_overdue, position.days_overdue, position.kol) == (0, 0, 1)


# --- rescheduling, write-off, reversal ------------------------------------------------------------------


def test_rescheduling_keeps_what_was_paid_and_spreads_the_outstanding() -> None:
    loan = disbursed()
    loan.repay(336_000, date(2026, 3, 15), "k1")  # fees of #1 and #2, principal of #1
    loan.reschedule(6, date(2026, 3, 20), "SK UPK 30/2026", RULES)
    event = loan.pending[-1]
    assert isinstance(event, LoanRescheduled)
    assert event.carried_over == 2
    assert event.schedule[:2] == (
        Instalment(number=1, due_on=DUE[0], principal_rupiah=300_000, fee_rupiah=18_000),
        Instalment(number=2, due_on=DUE[1], principal_rupiah=0, fee_rupiah=18_000),
    )
    new = event.schedule[2:]
    assert [i.number for i in new] == [5, 6, 7, 8, 9, 10]
    assert [i.principal_rupiah for i in new] == [150_000] * 6
    assert {i.fee_rupiah for i in new} == {900_000 * 150 // 10_000}
    assert [i.due_on for i in new] == [add_months(date(2026, 3, 20), k) for k in range(1, 7)]
    for rebuilt in (loan, committed(loan), Loan(LOAN_ID).replay(loan.history)):
        assert (rebuilt.repaid_principal, rebuilt.outstanding, rebuilt.written_off) == (300_000, 900_000, 0)
        assert rebuilt.repaid_principal + rebuilt.outstanding == PRINCIPAL
        assert sum(d.principal for d in rebuilt.schedule) == PRINCIPAL
        assert [(d.paid_principal, d.paid_fee) for d in rebuilt.schedule[:2]] == [
            (300_000, 18_000),
            (0, 18_000),
        ]
    assert loan.payoff(date(2026, 3, 20)) == 900_000
    assert loan.position(date(2026, 4, 1), RULES).instalments_overdue == 0
    before = loan.position(date(2026, 3, 19), RULES)  # the day before: #2's principal was late
    assert (before.instalments_overdue, before.days_overdue) == (1, 9)


def test_rescheduling_is_refused_out_of_order_out_of_range_or_when_not_running() -> None:
    loan = disbursed()
    loan.repay(50_000, date(2026, 3, 15), "k1")
    with pytest.raises(InvalidInput, match="before the loan's last recorded event"):
        loan.reschedule(6, date(2026, 3, 14), "SK", RULES)
    with pytest.raises(InvalidInput, match="1 to 12 months; 13 asked"):
        loan.reschedule(13, date(2026, 3, 15), "SK", RULES)
    assert len(loan.pending) == 1
    fresh = Loan(uuid.uuid4())
    approve(fresh)
    with pytest.raises(Conflict, match="cannot be rescheduled"):
        fresh.reschedule(6, APPROVED_ON, "SK", RULES)


def test_a_write_off_books_the_outstanding_and_leaves_nothing_owed() -> None:
    loan = disbursed()
    loan.repay(336_000, date(2026, 3, 15), "k1")
    loan.write_off(date(2026, 12, 31), "SK BKM 5/2026", "usaha bangkrut")
    event = loan.pending[-1]
    assert isinstance(event, LoanWrittenOff)
    assert event.principal_rupiah == 900_000
    assert event.entry.lines == (
        Line(account="write-offs", debit=900_000),
        Line(account=RECEIVABLE, credit=900_000),
    )
    for rebuilt in (loan, Loan(LOAN_ID).replay(loan.history)):
        assert (rebuilt.status, rebuilt.outstanding, rebuilt.written_off, rebuilt.repaid_principal) == (
            Status.WRITTEN_OFF,
            0,
            900_000,
            300_000,
        )
    with pytest.raises(Conflict, match="cannot be written off"):
        loan.write_off(date(2026, 12, 31), "SK", "again")
    with pytest.raises(Conflict, match="cannot take a repayment"):
        loan.repay(10_000, date(2026, 12, 31), "after")
    assert loan.as_of(date(2026, 12, 30)).outstanding == 900_000


def test_reversing_a_repayment_restores_the_instalments_and_books_the_reverse_entry() -> None:
    loan = disbursed()
    first = loan.repay(100_000, date(2026, 2, 12), "k1")
    before = snapshot(loan)
    second = loan.repay(700_000, date(2026, 3, 15), "k2")
    assert first is not None and second is not None
    with pytest.raises(Conflict, match="has later repayments"):
        loan.reverse_repayment(first.repayment_id, date(2026, 3, 16), "salah ketik")
    with pytest.raises(NotFound, match="has no repayment"):
        loan.reverse_repayment(uuid.uuid4(), date(2026, 3, 16), "x")
    loan.reverse_repayment(second.repayment_id, date(2026, 3, 16), "salah ketik")
    event = loan.pending[-1]
    assert isinstance(event, RepaymentReversed)
    assert event.entry == JournalEntry(
        entry_id=event.entry.entry_id,
        book=KELURAHAN,
        posted_on=date(2026, 3, 16),
        memo="Koreksi angsuran: salah ketik",
        lines=(
            Line(account="bank", credit=700_000),
            Line(account="fee-income", debit=36_000 - 18_000),
            Line(account=RECEIVABLE, debit=700_000 - 18_000),
        ),
        reverses=second.entry.entry_id,
    )
    assert snapshot(loan) == before
    assert snapshot(Loan(LOAN_ID).replay(loan.history)) == before
    assert loan.outstanding == PRINCIPAL - first.allocation.principal_overdue_rupiah
    with pytest.raises(Conflict, match="already reversed"):
        loan.reverse_repayment(second.repayment_id, date(2026, 3, 16), "again")
    # now the first is the latest that stands, and may be reversed
    loan.reverse_repayment(first.repayment_id, date(2026, 3, 16), "juga salah")
    assert paid(loan) == [(0, 0)] * 4 and loan.outstanding == PRINCIPAL


def test_reversing_the_payoff_puts_the_loan_back_to_running() -> None:
    loan = disbursed()
    payoff = loan.repay(loan.payoff(date(2026, 3, 15)), date(2026, 3, 15), "payoff")
    assert payoff is not None and loan.status is Status.REPAID
    loan.reverse_repayment(payoff.repayment_id, date(2026, 3, 20), "cek kosong")
    assert (loan.status, loan.outstanding, paid(loan)) == (Status.DISBURSED, PRINCIPAL, [(0, 0)] * 4)
    written = disbursed()
    repaid = written.repay(10_000, date(2026, 3, 15), "k")
    written.write_off(date(2026, 4, 1), "SK", "macet")
    assert repaid is not None
    with pytest.raises(Conflict, match="cannot have a repayment reversed"):
        written.reverse_repayment(repaid.repayment_id, date(2026, 4, 2), "x")


def test_days_overdue_count_from_the_oldest_due_date_after_a_reschedule_and_reversal() -> None:
    loan = disbursed()
    loan.repay(600_000, date(2026, 1, 20), "r0")  # prepays #1 and #2
    prepaid = loan.repay(300_000, date(2026, 1, 25), "r1")  # prepays #3 (due 10 April)
    assert prepaid is not None
    loan.reschedule(1, date(2026, 1, 30), "SK", RULES)  # the 300,000 left: one instalment due 28 February
    loan.reverse_repayment(prepaid.repayment_id, date(2026, 1, 31), "cek kosong")
    unpaid = sorted(d.due_on for d in loan.schedule if d.paid_principal < d.principal)
    assert unpaid == [date(2026, 2, 28), date(2026, 4, 10)]
    position = loan.position(date(2026, 4, 20), RULES)
    assert position.instalments_overdue == 2
    assert position.days_overdue == (date(2026, 4, 20) - date(2026, 2, 28)).days  # 51, not 10


def test_repayment_and_reversal_events_replay_to_the_same_loan() -> None:
    loan = disbursed()
    events: list[RepaymentReceived | None] = [
        loan.repay(100_000, date(2026, 2, 12), "k1"),
        loan.repay(100_000, date(2026, 2, 12), "k1"),
        loan.repay(400_000, date(2026, 4, 11), "k2"),
    ]
    assert events[1] is None
    rebuilt = Loan(LOAN_ID).replay(loan.history)
    assert (snapshot(rebuilt), rebuilt.outstanding, rebuilt.by_key, rebuilt.last_on) == (
        snapshot(loan),
        loan.outstanding,
        loan.by_key,
        date(2026, 4, 11),
    )
