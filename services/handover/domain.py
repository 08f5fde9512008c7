"""Handover aggregates. For now: who holds write authority over a city (the full alih kelola process,
readiness and checklist, arrives with its own issue and will gate these transitions)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.aggregate import Aggregate
from shared.contracts.handover import AuthorityReturned, AuthorityTransferred
from shared.errors import Conflict
from shared.events import DomainEvent


@dataclass
class CityAuthority(Aggregate):
    city: str
    with_city: bool = False

    @property
    def stream(self) -> str:
        return f"city-authority-{self.city}"

    @property
    def city_code(self) -> str:
        return self.city

    def transfer(self, instrument: str) -> None:
        if self.with_city:
            raise Conflict(f"Write authority for {self.city} has already been transferred to the city.")
        self._trigger(AuthorityTransferred(city_code=self.city, instrument=instrument))

    def give_back(self, reason: str) -> None:
        if not self.with_city:
            raise Conflict(f"Write authority for {self.city} is with the national program already.")
        self._trigger(AuthorityReturned(city_code=self.city, reason=reason))

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, AuthorityTransferred):
            self.with_city = True
        elif isinstance(event, AuthorityReturned):
            self.with_city = False
