"""Properties of the fund ledger under random sequences of commands, without a database.

A hypothesis state machine drives several revolving loans (approve, disburse, repayments of any amount on
non-decreasing dates, retried repayments, out-of-order repayments, reschedules, reversal of the latest
repayment, write-offs, reloading from the events), a BLM allocation through its tranches, swadaya and
capitalisation, grants, and the BKM's direct entries. After every step it checks that every entry
balances, the whole book sums to zero, loan principal is conserved both in the aggregate and in the
books, a replay of the events rebuilds the same state, and ``as_of`` the last day is the present.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.ledger.accounts import Book, balance
from services.ledger.blm import LEVELS, BlmAllocation, Gates, Stage, split
from services.ledger.grants import Grant
from services.ledger.loans import Loan, Status, add_months, make_schedule, per_member_ceiling
from shared.aggregate import Aggregate
from shared.contracts.institutions import KsmType
from shared.contracts.ledger import (
    EligibilityAtApproval,
    EntryKind,
    EntryPosted,
    JournalEntry,
    Level,
    LoanDisbursed,
    RepaymentReceived,
    Source,
)
from shared.contracts.targeting import DDUB_2012, BlmRules, FiscalCategory, LoanRules
from shared.errors import Conflict, DomainError, InvalidInput
from shared.events import DomainEvent

PERIOD, BOOK, YEAR = "KOTAKU", "33.74.01.1001", 2026
START = date(2026, 1, 5)
RULES, BLM_RULES = LoanRules(), BlmRules()
MAX_LOANS, MAX_RESCHEDULES = 3, 4
CATEGORIES: tuple[FiscalCategory, ...] = ("rendah", "sedang", "tinggi", "sangat_tinggi")

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


def eligibility(members: int) -> EligibilityAtApproval:
    return EligibilityAtApproval(
        eligible=True,
        members=members,
        women_pct=50.0,
        savings_months=6,
        joint_liability_signed_on=date(2025, 12, 1),
        published_event=uuid.uuid4(),
    )


def entries_of(events: Iterable[DomainEvent]) -> list[JournalEntry]:
    found = (getattr(e, "entry", None) for e in events)
    return [e for e in found if isinstance(e, JournalEntry)]


def totals(entries: Iterable[JournalEntry]) -> dict[str, tuple[int, int]]:
    """Debits and credits per account."""
    sums: dict[str, tuple[int, int]] = {}
    for e in entries:
        for line in e.lines:
            debit, credit = sums.get(line.account, (0, 0))
            sums[line.account] = (debit + line.debit, credit + line.credit)
    return sums


def account_balance(sums: dict[str, tuple[int, int]], account: str) -> int:
    return balance(account, *sums.get(account, (0, 0)))


def state(loan: Loan) -> tuple[Any, ...]:
    """Everything a loan decides from, to compare a loan with its replay."""
    return (
        loan.approved,
        loan.status,
        loan.disbursed_on,
        [dataclasses.astuple(d) for d in loan.schedule],
        dict(loan.repayments),
        dict(loan.by_key),
        set(loan.reversed),
        loan.written_off,
        loan.last_on,
        loan.outstanding,
        loan.repaid_principal,
    )


def blm_state(blm: BlmAllocation) -> tuple[Any, ...]:
    return (blm.allocated, blm.tranches, blm.received, blm.capitalised)


class Ledger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loans: list[Loan] = []
        self.loan_events: dict[uuid.UUID, list[DomainEvent]] = {}
        self.ksm_of: dict[uuid.UUID, uuid.UUID] = {}
        self.reschedules: dict[uuid.UUID, int] = {}
        # idempotency key -> (loan index, amount, date) of every repayment booked
        self.booked: dict[str, tuple[int, int, date]] = {}
        # repayment -> (the loan's state before it, how many events the loan had then)
        self.before: dict[uuid.UUID, tuple[tuple[Any, ...], int]] = {}
        self.keys = 0
        self.blm: BlmAllocation | None = None
        self.blm_events: list[DomainEvent] = []
        self.model: dict[tuple[Source, int], dict[str, Any]] = {}
        self.book = Book(BOOK)
        self.book_events: list[DomainEvent] = []
        self.grant_events: list[DomainEvent] = []

    # --- running commands ---------------------------------------------------------------------------

    def run(
        self,
        aggregate: A,
        record: list[DomainEvent],
        command: Callable[[], T],
        expect: type[DomainError] | None = None,
        snapshot: Callable[[], object] | None = None,
    ) -> T | None:
        """Run ``command``; a refusal (of the kind expected) must record nothing and change nothing."""
        before = len(aggregate.pending)
        seen = snapshot() if snapshot else None
        try:
            result = command()
        except DomainError as refused:
            assert expect is not None, f"unexpected refusal: {refused.detail}"
            assert isinstance(refused, expect), f"{type(refused).__name__}, not {expect.__name__}: {refused}"
            assert len(aggregate.pending) == before, "a refused command recorded an event"
            if snapshot:
                assert snapshot() == seen, "a refused command changed the aggregate"
            return None
        assert expect is None, f"expected {expect.__name__}, the command succeeded"
        record.extend(aggregate.pending[before:])
        return result

    def loan(self, index: int, running: bool = True) -> tuple[int, Loan]:
        """The ``index``-th loan; with ``running``, among the disbursed ones if there are any."""
        candidates = [i for i, loan in enumerate(self.loans) if loan.status is Status.DISBURSED]
        if not running or not candidates:
            candidates = list(range(len(self.loans)))
        i = candidates[index % len(candidates)]
        return i, self.loans[i]

    def run_loan(
        self, index: int, command: Callable[[], T], expect: type[DomainError] | None = None
    ) -> T | None:
        loan = self.loans[index]
        return self.run(loan, self.loan_events[loan.loan_id], command, expect, lambda: state(loan))

    def booked_repayment(self, i: int, amount: int, day: date) -> RepaymentReceived | None:
        """Repay ``amount`` on ``day`` (not before the loan's last event) and check how it was allocated."""
        loan = self.loans[i]
        self.keys += 1
        key = f"kwitansi-{self.keys}"
        owed, before = loan.owed(day), state(loan)
        expect: type[DomainError] | None = None
        if loan.status is not Status.DISBURSED:
            expect = Conflict
        elif amount > loan.payoff(day):
            expect = InvalidInput
        event = self.run_loan(i, lambda: loan.repay(amount, day, key), expect)
        if expect is not None:
            assert key not in loan.by_key
            return None
        assert isinstance(event, RepaymentReceived) and event.amount_rupiah == amount
        a = event.allocation
        assert a.fee_rupiah == min(amount, owed.fee_rupiah)
        assert a.principal_overdue_rupiah == min(amount - a.fee_rupiah, owed.principal_overdue_rupiah)
        assert a.principal_current_rupiah == amount - a.fee_rupiah - a.principal_overdue_rupiah
        assert a.principal_current_rupiah <= owed.principal_current_rupiah
        principal = a.principal_overdue_rupiah + a.principal_current_rupiah
        assert loan.outstanding == before[9] - principal
        assert (loan.status is Status.REPAID) == (loan.outstanding == 0)
        self.booked[key] = (i, amount, day)
        self.before[event.repayment_id] = (before, len(self.loan_events[loan.loan_id]) - 1)
        return event

    # --- loans ---------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.loans) < MAX_LOANS)
    @rule(
        members=st.integers(5, 15),
        cycle=st.integers(1, RULES.graduation_cycles),
        share=st.integers(1, 1000),
        term=st.integers(RULES.term_months_min, RULES.term_months_max),
        offset=st.integers(0, 60),
        same_ksm=st.booleans(),
        disburse=st.booleans(),
    )
    def open_loan(
        self, members: int, cycle: int, share: int, term: int, offset: int, same_ksm: bool, disburse: bool
    ) -> None:
        """Approve a loan (for a new KSM, or another loan of a KSM that has one) and perhaps disburse it."""
        ceiling = members * per_member_ceiling(RULES, cycle)
        principal = max(1, ceiling * share // 1000)
        ksm = next(iter(self.ksm_of.values())) if same_ksm and self.ksm_of else uuid.uuid4()
        loan = Loan(uuid.uuid4())
        self.loans.append(loan)
        self.loan_events[loan.loan_id] = []
        self.ksm_of[loan.loan_id] = ksm
        self.reschedules[loan.loan_id] = 0
        day = START + timedelta(days=offset)
        self.run_loan(
            len(self.loans) - 1,
            lambda: loan.approve(
                period_code=PERIOD,
                kelurahan_code=BOOK,
                ksm_id=ksm,
                principal=principal,
                term_months=term,
                approved_on=day,
                decision="SK UPK",
                eligibility=eligibility(members),
                unmet=[],
                loan_cycle=cycle,
                rules=RULES,
                parameters_version=1,
            ),
        )
        assert loan.status is Status.APPROVED and loan.principal == principal
        if disburse:
            self.run_loan(len(self.loans) - 1, lambda: loan.disburse(day))

    @precondition(lambda self: self.loans)
    @rule(which=st.integers(0, MAX_LOANS - 1), gap=st.integers(0, 20))
    def disburse(self, which: int, gap: int) -> None:
        i, loan = self.loan(which, running=False)
        assert loan.last_on is not None
        day = loan.last_on + timedelta(days=gap)
        expect = None if loan.status is Status.APPROVED else Conflict
        self.run_loan(i, lambda: loan.disburse(day), expect)
        if expect is None:
            assert loan.outstanding == loan.principal
            assert sum(d.principal for d in loan.schedule) == loan.principal

    @precondition(lambda self: self.loans)
    @rule(
        which=st.integers(0, MAX_LOANS - 1),
        gap=st.integers(0, 75),
        share=st.one_of(st.just(1000), st.integers(0, 1100)),
        extra=st.integers(0, 2),
        running=st.integers(0, 9),
    )
    def repay(self, which: int, gap: int, share: int, extra: int, running: int) -> None:
        """An amount around the payoff: from a rupiah to a tenth more than is owed (InvalidInput)."""
        i, loan = self.loan(which, running=running > 0)
        assert loan.last_on is not None
        day = loan.last_on + timedelta(days=gap)
        self.booked_repayment(i, max(1, loan.payoff(day) * share // 1000 + extra - 1), day)

    @precondition(lambda self: self.loans)
    @rule(which=st.integers(0, MAX_LOANS - 1), late=st.integers(-5, 100), short=st.integers(0, 3))
    def pay_instalment(self, which: int, late: int, short: int) -> None:
        """What is due, paid around the next instalment's due date (a little short of it, sometimes)."""
        i, loan = self.loan(which)
        assert loan.last_on is not None
        unpaid = [d.due_on for d in loan.schedule if not d.settled]
        day = max(loan.last_on, (min(unpaid) if unpaid else loan.last_on) + timedelta(days=late))
        owed = loan.owed(day)
        amount = owed.fee_rupiah + owed.principal_overdue_rupiah
        amount = amount - amount * short // 10 if amount else 1 + owed.principal_current_rupiah // 4
        self.booked_repayment(i, max(1, amount), day)

    @precondition(lambda self: self.loans)
    @rule(which=st.integers(0, MAX_LOANS - 1), back=st.integers(1, 30), amount=st.integers(1, 100_000))
    def repay_out_of_order(self, which: int, back: int, amount: int) -> None:
        i, loan = self.loan(which)
        assert loan.last_on is not None
        day = loan.last_on - timedelta(days=back)
        self.keys += 1
        key = f"late-{self.keys}"
        expect = InvalidInput if loan.status is Status.DISBURSED else Conflict
        self.run_loan(i, lambda: loan.repay(amount, day, key), expect)

    @precondition(lambda self: self.booked)
    @rule(pick=st.integers(0, 10_000), other=st.sampled_from(["amount", "day", "none"]))
    def retry_repayment(self, pick: int, other: str) -> None:
        """The same key again: with the same figures nothing is booked; with others it is a conflict."""
        key = sorted(self.booked)[pick % len(self.booked)]
        i, amount, day = self.booked[key]
        loan = self.loans[i]
        if other == "none":
            events, seen = len(loan.pending), state(loan)
            assert self.run_loan(i, lambda: loan.repay(amount, day, key)) is None
            assert (len(loan.pending), state(loan)) == (events, seen)
        elif other == "amount":
            self.run_loan(i, lambda: loan.repay(amount + 1, day, key), Conflict)
        else:
            self.run_loan(i, lambda: loan.repay(amount, day + timedelta(days=1), key), Conflict)

    @precondition(lambda self: self.loans)
    @rule(which=st.integers(0, MAX_LOANS - 1), gap=st.integers(0, 60), term=st.integers(0, 13))
    def reschedule(self, which: int, gap: int, term: int) -> None:
        i, loan = self.loan(which)
        if self.reschedules[loan.loan_id] >= MAX_RESCHEDULES:  # the contract's limit on instalment numbers
            return
        assert loan.last_on is not None
        day = loan.last_on + timedelta(days=gap)
        before = (loan.principal, loan.repaid_principal, loan.outstanding, loan.written_off)
        expect: type[DomainError] | None = None
        if loan.status is not Status.DISBURSED:
            expect = Conflict
        elif not 1 <= term <= RULES.term_months_max:
            expect = InvalidInput
        self.run_loan(i, lambda: loan.reschedule(term, day, "SK reschedule", RULES), expect)
        if expect is None:
            self.reschedules[loan.loan_id] += 1
            assert (loan.principal, loan.repaid_principal, loan.outstanding, loan.written_off) == before
            new = [d for d in loan.schedule if d.due_on > day and d.paid_principal == 0]
            assert sum(d.principal for d in new) == loan.outstanding
            assert loan.payoff(day) - loan.outstanding == loan.owed(day).fee_rupiah

    @precondition(lambda self: self.booked)
    @rule(which=st.integers(0, MAX_LOANS - 1), gap=st.integers(0, 20), older=st.integers(0, 3))
    def reverse_latest_repayment(self, which: int, gap: int, older: int) -> None:
        i, loan = self.loan(which, running=False)
        standing = [r for r in loan.repayments.values() if r.repayment_id not in loan.reversed]
        if not standing:
            return
        assert loan.last_on is not None
        day = loan.last_on + timedelta(days=gap)
        latest = max(standing, key=lambda r: r.paid_on)  # the first booked of the latest day
        earlier = [r for r in standing if r.paid_on < latest.paid_on]
        if older == 0 and earlier:
            self.run_loan(i, lambda: loan.reverse_repayment(earlier[0].repayment_id, day, "x"), Conflict)
            return
        expect = Conflict if loan.status is Status.WRITTEN_OFF else None
        outstanding = loan.outstanding
        count = len(self.loan_events[loan.loan_id])
        self.run_loan(i, lambda: loan.reverse_repayment(latest.repayment_id, day, "salah catat"), expect)
        if expect is not None:
            return
        a = latest.allocation
        assert loan.outstanding == outstanding + a.principal_overdue_rupiah + a.principal_current_rupiah
        assert loan.status is Status.DISBURSED
        seen, then = self.before[latest.repayment_id]
        if then == count - 1:  # nothing happened to the loan since: the reversal restores it exactly
            assert [dataclasses.astuple(d) for d in loan.schedule] == seen[3]
            assert loan.outstanding == seen[9]
        self.run_loan(i, lambda: loan.reverse_repayment(latest.repayment_id, day, "again"), Conflict)

    @precondition(lambda self: self.loans)
    @rule(which=st.integers(0, MAX_LOANS - 1), gap=st.integers(0, 400), go=st.integers(0, 2))
    def write_off(self, which: int, gap: int, go: int) -> None:
        i, loan = self.loan(which, running=go > 0)
        assert loan.last_on is not None
        day = loan.last_on + timedelta(days=gap)
        outstanding = loan.outstanding
        expect = None if loan.status is Status.DISBURSED else Conflict
        if expect is None and go < 2:  # write-offs end a loan: most attempts on a running loan are skipped
            return
        self.run_loan(i, lambda: loan.write_off(day, "SK BKM", "macet"), expect)
        if expect is None:
            assert (loan.outstanding, loan.written_off) == (0, outstanding)

    # --- BLM -----------------------------------------------------------------------------------------

    @precondition(lambda self: self.blm is None)
    @rule(
        total=st.integers(1_000_000, 5_000_000_000),
        category=st.sampled_from(CATEGORIES),
        swadaya=st.one_of(st.just(0), st.integers(1, 50_000_000)),
    )
    def allocate_blm(self, total: int, category: FiscalCategory, swadaya: int) -> None:
        blm = BlmAllocation(PERIOD, BOOK, YEAR)
        self.blm = blm
        self.run(blm, self.blm_events, lambda: blm.allocate(total, category, "DIPA", swadaya, BLM_RULES, 1))
        ddub = blm.share(Source.DDUB)
        assert abs(100 * ddub - total * DDUB_2012[category]) <= 50
        assert blm.share(Source.APBN) == total - ddub and blm.share(Source.SWADAYA) == swadaya
        for source in (Source.APBN, Source.DDUB):
            amounts = [blm.tranches[(source, n)].amount for n in (1, 2, 3)]
            assert amounts == split(blm.share(source), BLM_RULES.tranche_split_pct)
            assert sum(amounts) == blm.share(source)
            for n in (1, 2, 3):
                self.model[(source, n)] = {"stage": Stage.NOT_REQUESTED, "verified": 0, "lpj": None}
        self.run(
            blm, self.blm_events, lambda: blm.allocate(total, category, "DIPA", 0, BLM_RULES, 1), Conflict
        )

    def next_step(self, source: Source, sent_back: bool) -> tuple[int, str, Level]:
        """The step that moves ``source``'s tranches on: the first tranche whose LPJ is not accepted."""
        for n in (1, 2, 3):
            m = self.model[(source, n)]
            level = LEVELS[min(m["verified"], len(LEVELS) - 1)]
            if m["stage"] in (Stage.NOT_REQUESTED, Stage.RETURNED):
                return n, "request", level
            if m["stage"] is Stage.REQUESTED:
                return n, "return" if sent_back else "verify", level
            if m["stage"] is Stage.VERIFIED:
                return n, "transfer", level
            if m["stage"] is Stage.TRANSFERRED:
                return n, "receive", level
            if m["lpj"] is None:
                return n, "submit", level
            if m["lpj"] == "submitted":
                return n, "accept", level
        return 3, "accept", LEVELS[0]

    @precondition(lambda self: self.blm is not None)
    @rule(
        source=st.sampled_from([Source.APBN, Source.DDUB]),
        number=st.integers(1, 3),
        action=st.sampled_from(["request", "verify", "return", "transfer", "receive", "submit", "accept"]),
        level=st.sampled_from(list(Level)),
        gates=st.tuples(st.booleans(), st.booleans(), st.booleans()),
        day=st.integers(0, 365),
        way=st.integers(0, 9),
        steps=st.integers(1, 8),
    )
    def tranche_step(
        self,
        source: Source,
        number: int,
        action: str,
        level: Level,
        gates: tuple[bool, bool, bool],
        day: int,
        way: int,
        steps: int,
    ) -> None:
        """Mostly the next ``steps`` steps of a source's tranches (gates open, sometimes returned files);
        sometimes any one step, with any gates."""
        if way < 2:
            self.tranche_command(source, number, action, level, gates, day)
            return
        for k in range(steps):
            number, action, level = self.next_step(source, sent_back=way == 2 and k == 0)
            self.tranche_command(source, number, action, level, (True, True, True) if way > 3 else gates, day)

    def tranche_command(
        self, source: Source, number: int, action: str, level: Level, gates: tuple[bool, bool, bool], day: int
    ) -> None:
        """Run one tranche command, expecting what the model of the tranches allows, and follow it."""
        blm = self.blm
        assert blm is not None
        on = date(YEAR, 1, 1) + timedelta(days=day)
        m = self.model[(source, number)]
        stage, lpj = m["stage"], m["lpj"]
        in_verification = stage is Stage.REQUESTED and level is LEVELS[m["verified"]]
        missing: list[str] = []
        if number == 1:
            missing = [name for name, ok in zip(("BKM", "PJM", "Renta"), gates, strict=True) if not ok]
        elif self.model[(source, number - 1)]["lpj"] != "accepted":
            missing = ["LPJ"]
        allowed = {
            "request": stage in (Stage.NOT_REQUESTED, Stage.RETURNED) and not missing,
            "verify": in_verification,
            "return": in_verification,
            "transfer": stage is Stage.VERIFIED,
            "receive": stage is Stage.TRANSFERRED,
            "submit": stage is Stage.RECEIVED and lpj is None,
            "accept": lpj == "submitted",
        }[action]
        commands: dict[str, Callable[[], None]] = {
            "request": lambda: blm.request(source, number, on, "PP-BLM", Gates(*gates)),
            "verify": lambda: blm.verify(source, number, level, on, "verifier"),
            "return": lambda: blm.return_files(source, number, level, on, "berkas kurang"),
            "transfer": lambda: blm.transfer(source, number, on, "SP2D"),
            "receive": lambda: blm.receive(source, number, on),
            "submit": lambda: blm.submit_lpj(source, number, on, "LPJ"),
            "accept": lambda: blm.accept_lpj(source, number, on, "satker"),
        }
        self.run(
            blm, self.blm_events, commands[action], None if allowed else Conflict, lambda: blm_state(blm)
        )
        if action == "request" and stage in (Stage.NOT_REQUESTED, Stage.RETURNED):
            blocked = blm.blocked_by(source, number, Gates(*gates))
            assert len(blocked) == len(missing)
            for name, words in zip(missing, blocked, strict=True):
                assert name in words
        if not allowed:
            return
        if action == "request":
            m.update(stage=Stage.REQUESTED, verified=0)
        elif action == "verify":
            m["verified"] += 1
            if m["verified"] == len(LEVELS):
                m["stage"] = Stage.VERIFIED
        elif action == "return":
            m["stage"] = Stage.RETURNED
        elif action == "transfer":
            m["stage"] = Stage.TRANSFERRED
        elif action == "receive":
            m["stage"] = Stage.RECEIVED
        else:
            m["lpj"] = "submitted" if action == "submit" else "accepted"
        t = blm.tranches[(source, number)]
        assert (t.stage, len(t.verified), t.lpj) == (m["stage"], m["verified"], m["lpj"])

    @precondition(lambda self: self.blm is not None)
    @rule(
        source=st.sampled_from(list(Source)),
        share=st.one_of(st.just(1000), st.integers(1, 1100)),
        day=st.integers(0, 365),
        swadaya=st.booleans(),
    )
    def blm_money(self, source: Source, share: int, day: int, swadaya: bool) -> None:
        """Swadaya received against the pledge, or BLM of a source put into the revolving fund."""
        blm = self.blm
        assert blm is not None
        on = date(YEAR, 1, 1) + timedelta(days=day)
        expect: type[DomainError] | None
        if swadaya:
            got, pledged = blm.received.get(Source.SWADAYA, 0), blm.share(Source.SWADAYA)
            amount = max(1, (pledged - got) * share // 1000)
            expect = InvalidInput if got + amount > pledged else None
            self.run(
                blm, self.blm_events, lambda: blm.receive_swadaya(amount, on), expect, lambda: blm_state(blm)
            )
        else:
            free = blm.received.get(source, 0) - blm.capitalised.get(source, 0)
            amount = max(1, free * share // 1000)
            expect = Conflict if amount > free else None
            self.run(
                blm,
                self.blm_events,
                lambda: blm.capitalise(source, amount, on),
                expect,
                lambda: blm_state(blm),
            )

    # --- grants and the BKM's own entries ------------------------------------------------------------

    @rule(
        ksm_type=st.sampled_from(list(KsmType)),
        amount=st.integers(1, 500_000_000),
        day=st.integers(0, 365),
        pay=st.booleans(),
    )
    def grant(self, ksm_type: KsmType, amount: int, day: int, pay: bool) -> None:
        grant = Grant(uuid.uuid4())
        on = date(YEAR, 1, 1) + timedelta(days=day)
        expect = Conflict if ksm_type is KsmType.EKONOMI else None
        self.run(
            grant,
            self.grant_events,
            lambda: grant.approve(
                period_code=PERIOD,
                kelurahan_code=BOOK,
                ksm_id=uuid.uuid4(),
                ksm_type=ksm_type,
                proposal="Proposal",
                purpose="Jalan lingkungan",
                amount=amount,
                approved_on=on,
            ),
            expect,
        )
        if expect is None and pay:
            self.run(grant, self.grant_events, lambda: grant.disburse(on + timedelta(days=7)))
            self.run(grant, self.grant_events, lambda: grant.disburse(on + timedelta(days=8)), Conflict)

    @rule(
        kind=st.sampled_from(list(EntryKind)),
        amount=st.integers(1, 1_000_000_000),
        day=st.integers(0, 365),
        required=st.one_of(st.none(), st.integers(0, 50_000_000)),
    )
    def post(self, kind: EntryKind, amount: int, day: int, required: int | None) -> None:
        """A direct entry; a reserve is adjusted instead, to a figure or to what the loans require."""
        on = date(YEAR, 1, 1) + timedelta(days=day)
        if kind is EntryKind.REVERSAL:
            self.run(
                self.book, self.book_events, lambda: self.book.post(PERIOD, kind, 1, on, "x"), InvalidInput
            )
            return
        if kind is not EntryKind.RESERVE:
            self.run(self.book, self.book_events, lambda: self.book.post(PERIOD, kind, amount, on, "posting"))
            return
        if required is None:
            required = sum(
                loan.position(on, RULES).reserve for loan in self.loans if loan.status is not Status.NONE
            )
        current = account_balance(totals(self.entries()), "loan-loss-reserve")
        target = required
        booked = self.run(
            self.book, self.book_events, lambda: self.book.adjust_reserve(PERIOD, target, current, on)
        )
        assert (booked is None) == (required == current)
        assert account_balance(totals(self.entries()), "loan-loss-reserve") == required

    @precondition(lambda self: self.book_events)
    @rule(pick=st.integers(0, 10_000), gap=st.integers(-3, 30))
    def reverse_posting(self, pick: int, gap: int) -> None:
        posted = [e.entry for e in self.book_events if isinstance(e, EntryPosted)]
        original = posted[pick % len(posted)]
        on = original.posted_on + timedelta(days=gap)
        reversed_ids = {e.reverses for e in posted if e.reverses is not None}
        expect: type[DomainError] | None = None
        if original.reverses is not None or original.entry_id in reversed_ids:
            expect = Conflict
        elif gap < 0:
            expect = InvalidInput
        self.run(
            self.book,
            self.book_events,
            lambda: self.book.reverse(PERIOD, original.entry_id, on, "koreksi"),
            expect,
        )

    @rule(which=st.integers(0, MAX_LOANS - 1))
    def reload(self, which: int) -> None:
        """The next unit of work loads a loan, the BLM and the book from their stored events."""
        if self.loans:
            i, loan = self.loan(which, running=False)
            events = self.loan_events[loan.loan_id]
            self.loans[i] = Loan(loan.loan_id).replay(events)
            assert self.loans[i].version == len(events) and self.loans[i].pending == []
        if self.blm is not None:
            self.blm = BlmAllocation(PERIOD, BOOK, YEAR).replay(self.blm_events)
        self.book = Book(BOOK).replay(self.book_events)

    # --- what must always hold -----------------------------------------------------------------------

    def events(self) -> list[DomainEvent]:
        loans = [e for events in self.loan_events.values() for e in events]
        return [*loans, *self.blm_events, *self.book_events, *self.grant_events]

    def entries(self) -> list[JournalEntry]:
        return entries_of(self.events())

    @invariant()
    def every_entry_balances_and_the_books_sum_to_zero(self) -> None:
        pending = [e for a in (*self.loans, self.book, *([self.blm] if self.blm else [])) for e in a.pending]
        for e in entries_of([*self.events(), *pending]):
            assert sum(x.debit for x in e.lines) == sum(x.credit for x in e.lines) > 0
            assert e.book == BOOK
        sums = totals(self.entries())
        assert sum(debit - credit for debit, credit in sums.values()) == 0
        # the fee income in the books is the fees paid on the instalments
        assert account_balance(sums, "fee-income") == sum(
            d.paid_fee for loan in self.loans for d in loan.schedule
        )

    @invariant()
    def loan_principal_is_conserved(self) -> None:
        sums = totals(self.entries())
        by_ksm: dict[uuid.UUID, int] = {}
        for loan in self.loans:
            own = totals(entries_of(self.loan_events[loan.loan_id]))
            receivable = f"loans-receivable:{self.ksm_of[loan.loan_id]}"
            held = account_balance(own, receivable)
            assert loan.outstanding >= 0 and held == loan.outstanding
            by_ksm[self.ksm_of[loan.loan_id]] = by_ksm.get(self.ksm_of[loan.loan_id], 0) + loan.outstanding
            if loan.status in (Status.NONE, Status.APPROVED):
                assert (loan.outstanding, loan.repaid_principal, loan.written_off, held) == (0, 0, 0, 0)
                continue
            disbursed = sum(
                e.entry.amount for e in self.loan_events[loan.loan_id] if isinstance(e, LoanDisbursed)
            )
            assert disbursed == loan.principal
            assert disbursed == loan.repaid_principal + loan.outstanding + loan.written_off
            assert disbursed == held + loan.repaid_principal + loan.written_off
            unpaid = sum(d.principal - d.paid_principal for d in loan.schedule)
            assert unpaid == loan.outstanding + loan.written_off
            for d in loan.schedule:
                assert 0 <= d.paid_principal <= d.principal and 0 <= d.paid_fee <= d.fee
            assert (loan.status is Status.WRITTEN_OFF) == (loan.written_off > 0)
            assert (loan.outstanding == 0) == (loan.status in (Status.REPAID, Status.WRITTEN_OFF))
        for ksm, outstanding in by_ksm.items():
            assert account_balance(sums, f"loans-receivable:{ksm}") == outstanding

    @invariant()
    def a_replay_and_the_loan_as_of_its_last_day_are_the_loan(self) -> None:
        for loan in self.loans:
            if loan.last_on is None:
                continue
            events = self.loan_events[loan.loan_id]
            assert state(Loan(loan.loan_id).replay(events)) == state(loan)
            assert state(loan.as_of(loan.last_on)) == state(loan)
            position = loan.position(loan.last_on, RULES)
            assert position.outstanding == loan.outstanding and 1 <= position.kol <= 5
            assert position.reserve == loan.outstanding * RULES.reserve_pct[position.kol - 1] // 100

    @invariant()
    def blm_funds_follow_the_tranches(self) -> None:
        if self.blm is None:
            return
        blm = self.blm
        assert blm_state(BlmAllocation(PERIOD, BOOK, YEAR).replay(self.blm_events)) == blm_state(blm)
        sums = totals(self.entries())
        for source in Source:
            got = sum(
                t.amount for t in blm.tranches.values() if t.source is source and t.stage is Stage.RECEIVED
            )
            if source is Source.SWADAYA:
                got = blm.received.get(source, 0)
                assert got <= blm.share(source)
            assert blm.received.get(source, 0) == got
            assert 0 <= blm.capitalised.get(source, 0) <= got
            held = account_balance(sums, f"blm-received:{source}")
            assert held == got - blm.capitalised.get(source, 0)


TestLedger = Ledger.TestCase
TestLedger.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# --- pure functions --------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, database=None)
@given(
    principal=st.integers(1, 200_000_000),
    term=st.integers(1, 60),
    bps=st.integers(0, 1000),
    start=st.dates(date(2000, 1, 1), date(2090, 12, 31)),
    first=st.integers(1, 100),
)
def test_a_schedule_sums_to_the_principal_with_monthly_dates(
    principal: int, term: int, bps: int, start: date, first: int
) -> None:
    schedule = make_schedule(principal, term, bps, start, first)
    assert len(schedule) == term and sum(i.principal_rupiah for i in schedule) == principal
    assert [i.number for i in schedule] == list(range(first, first + term))
    assert {i.fee_rupiah for i in schedule} == {principal * bps // 10_000}
    assert {i.principal_rupiah for i in schedule[:-1]} <= {principal // term}
    assert 0 <= schedule[-1].principal_rupiah - principal // term < term
    for k, i in enumerate(schedule, start=1):
        assert i.due_on == add_months(start, k)
        months = (i.due_on.year - start.year) * 12 + i.due_on.month - start.month
        assert months == k and i.due_on.day == min(start.day, i.due_on.day)
        assert i.due_on.day == start.day or (i.due_on + timedelta(days=1)).day == 1  # clamped to month end
    assert all(a.due_on < b.due_on for a, b in itertools.pairwise(schedule))


@settings(max_examples=150, deadline=None, database=None)
@given(amount=st.integers(0, 10**12), pct=st.sampled_from([(20, 50, 30), (40, 60), (100,), (10, 20, 30, 40)]))
def test_tranches_split_the_whole_amount(amount: int, pct: tuple[int, ...]) -> None:
    parts = split(amount, pct)
    assert sum(parts) == amount and len(parts) == len(pct)
    for part, p in zip(parts[:-1], pct[:-1], strict=True):
        assert part == amount * p // 100
    assert parts[-1] >= amount * pct[-1] // 100
