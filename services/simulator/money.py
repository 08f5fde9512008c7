"""One BKM's money in the ledger: the BLM of each year in tranches behind their gates, the revolving
fund, grants to KSM lingkungan and sosial, loans to eligible KSM ekonomi repaid as their profile goes
(on time, late, defaulting), the UPK's running costs, a book closing at every month end, yearly audits.

Planned day by day on a ``Calendar``, with the BKM's bank balance kept as the ledger keeps it, so no
payment is planned that the bank could not make on its day.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

from services.ledger.loans import make_schedule, per_member_ceiling
from services.simulator.commands import Calendar, Script, Stage, ref
from services.simulator.community import CycleFacts, KsmFacts
from services.simulator.synthetic import Village, days, month_end, rupiah, share
from shared.contracts.ledger import Instalment
from shared.contracts.targeting import FiscalCategory, PeriodParameters

LEDGER = Stage.LEDGER
RULES = PeriodParameters()  # version 1 of the period's parameters: the defaults
LEVELS = ("faskel", "korkot", "satker")
REVOLVING_PCT = 40  # of each tranche received, put into the UPK's revolving fund
PROFILES = (("on time", 0.68), ("late", 0.22), ("defaulting", 0.10))
LAG = {"late": (5, 75), "defaulting": (0, 40)}  # days after the due day a payment comes
PURPOSES = {
    "lingkungan": (
        "Perbaikan saluran drainase",
        "Pengerasan jalan lingkungan",
        "Pembangunan MCK umum",
        "Sumur resapan dan penghijauan",
    ),
    "sosial": (
        "Santunan lansia dan anak yatim",
        "Beasiswa anak dari KK miskin",
        "Perbaikan rumah tidak layak huni",
    ),
}


@dataclass(frozen=True)
class Finance:
    """A city's side of the money: its fiscal category (its DDUB share) and whether it pays DDUB late."""

    fiscal_category: FiscalCategory
    ddub_late: bool

    @property
    def ddub_pct(self) -> int:
        return RULES.blm.ddub_share_pct[self.fiscal_category]


@dataclass
class Tranche:
    year: int
    source: str
    number: int
    amounts: list[int]

    @property
    def amount(self) -> int:
        return self.amounts[self.number - 1]


@dataclass
class Loan:
    """What the planner knows of a loan: enough to pay it as the ledger allocates payments."""

    ref: str
    number: int
    ksm: KsmFacts
    cycle: int
    principal: int
    term: int
    schedule: tuple[Instalment, ...] = ()
    fee_paid: int = 0
    principal_paid: int = 0
    payments: int = 0
    last_paid: date | None = None

    def payoff(self, on: date) -> int:
        due_fees = sum(i.fee_rupiah for i in self.schedule if i.due_on <= on)
        return due_fees - self.fee_paid + self.principal - self.principal_paid

    def pay(self, amount: int, on: date) -> int:
        """Book ``amount`` fee first; the principal part."""
        fee = min(amount, sum(i.fee_rupiah for i in self.schedule if i.due_on <= on) - self.fee_paid)
        self.fee_paid += fee
        self.principal_paid += amount - fee
        self.payments += 1
        self.last_paid = on
        return amount - fee


@dataclass
class Money:
    script: Script
    rng: random.Random
    period: str
    village: Village
    finance: Finance
    facts: CycleFacts
    calendar: Calendar = field(init=False)
    cash: int = 0  # the BKM's bank balance, as the ledger keeps it
    revolving: int = 0  # revolving-fund money not lent out
    grantable: int = 0  # BLM received, neither in the revolving fund nor granted
    opened: date | None = None  # the first money received: the books are closed monthly from then
    loans: int = 0
    grants: int = 0
    lax: tuple[int, str, int] | None = None  # the tranche whose LPJ never comes: the next stays blocked

    def __post_init__(self) -> None:
        self.calendar = Calendar(self.script.until)
        code = self.village.code
        self.books = f"/ledger/program-periods/{self.period}/kelurahan/{code}"

    def plan(self) -> None:
        used: set[int] = set()
        for cycle_year, approved in sorted(self.facts.renta.items()):
            year = approved.year + (1 if approved.month >= 10 else 0)  # a Renta approved late plans next year
            while year in used:
                year += 1
            used.add(year)
            self.calendar.at(approved + days(self.rng, 3, 15), partial(self._allocate, year, cycle_year))
        for ksm in self.facts.ksm:
            if ksm.eligible_on is not None:
                profile = self.rng.choices([p for p, _ in PROFILES], [w for _, w in PROFILES])[0]
                self.calendar.at(
                    ksm.eligible_on + days(self.rng, 7, 30), partial(self._approve, ksm, profile, 1)
                )
            elif ksm.type in PURPOSES:
                self.calendar.at(ksm.registered_on + days(self.rng, 20, 90), partial(self._grant, ksm))
        self.calendar.run()

    def _add(self, on: date, kind: str, path: str, body: dict[str, Any], **how: Any) -> None:
        self.script.add(on, LEDGER, kind, path, body, **how)

    # --- BLM ---------------------------------------------------------------------------------------------

    def _allocate(self, year: int, cycle_year: int, day: date) -> None:
        rng = self.rng
        low, high = (150_000_000, 300_000_000) if cycle_year == 1 else (100_000_000, 250_000_000)
        total = rupiah(rng, low, high, 5_000_000)
        swadaya = 0 if rng.random() < 0.3 else share(total, rng.randint(2, 8), 100_000)
        body = {
            "year": year,
            "total_rupiah": total,
            "fiscal_category": self.finance.fiscal_category,
            "apbn_reference": f"DIPA Ditjen Cipta Karya {year}",
            "swadaya_rupiah": swadaya,
        }
        self._add(day, "ledger.blm.allocate", f"{self.books}/blm", body, needs=(Stage.TARGETING,))
        ddub = (total * self.finance.ddub_pct + 50) // 100
        for part in (1, 2) if swadaya else ():
            amount = swadaya // 2 if part == 1 else swadaya - swadaya // 2
            self.calendar.at(
                day + days(rng, 30, 120) * part, partial(self._swadaya, year, amount), priority=1
            )
        requested = max(day + days(rng, 7, 30), date(year, 1, 10) + days(rng, 0, 20))
        if self.lax is None and rng.random() < 0.12:
            self.lax = (year, rng.choice(("APBN", "DDUB")), rng.randint(1, 2))
        for source, amount in (("APBN", total - ddub), ("DDUB", ddub)):
            split = RULES.blm.tranche_split_pct
            parts = [amount * p // 100 for p in split[:-1]]
            tranche = Tranche(year, source, 1, [*parts, amount - sum(parts)])
            self.calendar.at(requested + days(rng, 0, 10), partial(self._request, tranche))

    def _in_term(self, day: date) -> date | None:
        """The first day from ``day`` a BKM is in term as the ledger will know it; None if none is then.
        The ledger keeps the latest term only, so a request in the month of a re-election waits for it."""
        terms = self.facts.terms
        if len(terms) > 1:
            elected = terms[-1][0]
            if day < elected and (day.year, day.month) == (elected.year, elected.month):
                day = elected
        return day if any(start <= day < end for start, end in terms) else None

    def _swadaya(self, year: int, amount: int, day: date) -> None:
        body = {"amount_rupiah": amount, "received_on": day.isoformat()}
        self._add(day, "ledger.blm.swadaya", f"{self.books}/blm/{year}/swadaya", body)
        self._received(day, amount)

    def _tranche(self, t: Tranche) -> str:
        return f"{self.books}/blm/{t.year}/tranches/{t.source}/{t.number}"

    def _request(self, t: Tranche, day: date) -> None:
        needs: tuple[Stage, ...] = ()
        if t.number == 1:  # the first tranche's gate: a BKM in term, the PJM and a Renta
            needs = (Stage.INSTITUTIONS,)
            possible = self._in_term(day)
            if possible != day:
                if possible is not None:
                    self.calendar.at(possible, partial(self._request, t))
                return
        body = {"requested_on": day.isoformat(), "document": f"PP-BLM {t.year}/{t.source}/{t.number}"}
        self._add(day, "ledger.tranche.request", f"{self._tranche(t)}/request", body, needs=needs)
        self.calendar.at(day + days(self.rng, 2, 10), partial(self._verify, t, 0))

    def _verify(self, t: Tranche, level: int, day: date) -> None:
        path = f"{self._tranche(t)}/verification/{LEVELS[level]}"
        if self.rng.random() < 0.07:
            reason = "Berkas tidak lengkap: lampiran Renta dan rekening BKM belum dilegalisasi"
            body = {"approved": False, "on": day.isoformat(), "reason": reason}
            self._add(day, "ledger.tranche.return", path, body)
            self.calendar.at(day + days(self.rng, 7, 21), partial(self._request, t))
            return
        self._add(day, "ledger.tranche.verify", path, {"approved": True, "on": day.isoformat()})
        if level + 1 < len(LEVELS):
            self.calendar.at(day + days(self.rng, 3, 14), partial(self._verify, t, level + 1))
        else:
            late = t.source == "DDUB" and self.finance.ddub_late
            self.calendar.at(
                day + (days(self.rng, 20, 120) if late else days(self.rng, 5, 25)), partial(self._transfer, t)
            )

    def _transfer(self, t: Tranche, day: date) -> None:
        body = {
            "transferred_on": day.isoformat(),
            "reference": f"SP2D {t.year}/{self.rng.randint(1000, 99999)}",
        }
        self._add(day, "ledger.tranche.transfer", f"{self._tranche(t)}/transfer", body)
        self.calendar.at(day + days(self.rng, 1, 4), partial(self._receive, t), priority=1)

    def _receive(self, t: Tranche, day: date) -> None:
        self._add(
            day, "ledger.tranche.receive", f"{self._tranche(t)}/receipt", {"received_on": day.isoformat()}
        )
        self._received(day, t.amount)
        self.calendar.at(day + days(self.rng, 2, 10), partial(self._capitalise, t), priority=2)
        if self.lax != (t.year, t.source, t.number):
            self.calendar.at(day + days(self.rng, 45, 120), partial(self._lpj, t))

    def _received(self, day: date, amount: int) -> None:
        self.cash += amount
        self.grantable += amount
        if self.opened is None:
            self.opened = day
            self.calendar.at(month_end(day), self._close, priority=9)
            for year in range(day.year, self.script.until.year):
                audited = date(year + 1, self.rng.randint(3, 6), self.rng.randint(1, 28))
                self.calendar.at(audited, partial(self._audit, year))

    def _capitalise(self, t: Tranche, day: date) -> None:
        amount = share(t.amount, REVOLVING_PCT)
        body = {"source": t.source, "amount_rupiah": amount, "capitalised_on": day.isoformat()}
        self._add(day, "ledger.blm.capitalise", f"{self.books}/blm/{t.year}/revolving-fund", body)
        self.revolving += amount
        self.grantable -= amount

    def _lpj(self, t: Tranche, day: date) -> None:
        body = {"submitted_on": day.isoformat(), "document": f"LPJ BLM {t.year}/{t.source}/{t.number}"}
        self._add(day, "ledger.lpj.submit", f"{self._tranche(t)}/lpj", body)
        self.calendar.at(day + days(self.rng, 5, 21), partial(self._accept_lpj, t))

    def _accept_lpj(self, t: Tranche, day: date) -> None:
        self._add(
            day, "ledger.lpj.accept", f"{self._tranche(t)}/lpj/acceptance", {"accepted_on": day.isoformat()}
        )
        if t.number < len(t.amounts):
            following = Tranche(t.year, t.source, t.number + 1, t.amounts)
            self.calendar.at(day + days(self.rng, 5, 20), partial(self._request, following))

    # --- grants ------------------------------------------------------------------------------------------

    def _grant(self, ksm: KsmFacts, day: date) -> None:
        rng = self.rng
        low, high = (15_000_000, 60_000_000) if ksm.type == "lingkungan" else (5_000_000, 20_000_000)
        amount = rupiah(rng, low, high, 500_000)
        if self.grantable < amount:
            self.calendar.at(day + days(rng, 30, 60), partial(self._grant, ksm))
            return
        self.grants += 1
        grant = ref("grant", self.village.code, self.grants)
        body = {
            "ksm_id": ksm.ref,
            "proposal": f"Proposal KSM {self.grants}/{day.year}",
            "purpose": f"{rng.choice(PURPOSES[ksm.type])} RW {rng.randint(1, 8):02d}",
            "amount_rupiah": amount,
            "approved_on": day.isoformat(),
        }
        path = f"{self.books}/grants"
        self._add(
            day, "ledger.grant.approve", path, body, needs=(Stage.INSTITUTIONS,), binds=(grant, "grant_id")
        )
        self.grantable -= amount
        self.calendar.at(day + days(rng, 7, 30), partial(self._disburse_grant, grant, amount))

    def _disburse_grant(self, grant: str, amount: int, day: date) -> None:
        if self.cash < amount:
            self.calendar.at(day + days(self.rng, 7, 14), partial(self._disburse_grant, grant, amount))
            return
        self.cash -= amount
        path = f"/ledger/grants/{grant}/disbursement"
        self._add(day, "ledger.grant.disburse", path, {"disbursed_on": day.isoformat()})
        if self.rng.random() < 0.9:  # a few KSM never account for their grant
            self.calendar.at(day + days(self.rng, 30, 120), partial(self._grant_lpj, grant))

    def _grant_lpj(self, grant: str, day: date) -> None:
        body = {"document": f"LPJ hibah KSM {day:%m/%Y}", "accepted_on": day.isoformat()}
        self._add(day, "ledger.grant.lpj", f"/ledger/grants/{grant}/lpj", body)

    # --- loans -------------------------------------------------------------------------------------------

    def _approve(self, ksm: KsmFacts, profile: str, cycle: int, day: date) -> None:
        rng = self.rng
        ceiling = ksm.members * per_member_ceiling(RULES.loans, cycle)
        principal = share(ceiling, rng.randint(40, 90), 50_000)
        if self.revolving < principal:
            self.calendar.at(day + days(rng, 20, 40), partial(self._approve, ksm, profile, cycle))
            return
        self.loans += 1
        term = rng.randint(6, 10) if cycle == 1 else rng.randint(8, 12)
        loan = Loan(ref("loan", self.village.code, self.loans), self.loans, ksm, cycle, principal, term)
        body = {
            "ksm_id": ksm.ref,
            "principal_rupiah": principal,
            "term_months": term,
            "approved_on": day.isoformat(),
            "decision": f"Keputusan UPK {self.village.code} No. {self.loans}/{day.year}",
        }
        # The first loan rests on the KSM's eligibility as the institutions service published it.
        needs = (Stage.INSTITUTIONS,) if cycle == 1 else ()
        self._add(
            day, "ledger.loan.approve", f"{self.books}/loans", body, needs=needs, binds=(loan.ref, "loan_id")
        )
        self.revolving -= principal
        self.calendar.at(day + days(rng, 3, 10), partial(self._disburse, loan, profile))

    def _disburse(self, loan: Loan, profile: str, day: date) -> None:
        if self.cash < loan.principal:
            self.calendar.at(day + days(self.rng, 7, 14), partial(self._disburse, loan, profile))
            return
        self.cash -= loan.principal
        path = f"/ledger/loans/{loan.ref}/disbursement"
        self._add(day, "ledger.loan.disburse", path, {"disbursed_on": day.isoformat()})
        loan.schedule = make_schedule(loan.principal, loan.term, RULES.loans.fee_bps_per_month, day)
        self._repayments(loan, profile)

    def _repayments(self, loan: Loan, profile: str) -> None:
        """On time: each instalment on its due day (a few pay off early). Late: each some weeks after.
        Defaulting: a few instalments, then nothing; the BKM writes most of these off in the end."""
        rng = self.rng
        paying = len(loan.schedule) if profile != "defaulting" else rng.randint(0, len(loan.schedule) // 2)
        early = profile == "on time" and rng.random() < 0.05
        day = loan.schedule[0].due_on
        for k, instalment in enumerate(loan.schedule[:paying], start=1):
            lag = LAG.get(profile)
            day = max(day, instalment.due_on + days(rng, *lag)) if lag else instalment.due_on
            self.calendar.at(day, partial(self._repay, loan, profile, k), priority=3)
            if early and k == len(loan.schedule) // 2:
                self.calendar.at(day + days(rng, 3, 10), partial(self._prepay, loan, profile), priority=3)
                return
        if paying < len(loan.schedule) and rng.random() < 0.6:
            written_off = loan.schedule[-1].due_on + days(rng, 180, 400)
            self.calendar.at(written_off, partial(self._write_off, loan))

    def _repay(self, loan: Loan, profile: str, k: int, day: date) -> None:
        instalment = loan.schedule[k - 1]
        final = k == len(loan.schedule)
        amount = (
            loan.payoff(day)
            if final
            else min(instalment.principal_rupiah + instalment.fee_rupiah, loan.payoff(day))
        )
        body = {
            "idempotency_key": f"upk-{self.village.code}-pinjaman-{loan.number}-angsuran-{k}",
            "amount_rupiah": amount,
            "paid_on": day.isoformat(),
        }
        path = f"/ledger/loans/{loan.ref}/repayments"
        self._add(day, "ledger.loan.repay", path, body)
        if self.rng.random() < 0.03:  # the officer's connection dropped: the same repayment sent again
            self._add(day, "ledger.loan.repay-retried", path, body)
        self._paid(loan, profile, amount, day, repaid=final)

    def _prepay(self, loan: Loan, profile: str, day: date) -> None:
        amount = loan.payoff(day)
        body = {
            "idempotency_key": f"upk-{self.village.code}-pinjaman-{loan.number}-pelunasan",
            "paid_on": day.isoformat(),
        }
        self._add(day, "ledger.loan.prepay", f"/ledger/loans/{loan.ref}/prepayment", body)
        self._paid(loan, profile, amount, day, repaid=True)

    def _paid(self, loan: Loan, profile: str, amount: int, day: date, *, repaid: bool) -> None:
        self.cash += amount
        self.revolving += loan.pay(amount, day)
        graduates = profile == "on time" or (profile == "late" and self.rng.random() < 0.6)
        if repaid and graduates and loan.cycle < RULES.loans.graduation_cycles:
            self.calendar.at(
                day + days(self.rng, 14, 60), partial(self._approve, loan.ksm, profile, loan.cycle + 1)
            )

    def _write_off(self, loan: Loan, day: date) -> None:
        body = {
            "written_off_on": day.isoformat(),
            "approval": f"Keputusan Rapat BKM {day.year}/{loan.number}",
            "reason": "Macet lebih dari enam bulan; KSM tidak aktif lagi",
        }
        self._add(day, "ledger.loan.write-off", f"/ledger/loans/{loan.ref}/write-off", body)

    # --- the books ---------------------------------------------------------------------------------------

    def _close(self, day: date) -> None:
        """The month's running costs, then the book closing at its end; the next month's in turn."""
        cost = rupiah(self.rng, 250_000, 750_000, 50_000)
        if self.cash >= cost + 1_000_000:
            self.cash -= cost
            body = {
                "kind": "operating-cost",
                "amount_rupiah": cost,
                "posted_on": day.isoformat(),
                "memo": f"Biaya operasional UPK {day:%m/%Y}",
            }
            self._add(day, "ledger.books.cost", f"{self.books}/books/entries", body)
        self._add(day, "ledger.books.close", f"{self.books}/books/closing", {"as_of": day.isoformat()})
        self.calendar.at(month_end(day + timedelta(days=1)), self._close, priority=9)

    def _audit(self, year: int, day: date) -> None:
        rng = self.rng
        opinion = rng.choices(("WTP", "WDP", "TW", "TMP"), (70, 22, 5, 3))[0]
        body = {
            "year": year,
            "auditor": f"KAP Auditor Independen {rng.randint(1, 40)}",
            "opinion": opinion,
            "findings": rng.randint(0, 2) if opinion == "WTP" else rng.randint(2, 9),
            "report": f"LHA/{self.village.code}/{year}",
            "audited_on": day.isoformat(),
        }
        self._add(day, "ledger.books.audit", f"{self.books}/books/audits", body)
