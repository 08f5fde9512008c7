"""Targeting aggregates: the program period (with its versioned parameters and targeting criteria)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import Aggregate
from shared.contracts.targeting import (
    CriteriaRule,
    CriteriaThresholds,
    PeriodParameters,
    ProgramParametersSet,
    ProgramPeriodRegistered,
    TargetingCriteriaPublished,
)
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import DomainEvent


@dataclass
class ProgramPeriod(Aggregate):
    """A program period is registered once; its parameters and criteria are versioned, never edited."""

    code: str
    name: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    parameters: dict[int, PeriodParameters] = field(default_factory=dict)
    criteria: dict[int, TargetingCriteriaPublished] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return f"program-period-{self.code}"

    def register(self, name: str, starts_on: date, ends_on: date) -> None:
        if self.exists:
            raise Conflict(f"Program period {self.code} is already registered.")
        if ends_on <= starts_on:
            raise InvalidInput(
                f"Program period {self.code} must end after it starts ({starts_on} → {ends_on})."
            )
        self._trigger(
            ProgramPeriodRegistered(code=self.code, name=name, starts_on=starts_on, ends_on=ends_on)
        )
        # Every period starts with the defaults as version 1, so every decision can name a version.
        self._trigger(ProgramParametersSet(period_code=self.code, version=1, parameters=PeriodParameters()))

    def set_parameters(self, parameters: PeriodParameters) -> int:
        """Record a new version of the parameters; returns its number."""
        version = max(self.parameters, default=0) + 1
        self._trigger(ProgramParametersSet(period_code=self.code, version=version, parameters=parameters))
        return version

    def publish_criteria(self, rule: CriteriaRule, thresholds: CriteriaThresholds, dataset: str) -> int:
        version = max(self.criteria, default=0) + 1
        self._trigger(
            TargetingCriteriaPublished(
                period_code=self.code, version=version, rule=rule, thresholds=thresholds, dataset=dataset
            )
        )
        return version

    def criteria_version(self, version: int) -> TargetingCriteriaPublished:
        if version not in self.criteria:
            known = ", ".join(map(str, sorted(self.criteria))) or "none yet"
            raise NotFound(
                f"Program period {self.code} has no targeting criteria version {version} "
                f"(published: {known})."
            )
        return self.criteria[version]

    def current_parameters(self) -> tuple[int, PeriodParameters]:
        version = max(self.parameters)
        return version, self.parameters[version]

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case ProgramPeriodRegistered():
                self.name, self.starts_on, self.ends_on = event.name, event.starts_on, event.ends_on
            case ProgramParametersSet():
                self.parameters[event.version] = event.parameters
            case TargetingCriteriaPublished():
                self.criteria[event.version] = event
