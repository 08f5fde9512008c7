"""The chart of accounts of a BKM/UPK's books, how entries are built, and the book's own entries.

Every BKM keeps one set of books; its id is the kelurahan code. An account is a kind from ``CHART``,
per party where the kind needs one (``loans-receivable:<ksm>``, ``blm-received:APBN``). Entries are
immutable: a correction is a reversing entry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from shared.aggregate import Aggregate
from shared.contracts.ledger import (
    AuditOpinion,
    AuditRecorded,
    EntryKind,
    EntryPosted,
    JournalEntry,
    Line,
    UpkIndicatorsRecorded,
)
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import DomainEvent


class Kind(StrEnum):
    ASSET = "asset"
    CONTRA_ASSET = "contra-asset"
    LIABILITY = "liability"
    EQUITY = "equity"  # the BKM's funds: BLM received, revolving-fund capital
    INCOME = "income"
    EXPENSE = "expense"


# kind of account -> (its kind, its name in the BKM's books)
CHART: dict[str, tuple[Kind, str]] = {
    "bank": (Kind.ASSET, "Kas di bank BKM"),
    "loans-receivable": (Kind.ASSET, "Piutang pinjaman bergulir (per KSM)"),
    "loan-loss-reserve": (Kind.CONTRA_ASSET, "Penyisihan penghapusan pinjaman"),
    "grants-payable": (Kind.LIABILITY, "Hibah yang belum disalurkan (per KSM)"),
    "blm-received": (Kind.EQUITY, "Dana BLM diterima (per sumber)"),
    "revolving-capital": (Kind.EQUITY, "Modal dana bergulir UPK"),
    "fee-income": (Kind.INCOME, "Pendapatan jasa pinjaman"),
    "other-income": (Kind.INCOME, "Pendapatan lain"),
    "grant-expense": (Kind.EXPENSE, "Penyaluran hibah ke KSM"),
    "operating-cost": (Kind.EXPENSE, "Biaya operasional (BOP)"),
    "provision-expense": (Kind.EXPENSE, "Beban penyisihan penghapusan pinjaman"),
    "write-offs": (Kind.EXPENSE, "Penghapusan pinjaman"),
}
INCOME = ("fee-income", "other-income")
COSTS = ("operating-cost", "provision-expense", "write-offs")
DEBIT_NORMAL = frozenset({Kind.ASSET, Kind.EXPENSE})


def kind_of(account: str) -> Kind:
    return CHART[account.split(":", 1)[0]][0]


def balance(account: str, debit: int, credit: int) -> int:
    """The balance on the account's normal side (a debit-normal asset: debits minus credits)."""
    return debit - credit if kind_of(account) in DEBIT_NORMAL else credit - debit


def entry(
    book: str, posted_on: date, memo: str, *, debit: dict[str, int], credit: dict[str, int]
) -> JournalEntry:
    """A balanced entry; zero amounts are left out. The model refuses an unbalanced one."""
    for account in (*debit, *credit):
        if account.split(":", 1)[0] not in CHART:
            raise ValueError(f"{account} is not in the chart of accounts")
    lines = [Line(account=a, debit=v) for a, v in debit.items() if v] + [
        Line(account=a, credit=v) for a, v in credit.items() if v
    ]
    return JournalEntry(entry_id=uuid.uuid4(), book=book, posted_on=posted_on, memo=memo, lines=tuple(lines))


def reversal(original: JournalEntry, posted_on: date, memo: str) -> JournalEntry:
    lines = tuple(Line(account=x.account, debit=x.credit, credit=x.debit) for x in original.lines)
    return JournalEntry(
        entry_id=uuid.uuid4(),
        book=original.book,
        posted_on=posted_on,
        memo=memo,
        lines=lines,
        reverses=original.entry_id,
    )


# What each kind of direct entry books: (debited account, credited account).
DIRECT = {
    EntryKind.OPERATING_COST: ("operating-cost", "bank"),
    EntryKind.OTHER_INCOME: ("bank", "other-income"),
    EntryKind.CAPITAL: ("bank", "revolving-capital"),
}


@dataclass
class Book(Aggregate):
    """The entries posted directly to a BKM's books (not through a tranche, grant or loan)."""

    kelurahan_code: str
    entries: dict[uuid.UUID, EntryPosted] = field(default_factory=dict)
    reversed: set[uuid.UUID] = field(default_factory=set)
    audits: dict[int, AuditRecorded] = field(default_factory=dict)
    closed_to: date | None = None  # the last book closing (its indicators recorded)

    @property
    def stream(self) -> str:
        return f"book-{self.kelurahan_code}"

    @property
    def city_code(self) -> str:
        return self.kelurahan_code[:5]

    def post(
        self, period_code: str, kind: EntryKind, amount: int, posted_on: date, memo: str
    ) -> JournalEntry:
        if kind not in DIRECT:
            raise InvalidInput(f"A {kind} entry is not posted by hand.")
        debited, credited = DIRECT[kind]
        booked = entry(
            self.kelurahan_code, posted_on, memo, debit={debited: amount}, credit={credited: amount}
        )
        self._trigger(
            EntryPosted(period_code=period_code, kelurahan_code=self.kelurahan_code, kind=kind, entry=booked)
        )
        return booked

    def adjust_reserve(self, period_code: str, required: int, current: int, on: date) -> JournalEntry | None:
        """Bring the loan-loss reserve from ``current`` to ``required`` (None if it already is)."""
        delta = required - current
        if delta == 0:
            return None
        memo = f"Penyisihan penghapusan pinjaman per {on}: Rp{required:,}"
        accounts = ("provision-expense", "loan-loss-reserve")
        debit, credit = accounts if delta > 0 else accounts[::-1]
        booked = entry(self.kelurahan_code, on, memo, debit={debit: abs(delta)}, credit={credit: abs(delta)})
        self._trigger(
            EntryPosted(
                period_code=period_code,
                kelurahan_code=self.kelurahan_code,
                kind=EntryKind.RESERVE,
                entry=booked,
            )
        )
        return booked

    def reverse(self, period_code: str, entry_id: uuid.UUID, on: date, reason: str) -> JournalEntry:
        posted = self.entries.get(entry_id)
        if posted is None:
            raise NotFound(
                f"The books of {self.kelurahan_code} have no directly posted entry {entry_id}; entries of "
                "tranches, grants and loans are corrected through them."
            )
        if posted.kind is EntryKind.REVERSAL:
            raise Conflict(f"Entry {entry_id} is itself a reversal; post the correct entry instead.")
        if entry_id in self.reversed:
            raise Conflict(f"Entry {entry_id} was already reversed.")
        if on < posted.entry.posted_on:
            raise InvalidInput(
                f"A reversal cannot be dated before the entry it reverses ({posted.entry.posted_on})."
            )
        booked = reversal(posted.entry, on, f"Koreksi: {reason}")
        self._trigger(
            EntryPosted(
                period_code=period_code,
                kelurahan_code=self.kelurahan_code,
                kind=EntryKind.REVERSAL,
                entry=booked,
            )
        )
        return booked

    def record_audit(
        self,
        period_code: str,
        year: int,
        auditor: str,
        opinion: AuditOpinion,
        findings: int,
        report: str,
        on: date,
    ) -> None:
        if year in self.audits:
            raise Conflict(f"The {year} audit of the books of {self.kelurahan_code} is already recorded.")
        if on.year <= year:
            raise InvalidInput(f"The books of {year} are audited after the year ends; {on} is not.")
        self._trigger(
            AuditRecorded(
                period_code=period_code,
                kelurahan_code=self.kelurahan_code,
                year=year,
                auditor=auditor,
                opinion=opinion,
                findings=findings,
                report=report,
                audited_on=on,
            )
        )

    def record_indicators(self, period_code: str, figures: UpkIndicatorsRecorded) -> None:
        if self.closed_to is not None and figures.as_of <= self.closed_to:
            raise Conflict(
                f"The books of {self.kelurahan_code} were closed on {self.closed_to}; close a later day."
            )
        self._trigger(figures)

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, AuditRecorded):
            self.audits[event.year] = event
        elif isinstance(event, UpkIndicatorsRecorded):
            self.closed_to = event.as_of
        if isinstance(event, EntryPosted):
            self.entries[event.entry.entry_id] = event
            if event.entry.reverses is not None:
                self.reversed.add(event.entry.reverses)
