"""Targeting aggregates. For now: the program period, the first piece of the targeting model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.contracts.targeting import ProgramPeriodRegistered
from shared.errors import Conflict, InvalidInput
from shared.events import DomainEvent


@dataclass
class ProgramPeriod:
    """A program period is registered once; its dates bound everything targeted under it."""

    code: str
    version: int = 0
    name: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    pending: list[DomainEvent] = field(default_factory=list)

    @staticmethod
    def stream_id(code: str) -> str:
        return f"program-period-{code}"

    @classmethod
    def load(cls, code: str, history: list[DomainEvent]) -> ProgramPeriod:
        period = cls(code=code)
        for event in history:
            period._apply(event)
            period.version += 1
        return period

    def register(self, name: str, starts_on: date, ends_on: date) -> None:
        if self.version:
            raise Conflict(f"Program period {self.code} is already registered.")
        if ends_on <= starts_on:
            raise InvalidInput(
                f"Program period {self.code} must end after it starts ({starts_on} → {ends_on})."
            )
        self._trigger(
            ProgramPeriodRegistered(code=self.code, name=name, starts_on=starts_on, ends_on=ends_on)
        )

    def _trigger(self, event: DomainEvent) -> None:
        self._apply(event)
        self.pending.append(event)

    def _apply(self, event: DomainEvent) -> None:
        if isinstance(event, ProgramPeriodRegistered):
            self.name, self.starts_on, self.ends_on = event.name, event.starts_on, event.ends_on
