"""Kelurahan sasaran: one kelurahan's targeting decision within one program period.

    nominated ──verify──▶ verified ──confirm (pemda)──▶ confirmed
        │                    │                              │
        └──reject──▶ rejected └──────────drop──────────────┴──▶ dropped

Nominated, verified and confirmed kelurahan can be dropped (with a reason); a rejected one can be
nominated again with new indicators. Anything else is a 409 that says what the state is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.aggregate import Aggregate
from shared.contracts.targeting import (
    KelurahanConfirmed,
    KelurahanDropped,
    KelurahanIndicators,
    KelurahanNominated,
    KelurahanRejected,
    KelurahanVerified,
)
from shared.errors import Conflict
from shared.events import DomainEvent
from shared.regions import Region


class Status(StrEnum):
    NONE = "not nominated"
    NOMINATED = "nominated"
    VERIFIED = "verified"
    REJECTED = "rejected"
    CONFIRMED = "confirmed"
    DROPPED = "dropped"


# A kelurahan the community cycle may start in (the institutions service keeps this from our events).
TARGETED = frozenset({Status.VERIFIED, Status.CONFIRMED})


@dataclass
class KelurahanSasaran(Aggregate):
    period_code: str
    kelurahan_code: str
    status: Status = Status.NONE
    indicators: KelurahanIndicators | None = None
    criteria_version: int | None = None
    reason: str | None = None

    @property
    def stream(self) -> str:
        return f"kelurahan-sasaran-{self.period_code}-{self.kelurahan_code}"

    @property
    def city_code(self) -> str:
        return self.kelurahan_code[:5]

    @property
    def name(self) -> str:
        return f"Kelurahan {self.kelurahan_code} in {self.period_code}"

    def nominate(self, region: Region, indicators: KelurahanIndicators) -> bool:
        """Nominate; False when it already stands nominated with exactly these indicators (idempotent)."""
        if self.status is Status.NOMINATED and self.indicators == indicators:
            return False
        if self.status not in (Status.NONE, Status.REJECTED):
            raise Conflict(f"{self.name} is already {self.status}; it cannot be nominated again.")
        self._trigger(
            KelurahanNominated(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                code_system=region.code_system,
                vintage=region.vintage,
                indicators=indicators,
            )
        )
        return True

    def verify(self, verifier: str, criteria_version: int, reason: str) -> None:
        self._expect(Status.NOMINATED, "verified")
        self._trigger(
            KelurahanVerified(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                verifier=verifier,
                criteria_version=criteria_version,
                reason=reason,
            )
        )

    def reject(self, verifier: str, criteria_version: int, reason: str) -> None:
        self._expect(Status.NOMINATED, "rejected")
        self._trigger(
            KelurahanRejected(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                verifier=verifier,
                criteria_version=criteria_version,
                reason=reason,
            )
        )

    def confirm(self, letter: str) -> None:
        self._expect(Status.VERIFIED, "confirmed by the pemda")
        self._trigger(
            KelurahanConfirmed(
                period_code=self.period_code, kelurahan_code=self.kelurahan_code, letter=letter
            )
        )

    def drop(self, reason: str) -> None:
        if self.status not in (Status.NOMINATED, Status.VERIFIED, Status.CONFIRMED):
            raise Conflict(
                f"{self.name} is {self.status}; only a nominated, verified or confirmed "
                "kelurahan can be dropped."
            )
        self._trigger(
            KelurahanDropped(period_code=self.period_code, kelurahan_code=self.kelurahan_code, reason=reason)
        )

    def _expect(self, wanted: Status, doing: str) -> None:
        if self.status is not wanted:
            raise Conflict(f"{self.name} is {self.status}; only a {wanted} kelurahan can be {doing}.")

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case KelurahanNominated(indicators=indicators):
                self.status, self.indicators, self.reason, self.criteria_version = (
                    Status.NOMINATED,
                    indicators,
                    None,
                    None,
                )
            case KelurahanVerified(criteria_version=version, reason=reason):
                self.status, self.criteria_version, self.reason = Status.VERIFIED, version, reason
            case KelurahanRejected(criteria_version=version, reason=reason):
                self.status, self.criteria_version, self.reason = Status.REJECTED, version, reason
            case KelurahanConfirmed():
                self.status = Status.CONFIRMED
            case KelurahanDropped(reason=reason):
                self.status, self.reason = Status.DROPPED, reason
