"""Handover aggregates. For now: who holds write authority over a city (the full alih kelola process,
readiness and checklist, arrives with its own issue and will gate these transitions)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.contracts.handover import AuthorityReturned, AuthorityTransferred
from shared.errors import Conflict
from shared.events import DomainEvent


@dataclass
class CityAuthority:
    city_code: str
    version: int = 0
    with_city: bool = False
    pending: list[DomainEvent] = field(default_factory=list)

    @staticmethod
    def stream_id(city_code: str) -> str:
        return f"city-authority-{city_code}"

    @classmethod
    def load(cls, city_code: str, history: list[DomainEvent]) -> CityAuthority:
        authority = cls(city_code=city_code)
        for event in history:
            authority._apply(event)
            authority.version += 1
        return authority

    def transfer(self, instrument: str) -> None:
        if self.with_city:
            raise Conflict(f"Write authority for {self.city_code} has already been transferred to the city.")
        self._trigger(AuthorityTransferred(city_code=self.city_code, instrument=instrument))

    def give_back(self, reason: str) -> None:
        if not self.with_city:
            raise Conflict(f"Write authority for {self.city_code} is with the national program already.")
        self._trigger(AuthorityReturned(city_code=self.city_code, reason=reason))

    def _trigger(self, event: DomainEvent) -> None:
        self._apply(event)
        self.pending.append(event)

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, AuthorityTransferred):
            self.with_city = True
        elif isinstance(event, AuthorityReturned):
            self.with_city = False
