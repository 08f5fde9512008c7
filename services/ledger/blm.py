"""A kelurahan's BLM for one year: its funding sources, and the tranches of APBN and DDUB money.

    requested → verified by faskel → korkot → satker/PPK → transferred → received by the BKM
        ↑            │ (returned with a reason, at the level next in line)
        └────────────┘
    then its LPJ: submitted → accepted.

Gates: the first tranche needs a BKM in term and an approved PJM and Renta (the institutions service's
events); tranche N+1 of a source needs the LPJ of tranche N of that source accepted. A blocked tranche
says which gate is missing. Swadaya is the community's own money: received as it comes, no tranches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from services.ledger.accounts import entry
from shared.aggregate import Aggregate
from shared.contracts.ledger import (
    BlmAllocated,
    Level,
    LpjAccepted,
    LpjSubmitted,
    RevolvingFundCapitalised,
    Source,
    SourceShare,
    SwadayaReceived,
    TrancheReceived,
    TrancheRequested,
    TrancheReturned,
    TrancheTransferred,
    TrancheVerified,
)
from shared.contracts.targeting import BlmRules, FiscalCategory
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import DomainEvent

LEVELS = tuple(Level)
TRANCHED = (Source.APBN, Source.DDUB)


class Stage(StrEnum):
    NOT_REQUESTED = "not requested"
    REQUESTED = "requested"
    RETURNED = "returned"
    VERIFIED = "verified"  # at every level
    TRANSFERRED = "transferred"
    RECEIVED = "received"


@dataclass(frozen=True)
class Gates:
    """What the institutions service has told the ledger about the kelurahan, as of a request."""

    bkm_in_term: bool
    pjm_approved: bool
    renta_approved: bool


@dataclass
class Tranche:
    source: Source
    number: int
    amount: int
    stage: Stage = Stage.NOT_REQUESTED
    verified: list[Level] = field(default_factory=list)
    lpj: str | None = None  # None, "submitted" or "accepted"
    returned_reason: str | None = None
    dates: dict[str, date] = field(default_factory=dict)

    @property
    def next_level(self) -> Level | None:
        return LEVELS[len(self.verified)] if len(self.verified) < len(LEVELS) else None


def split(amount: int, pct: tuple[int, ...]) -> list[int]:
    """Whole rupiah per tranche; the last takes what rounding left."""
    parts = [amount * p // 100 for p in pct[:-1]]
    return [*parts, amount - sum(parts)]


@dataclass
class BlmAllocation(Aggregate):
    period_code: str
    kelurahan_code: str
    year: int
    allocated: BlmAllocated | None = None
    tranches: dict[tuple[Source, int], Tranche] = field(default_factory=dict)
    received: dict[Source, int] = field(default_factory=dict)
    capitalised: dict[Source, int] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return f"blm-{self.period_code}-{self.kelurahan_code}-{self.year}"

    @property
    def city_code(self) -> str:
        return self.kelurahan_code[:5]

    @property
    def label(self) -> str:
        return f"The {self.year} BLM of kelurahan {self.kelurahan_code}"

    def _ids(self) -> dict[str, Any]:
        return {"period_code": self.period_code, "kelurahan_code": self.kelurahan_code, "year": self.year}

    def share(self, source: Source) -> int:
        assert self.allocated is not None
        return next((s.amount_rupiah for s in self.allocated.sources if s.source is source), 0)

    # --- commands -------------------------------------------------------------------------------------

    def allocate(
        self,
        total: int,
        fiscal_category: FiscalCategory,
        apbn_reference: str,
        swadaya: int,
        rules: BlmRules,
        parameters_version: int,
    ) -> None:
        if self.allocated is not None:
            raise Conflict(f"{self.label} is already allocated.")
        pct = rules.ddub_share_pct[fiscal_category]
        ddub = (total * pct + 50) // 100
        sources = [
            SourceShare(source=Source.APBN, amount_rupiah=total - ddub, reference=apbn_reference),
            SourceShare(source=Source.DDUB, amount_rupiah=ddub),
        ]
        if swadaya:
            sources.append(SourceShare(source=Source.SWADAYA, amount_rupiah=swadaya))
        self._trigger(
            BlmAllocated(
                **self._ids(),
                fiscal_category=fiscal_category,
                ddub_pct=pct,
                sources=tuple(s for s in sources if s.amount_rupiah or s.source is Source.APBN),
                tranche_split_pct=rules.tranche_split_pct,
                parameters_version=parameters_version,
            )
        )

    def tranche(self, source: Source, number: int) -> Tranche:
        if self.allocated is None:
            raise NotFound(f"{self.label} has not been allocated.")
        if source not in TRANCHED:
            raise InvalidInput(
                "Swadaya is the community's own money: it is received as it comes, not in tranches."
            )
        found = self.tranches.get((source, number))
        if found is None:
            raise NotFound(f"{self.label} has no {source} tranche {number}.")
        return found

    def blocked_by(self, source: Source, number: int, gates: Gates) -> list[str]:
        """The gates not met for requesting this tranche, in words (empty: it may be requested)."""
        missing = []
        if number == 1:
            if not gates.bkm_in_term:
                missing.append("a BKM in term (constituted and not expired)")
            if not gates.pjm_approved:
                missing.append("an approved PJM Pronangkis")
            if not gates.renta_approved:
                missing.append("an approved Renta")
        else:
            previous = self.tranches[(source, number - 1)]
            if previous.amount and previous.lpj != "accepted":  # a Rp0 tranche has no LPJ to wait for
                missing.append(f"the accepted LPJ of {source} tranche {number - 1}")
        return missing

    def request(self, source: Source, number: int, on: date, document: str, gates: Gates) -> None:
        t = self.tranche(source, number)
        if t.stage not in (Stage.NOT_REQUESTED, Stage.RETURNED):
            raise Conflict(f"{source} tranche {number} of {self.label.lower()} is already {t.stage}.")
        missing = self.blocked_by(source, number, gates)
        if missing:
            raise Conflict(f"{source} tranche {number} is blocked: it needs {' and '.join(missing)}.")
        if t.amount == 0:
            raise Conflict(
                f"{source} tranche {number} is Rp0: there is nothing to request; the next needs no LPJ of it."
            )
        self._trigger(
            TrancheRequested(
                **self._ids(),
                source=source,
                tranche=number,
                amount_rupiah=t.amount,
                requested_on=on,
                document=document,
            )
        )

    def verify(self, source: Source, number: int, level: Level, on: date, verifier: str) -> None:
        self._in_verification(source, number, level)
        self._trigger(
            TrancheVerified(
                **self._ids(), source=source, tranche=number, level=level, verified_on=on, verifier=verifier
            )
        )

    def return_files(self, source: Source, number: int, level: Level, on: date, reason: str) -> None:
        self._in_verification(source, number, level)
        self._trigger(
            TrancheReturned(
                **self._ids(), source=source, tranche=number, level=level, returned_on=on, reason=reason
            )
        )

    def _in_verification(self, source: Source, number: int, level: Level) -> Tranche:
        t = self.tranche(source, number)
        if t.stage is not Stage.REQUESTED:
            raise Conflict(f"{source} tranche {number} is {t.stage}; only a requested tranche is verified.")
        if level is not t.next_level:
            done = ", ".join(map(str, t.verified)) or "no level yet"
            raise Conflict(
                f"{source} tranche {number} is verified in order faskel, korkot, satker; verified by {done}, "
                f"it needs {t.next_level} next, not {level}."
            )
        return t

    def transfer(self, source: Source, number: int, on: date, reference: str) -> None:
        t = self.tranche(source, number)
        if t.stage is not Stage.VERIFIED:
            raise Conflict(
                f"{source} tranche {number} is {t.stage}; it is transferred once verified at every level."
            )
        self._trigger(
            TrancheTransferred(
                **self._ids(), source=source, tranche=number, transferred_on=on, reference=reference
            )
        )

    def receive(self, source: Source, number: int, on: date) -> None:
        t = self.tranche(source, number)
        if t.stage is not Stage.TRANSFERRED:
            raise Conflict(f"{source} tranche {number} is {t.stage}; the BKM receives it once transferred.")
        booked = entry(
            self.kelurahan_code,
            on,
            f"BLM {self.year} {source} tahap {number} diterima",
            debit={"bank": t.amount},
            credit={f"blm-received:{source}": t.amount},
        )
        self._trigger(
            TrancheReceived(**self._ids(), source=source, tranche=number, received_on=on, entry=booked)
        )

    def submit_lpj(self, source: Source, number: int, on: date, document: str) -> None:
        t = self.tranche(source, number)
        if t.stage is not Stage.RECEIVED or t.lpj is not None:
            state = "its LPJ is already " + t.lpj if t.lpj else f"it is {t.stage}"
            raise Conflict(f"An LPJ is submitted for a received tranche; {source} tranche {number}: {state}.")
        self._trigger(
            LpjSubmitted(**self._ids(), source=source, tranche=number, submitted_on=on, document=document)
        )

    def accept_lpj(self, source: Source, number: int, on: date, verifier: str) -> None:
        t = self.tranche(source, number)
        if t.lpj != "submitted":
            raise Conflict(
                f"The LPJ of {source} tranche {number} is {t.lpj or 'not submitted'}; it cannot be accepted."
            )
        self._trigger(
            LpjAccepted(**self._ids(), source=source, tranche=number, accepted_on=on, verifier=verifier)
        )

    def receive_swadaya(self, amount: int, on: date) -> None:
        if self.allocated is None:
            raise NotFound(f"{self.label} has not been allocated.")
        pledged, got = self.share(Source.SWADAYA), self.received.get(Source.SWADAYA, 0)
        if got + amount > pledged:
            raise InvalidInput(
                f"Swadaya of Rp{pledged:,} was pledged and Rp{got:,} received; Rp{amount:,} is too much."
            )
        booked = entry(
            self.kelurahan_code,
            on,
            f"Swadaya {self.year} diterima",
            debit={"bank": amount},
            credit={f"blm-received:{Source.SWADAYA}": amount},
        )
        self._trigger(SwadayaReceived(**self._ids(), amount_rupiah=amount, received_on=on, entry=booked))

    def capitalise(self, source: Source, amount: int, on: date) -> None:
        """Put received BLM of ``source`` into the UPK's revolving fund."""
        free = self.received.get(source, 0) - self.capitalised.get(source, 0)
        if amount > free:
            raise Conflict(
                f"Only Rp{free:,} of {source} BLM received for {self.year} is not yet in the revolving fund."
            )
        booked = entry(
            self.kelurahan_code,
            on,
            f"BLM {self.year} {source} ke modal dana bergulir",
            debit={f"blm-received:{source}": amount},
            credit={"revolving-capital": amount},
        )
        self._trigger(
            RevolvingFundCapitalised(
                **self._ids(), source=source, amount_rupiah=amount, capitalised_on=on, entry=booked
            )
        )

    # --- events ---------------------------------------------------------------------------------------

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case BlmAllocated():
                self.allocated = event
                for share in event.sources:
                    if share.source in TRANCHED:
                        for n, amount in enumerate(
                            split(share.amount_rupiah, event.tranche_split_pct), start=1
                        ):
                            self.tranches[(share.source, n)] = Tranche(share.source, n, amount)
            case TrancheRequested(source=s, tranche=n, requested_on=day):
                t = self.tranches[(s, n)]
                t.stage, t.verified, t.returned_reason = Stage.REQUESTED, [], None
                t.dates["requested"] = day
            case TrancheVerified(source=s, tranche=n, level=level, verified_on=day):
                t = self.tranches[(s, n)]
                t.verified.append(level)
                t.dates[f"verified by {level}"] = day
                if t.next_level is None:
                    t.stage = Stage.VERIFIED
            case TrancheReturned(source=s, tranche=n, reason=reason, returned_on=day):
                t = self.tranches[(s, n)]
                t.stage, t.returned_reason = Stage.RETURNED, reason
                t.dates["returned"] = day
            case TrancheTransferred(source=s, tranche=n, transferred_on=day):
                t = self.tranches[(s, n)]
                t.stage = Stage.TRANSFERRED
                t.dates["transferred"] = day
            case TrancheReceived(source=s, tranche=n, received_on=day):
                t = self.tranches[(s, n)]
                t.stage = Stage.RECEIVED
                t.dates["received"] = day
                self.received[s] = self.received.get(s, 0) + t.amount
            case LpjSubmitted(source=s, tranche=n, submitted_on=day):
                self.tranches[(s, n)].lpj = "submitted"
                self.tranches[(s, n)].dates["LPJ submitted"] = day
            case LpjAccepted(source=s, tranche=n, accepted_on=day):
                self.tranches[(s, n)].lpj = "accepted"
                self.tranches[(s, n)].dates["LPJ accepted"] = day
            case SwadayaReceived(amount_rupiah=amount):
                self.received[Source.SWADAYA] = self.received.get(Source.SWADAYA, 0) + amount
            case RevolvingFundCapitalised(source=s, amount_rupiah=amount):
                self.capitalised[s] = self.capitalised.get(s, 0) + amount
