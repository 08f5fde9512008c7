"""A revolving loan to a KSM ekonomi: approval against its published eligibility, disbursement with a
generated schedule, repayments allocated fee first, then overdue principal, then current principal,
prepayment, rescheduling, write-off; and its arrears and collectibility as of any date.

Every loan event carries its effective date, and those dates never go backwards within a loan: the loan
as of a day is then exactly the prefix of its events up to that day (``as_of``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from services.ledger.accounts import entry, reversal
from shared.aggregate import Aggregate
from shared.contracts.ledger import (
    Allocation,
    EligibilityAtApproval,
    Instalment,
    LoanApproved,
    LoanDisbursed,
    LoanRescheduled,
    LoanWrittenOff,
    RepaymentReceived,
    RepaymentReversed,
)
from shared.contracts.targeting import LoanRules
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import DomainEvent

ARREARS_INSTALMENTS = 3  # "3 bulan kali": the POB 2013 threshold for LAR, PAR and RR


class Status(StrEnum):
    NONE = "none"
    APPROVED = "approved"
    DISBURSED = "disbursed"
    REPAID = "repaid"
    WRITTEN_OFF = "written off"


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def make_schedule(
    principal: int, term: int, fee_bps: int, start: date, first_number: int = 1
) -> tuple[Instalment, ...]:
    """Equal monthly principal (the last instalment takes the remainder) and a flat fee on ``principal``."""
    base = principal // term
    fee = principal * fee_bps // 10_000
    return tuple(
        Instalment(
            number=first_number + k,
            due_on=add_months(start, k + 1),
            principal_rupiah=base if k < term - 1 else principal - base * (term - 1),
            fee_rupiah=fee,
        )
        for k in range(term)
    )


def per_member_ceiling(rules: LoanRules, cycle: int) -> int:
    """From the first ceiling in cycle 1 up to the graduation ceiling in the graduation cycle."""
    if rules.graduation_cycles == 1:
        return rules.graduation_ceiling_rupiah
    step = (rules.graduation_ceiling_rupiah - rules.first_ceiling_rupiah) * (cycle - 1)
    return rules.first_ceiling_rupiah + step // (rules.graduation_cycles - 1)


@dataclass
class Due:
    """One instalment as it stands: what was due and what has been paid of it."""

    number: int
    due_on: date
    principal: int
    fee: int
    paid_principal: int = 0
    paid_fee: int = 0

    @property
    def settled(self) -> bool:
        return self.paid_principal >= self.principal and self.paid_fee >= self.fee


@dataclass(frozen=True)
class Position:
    """A loan's standing on a day: what the indicators and the collectibility are computed from."""

    loan_id: uuid.UUID
    ksm_id: uuid.UUID
    outstanding: int
    instalments_overdue: int
    days_overdue: int
    kol: int
    reserve: int


@dataclass
class Loan(Aggregate):
    loan_id: uuid.UUID
    approved: LoanApproved | None = None
    status: Status = Status.NONE
    disbursed_on: date | None = None
    schedule: list[Due] = field(default_factory=list)
    repayments: dict[uuid.UUID, RepaymentReceived] = field(default_factory=dict)
    by_key: dict[str, uuid.UUID] = field(default_factory=dict)
    reversed: set[uuid.UUID] = field(default_factory=set)
    written_off: int = 0
    last_on: date | None = None  # the latest effective date of any event
    history: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def stream(self) -> str:
        return f"loan-{self.loan_id}"

    @property
    def city_code(self) -> str | None:
        return self.approved.kelurahan_code[:5] if self.approved else None

    @property
    def book(self) -> str:
        assert self.approved is not None
        return self.approved.kelurahan_code

    @property
    def label(self) -> str:
        return f"Loan {self.loan_id}"

    @property
    def principal(self) -> int:
        return self.approved.principal_rupiah if self.approved else 0

    @property
    def repaid_principal(self) -> int:
        return sum(d.paid_principal for d in self.schedule)

    @property
    def outstanding(self) -> int:
        if self.status in (Status.NONE, Status.APPROVED):
            return 0
        return self.principal - self.repaid_principal - self.written_off

    def _ids(self) -> dict[str, Any]:
        assert self.approved is not None
        a = self.approved
        return {
            "period_code": a.period_code,
            "kelurahan_code": a.kelurahan_code,
            "loan_id": self.loan_id,
            "ksm_id": a.ksm_id,
        }

    def _dated(self, day: date, what: str) -> None:
        if self.last_on is not None and day < self.last_on:
            raise InvalidInput(
                f"The {what} date {day} is before the loan's last recorded event ({self.last_on}); "
                "record a loan's events in date order."
            )

    def _expect(self, *states: Status, doing: str) -> None:
        if self.status not in states:
            raise Conflict(f"{self.label} is {self.status}; it cannot {doing}.")

    # --- commands -------------------------------------------------------------------------------------

    def approve(
        self,
        *,
        period_code: str,
        kelurahan_code: str,
        ksm_id: uuid.UUID,
        principal: int,
        term_months: int,
        approved_on: date,
        decision: str,
        eligibility: EligibilityAtApproval,
        unmet: list[str],
        loan_cycle: int,
        rules: LoanRules,
        parameters_version: int,
    ) -> None:
        if self.exists:
            raise Conflict(f"{self.label} already exists.")
        if not eligibility.eligible:
            raise Conflict(
                f"KSM {ksm_id} is not eligible for a revolving loan: "
                f"{'; '.join(unmet) or 'see its eligibility'}."
            )
        if loan_cycle > rules.graduation_cycles:
            raise Conflict(
                f"KSM {ksm_id} has had {loan_cycle - 1} loans, the most the revolving fund gives "
                f"({rules.graduation_cycles}); refer it to a formal financial institution."
            )
        if not rules.term_months_min <= term_months <= rules.term_months_max:
            raise InvalidInput(
                f"A loan's term is {rules.term_months_min} to {rules.term_months_max} months; "
                f"{term_months} asked."
            )
        ceiling = eligibility.members * per_member_ceiling(rules, loan_cycle)
        if principal > ceiling:
            raise InvalidInput(
                f"Rp{principal:,} is more than the ceiling of Rp{ceiling:,} for this KSM's loan cycle "
                f"{loan_cycle} ({eligibility.members} members x Rp{per_member_ceiling(rules, loan_cycle):,})."
            )
        self._trigger(
            LoanApproved(
                period_code=period_code,
                kelurahan_code=kelurahan_code,
                loan_id=self.loan_id,
                ksm_id=ksm_id,
                principal_rupiah=principal,
                term_months=term_months,
                fee_bps_per_month=rules.fee_bps_per_month,
                loan_cycle=loan_cycle,
                ceiling_rupiah=ceiling,
                approved_on=approved_on,
                decision=decision,
                eligibility=eligibility,
                parameters_version=parameters_version,
            )
        )

    def disburse(self, disbursed_on: date) -> None:
        self._expect(Status.APPROVED, doing="be disbursed")
        assert self.approved is not None
        self._dated(disbursed_on, "disbursement")
        a = self.approved
        self._trigger(
            LoanDisbursed(
                **self._ids(),
                disbursed_on=disbursed_on,
                schedule=make_schedule(a.principal_rupiah, a.term_months, a.fee_bps_per_month, disbursed_on),
                entry=entry(
                    self.book,
                    disbursed_on,
                    f"Pencairan pinjaman {self.loan_id} ke KSM {a.ksm_id}",
                    debit={f"loans-receivable:{a.ksm_id}": a.principal_rupiah},
                    credit={"bank": a.principal_rupiah},
                ),
            )
        )

    def allocate(self, amount: int, paid_on: date) -> Allocation:
        """How ``amount`` paid on ``paid_on`` is split; InvalidInput if it is more than is owed then."""
        owed = self.owed(paid_on)
        fee = min(amount, owed.fee_rupiah)
        overdue = min(amount - fee, owed.principal_overdue_rupiah)
        current = amount - fee - overdue
        if current > owed.principal_current_rupiah:
            payoff = owed.fee_rupiah + owed.principal_overdue_rupiah + owed.principal_current_rupiah
            raise InvalidInput(f"Rp{amount:,} is more than {self.label} owes on {paid_on}: Rp{payoff:,}.")
        return Allocation(fee_rupiah=fee, principal_overdue_rupiah=overdue, principal_current_rupiah=current)

    def owed(self, on: date) -> Allocation:
        """Fees due by ``on``, principal due by ``on``, and principal not yet due."""
        return Allocation(
            fee_rupiah=sum(d.fee - d.paid_fee for d in self.schedule if d.due_on <= on),
            principal_overdue_rupiah=sum(
                d.principal - d.paid_principal for d in self.schedule if d.due_on <= on
            ),
            principal_current_rupiah=sum(
                d.principal - d.paid_principal for d in self.schedule if d.due_on > on
            ),
        )

    def repay(self, amount: int, paid_on: date, idempotency_key: str) -> RepaymentReceived | None:
        """Book a repayment. A retry with the same key and the same amount and date books nothing and
        returns the repayment booked first; the same key with other figures is a 409."""
        if (earlier := self.by_key.get(idempotency_key)) is not None:
            booked = self.repayments[earlier]
            if (booked.amount_rupiah, booked.paid_on) != (amount, paid_on):
                raise Conflict(
                    f"Idempotency key {idempotency_key!r} was used for another repayment "
                    f"(Rp{booked.amount_rupiah:,} on {booked.paid_on}); use a new key for a new repayment."
                )
            return None
        self._expect(Status.DISBURSED, doing="take a repayment")
        self._dated(paid_on, "repayment")
        allocation = self.allocate(amount, paid_on)
        assert self.approved is not None
        principal = allocation.principal_overdue_rupiah + allocation.principal_current_rupiah
        receivable = f"loans-receivable:{self.approved.ksm_id}"
        event = RepaymentReceived(
            **self._ids(),
            repayment_id=uuid.uuid4(),
            idempotency_key=idempotency_key,
            amount_rupiah=amount,
            paid_on=paid_on,
            allocation=allocation,
            entry=entry(
                self.book,
                paid_on,
                f"Angsuran pinjaman {self.loan_id}",
                debit={"bank": amount},
                credit={"fee-income": allocation.fee_rupiah, receivable: principal},
            ),
        )
        self._trigger(event)
        return event

    def payoff(self, on: date) -> int:
        owed = self.owed(on)
        return owed.fee_rupiah + owed.principal_overdue_rupiah + owed.principal_current_rupiah

    def reverse_repayment(self, repayment_id: uuid.UUID, on: date, reason: str) -> None:
        booked = self.repayments.get(repayment_id)
        if booked is None:
            raise NotFound(f"{self.label} has no repayment {repayment_id}.")
        if repayment_id in self.reversed:
            raise Conflict(f"Repayment {repayment_id} was already reversed.")
        later = [
            r
            for r in self.repayments.values()
            if r.paid_on > booked.paid_on and r.repayment_id not in self.reversed
        ]
        if later:
            raise Conflict(
                f"Repayment {repayment_id} has later repayments; reverse those first, newest first, so every "
                "allocation stays fee first, then overdue, then current."
            )
        self._expect(Status.DISBURSED, Status.REPAID, doing="have a repayment reversed")
        self._dated(on, "reversal")
        self._trigger(
            RepaymentReversed(
                **self._ids(),
                repayment_id=repayment_id,
                reason=reason,
                reversed_on=on,
                entry=reversal(booked.entry, on, f"Koreksi angsuran: {reason}"),
            )
        )

    def reschedule(self, term_months: int, on: date, approval: str, rules: LoanRules) -> None:
        self._expect(Status.DISBURSED, doing="be rescheduled")
        self._dated(on, "rescheduling")
        if not 1 <= term_months <= rules.term_months_max:
            raise InvalidInput(f"A new term is 1 to {rules.term_months_max} months; {term_months} asked.")
        assert self.approved is not None
        # Instalments already due keep their fees; every instalment keeps what was paid of its principal
        # (so nothing paid is lost); the principal still owed is spread over new instalments, with the
        # loan's flat fee on it.
        kept = [
            Instalment(
                number=d.number,
                due_on=d.due_on,
                principal_rupiah=d.paid_principal,
                fee_rupiah=d.fee if d.due_on <= on else 0,
            )
            for d in self.schedule
            if d.due_on <= on or d.paid_principal > 0
        ]
        first = max((d.number for d in self.schedule), default=0) + 1
        new = make_schedule(self.outstanding, term_months, self.approved.fee_bps_per_month, on, first)
        self._trigger(
            LoanRescheduled(
                **self._ids(),
                rescheduled_on=on,
                approval=approval,
                carried_over=len(kept),
                schedule=(*kept, *new),
            )
        )

    def write_off(self, on: date, approval: str, reason: str) -> None:
        self._expect(Status.DISBURSED, doing="be written off")
        self._dated(on, "write-off")
        assert self.approved is not None
        amount = self.outstanding
        self._trigger(
            LoanWrittenOff(
                **self._ids(),
                written_off_on=on,
                approval=approval,
                reason=reason,
                principal_rupiah=amount,
                entry=entry(
                    self.book,
                    on,
                    f"Penghapusan pinjaman {self.loan_id}: {reason}"[:300],
                    debit={"write-offs": amount},
                    credit={f"loans-receivable:{self.approved.ksm_id}": amount},
                ),
            )
        )

    # --- as of a day ---------------------------------------------------------------------------------------

    def as_of(self, day: date) -> Loan:
        """The loan as it stood at the end of ``day``."""
        return Loan(self.loan_id).replay([e for e in self.history if _effective(e) <= day])

    def position(self, day: date, rules: LoanRules) -> Position:
        then = self.as_of(day)
        # A loan repaid (early, its fees not yet due waived) or written off owes nothing more.
        running = then.status is Status.DISBURSED
        unpaid = [d for d in then.schedule if running and d.due_on < day and not d.settled]
        days = (day - min(d.due_on for d in unpaid)).days if unpaid else 0
        kol = 1 + sum(days > limit for limit in rules.collectibility_days)
        outstanding = then.outstanding
        assert self.approved is not None
        return Position(
            loan_id=self.loan_id,
            ksm_id=self.approved.ksm_id,
            outstanding=outstanding,
            instalments_overdue=len(unpaid),
            days_overdue=days,
            kol=kol,
            reserve=outstanding * rules.reserve_pct[kol - 1] // 100,
        )

    # --- events ---------------------------------------------------------------------------------------

    def _apply(self, event: DomainEvent) -> None:
        self.history.append(event)
        self.last_on = max(self.last_on or date.min, _effective(event))
        match event:
            case LoanApproved():
                self.approved, self.status = event, Status.APPROVED
            case LoanDisbursed(disbursed_on=day, schedule=schedule):
                self.disbursed_on, self.status = day, Status.DISBURSED
                self.schedule = [Due(i.number, i.due_on, i.principal_rupiah, i.fee_rupiah) for i in schedule]
            case RepaymentReceived():
                self.repayments[event.repayment_id] = event
                self.by_key[event.idempotency_key] = event.repayment_id
                self._spread(event.allocation, event.paid_on, +1)
            case RepaymentReversed(repayment_id=repayment_id):
                self.reversed.add(repayment_id)
                booked = self.repayments[repayment_id]
                self._spread(booked.allocation, booked.paid_on, -1)
                self.status = Status.DISBURSED
            case LoanRescheduled(schedule=schedule, carried_over=carried):
                paid_fees = {d.number: d.paid_fee for d in self.schedule}
                self.schedule = [
                    Due(
                        i.number,
                        i.due_on,
                        i.principal_rupiah,
                        i.fee_rupiah,
                        i.principal_rupiah,
                        paid_fees[i.number],
                    )
                    for i in schedule[:carried]
                ] + [Due(i.number, i.due_on, i.principal_rupiah, i.fee_rupiah) for i in schedule[carried:]]
            case LoanWrittenOff(principal_rupiah=amount):
                self.written_off += amount
                self.status = Status.WRITTEN_OFF

    def _spread(self, allocation: Allocation, paid_on: date, sign: int) -> None:
        """Put an allocation onto the instalments (or take it back off, newest first, for a reversal)."""
        order = self.schedule if sign > 0 else list(reversed(self.schedule))
        fee, overdue, current = (
            allocation.fee_rupiah,
            allocation.principal_overdue_rupiah,
            allocation.principal_current_rupiah,
        )
        for d in order:
            if d.due_on <= paid_on:
                take = min(fee, d.fee - d.paid_fee) if sign > 0 else min(fee, d.paid_fee)
                d.paid_fee += sign * take
                fee -= take
        for d in order:
            if d.due_on <= paid_on:
                take = (
                    min(overdue, d.principal - d.paid_principal)
                    if sign > 0
                    else min(overdue, d.paid_principal)
                )
                d.paid_principal += sign * take
                overdue -= take
            else:
                take = (
                    min(current, d.principal - d.paid_principal)
                    if sign > 0
                    else min(current, d.paid_principal)
                )
                d.paid_principal += sign * take
                current -= take
        if sign > 0 and self.principal and self.repaid_principal + self.written_off >= self.principal:
            self.status = Status.REPAID


def _effective(event: DomainEvent) -> date:
    for name in ("approved_on", "disbursed_on", "paid_on", "reversed_on", "rescheduled_on", "written_off_on"):
        if (day := getattr(event, name, None)) is not None:
            assert isinstance(day, date)
            return day
    raise AssertionError(f"{type(event).__name__} has no effective date")
