"""Pemetaan Swadaya (poverty mapping) of one kelurahan in one program period.

The community agrees on its poverty criteria (versioned), surveys households against them, and keeps
the PS-2 list of poor households: members are added and removed with a reason, and the list is
published in numbered versions. Households are known here only by a random id; their personal data is
in the vault, and erasing it keeps the household's survey record and PS-2 membership, so every count
still adds up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import Aggregate
from shared.contracts.povertymap import (
    ErasureBasis,
    HouseholdPersonalDataErased,
    HouseholdSurveyed,
    PovertyCriteriaAgreed,
    Ps2ListPublished,
    Ps2MemberAdded,
    Ps2MemberRemoved,
)
from shared.errors import Conflict, Gone, InvalidInput, NotFound
from shared.events import DomainEvent


@dataclass(frozen=True)
class Survey:
    criteria_version: int
    criteria_met: tuple[int, ...]
    members: int
    poor: bool
    surveyed_on: date


@dataclass
class Household:
    household_id: uuid.UUID
    survey: Survey
    erased: ErasureBasis | None = None


@dataclass(frozen=True)
class Publication:
    version: int
    criteria_version: int
    berita_acara: str
    published_on: date
    members: frozenset[uuid.UUID]


@dataclass(frozen=True)
class Counts:
    """What may leave the service about a kelurahan's households: numbers only."""

    surveyed: int
    poor: int
    erased: int
    ps2_members: int
    ps2_versions: int


def no_household(period_code: str, kelurahan_code: str, household_id: uuid.UUID) -> str:
    return (
        f"There is no household {household_id} in the poverty mapping of kelurahan {kelurahan_code} "
        f"in program period {period_code}."
    )


@dataclass
class PemetaanSwadaya(Aggregate):
    period_code: str
    kelurahan_code: str
    criteria: dict[int, PovertyCriteriaAgreed] = field(default_factory=dict)
    households: dict[uuid.UUID, Household] = field(default_factory=dict)
    ps2: set[uuid.UUID] = field(default_factory=set)
    publications: list[Publication] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return f"pemetaan-swadaya-{self.period_code}-{self.kelurahan_code}"

    @property
    def city_code(self) -> str:
        return self.kelurahan_code[:5]

    @property
    def name(self) -> str:
        return f"the poverty mapping of kelurahan {self.kelurahan_code} in program period {self.period_code}"

    # --- commands --------------------------------------------------------------------------------------

    def agree_criteria(self, items: tuple[str, ...], berita_acara: str, agreed_on: date, today: date) -> int:
        _not_after(agreed_on, today, "The date the criteria were agreed")
        if len(set(items)) != len(items):
            raise InvalidInput("The same criterion is listed twice; list each criterion once.")
        latest = self.criteria.get(max(self.criteria, default=0))
        if latest is not None and latest.items == items:
            raise Conflict(
                f"These criteria are the same as version {latest.version} of {self.name}; "
                "nothing new to record."
            )
        version = len(self.criteria) + 1
        self._trigger(
            PovertyCriteriaAgreed(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                version=version,
                items=items,
                berita_acara=berita_acara,
                agreed_on=agreed_on,
            )
        )
        return version

    def survey(self, household_id: uuid.UUID, survey: Survey, today: date) -> None:
        """Record a newly surveyed household (checked before its personal data is stored)."""
        if household_id in self.households:
            raise Conflict(f"Household {household_id} is already recorded in {self.name}.")
        criteria = self.criteria.get(survey.criteria_version)
        if criteria is None:
            agreed = ", ".join(map(str, sorted(self.criteria))) or "none yet"
            raise Conflict(
                f"{self.name.capitalize()} has no poverty criteria version {survey.criteria_version} "
                f"(agreed versions: {agreed}). Record the criteria agreed in the musyawarah first."
            )
        _not_after(survey.surveyed_on, today, "The survey date")
        unknown = sorted(n for n in survey.criteria_met if not 1 <= n <= len(criteria.items))
        if unknown or len(set(survey.criteria_met)) != len(survey.criteria_met):
            raise InvalidInput(
                f"criteria_met must name distinct criteria numbered 1 to {len(criteria.items)} "
                f"(criteria version {criteria.version}); got {list(survey.criteria_met)}."
            )
        if survey.poor and not survey.criteria_met:
            raise InvalidInput("A household judged poor must meet at least one of the agreed criteria.")
        self._trigger(
            HouseholdSurveyed(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                household_id=household_id,
                criteria_version=survey.criteria_version,
                criteria_met=tuple(sorted(survey.criteria_met)),
                members=survey.members,
                poor=survey.poor,
                surveyed_on=survey.surveyed_on,
            )
        )

    def add_to_ps2(self, household_id: uuid.UUID, reason: str) -> None:
        household = self.household(household_id)
        if household.erased is not None:
            raise Conflict(
                f"Household {household_id}'s personal data was erased ({household.erased}); "
                "it cannot be added to the PS-2 list."
            )
        if household_id in self.ps2:
            raise Conflict(f"Household {household_id} is already on the PS-2 list of {self.name}.")
        self._trigger(
            Ps2MemberAdded(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                household_id=household_id,
                reason=reason,
            )
        )

    def remove_from_ps2(self, household_id: uuid.UUID, reason: str) -> None:
        self.household(household_id)
        if household_id not in self.ps2:
            raise Conflict(f"Household {household_id} is not on the PS-2 list of {self.name}.")
        self._trigger(
            Ps2MemberRemoved(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                household_id=household_id,
                reason=reason,
            )
        )

    def publish_ps2(self, berita_acara: str, published_on: date, today: date) -> int:
        _not_after(published_on, today, "The publication date")
        if not self.criteria:
            raise Conflict(f"{self.name.capitalize()} has no agreed poverty criteria yet.")
        if not self.ps2:
            raise Conflict(f"The PS-2 list of {self.name} is empty; add the poor households first.")
        if self.publications and self.publications[-1].members == self.ps2:
            raise Conflict(
                f"The PS-2 list has not changed since version {self.publications[-1].version}; "
                "there is nothing new to publish."
            )
        if self.publications and published_on < self.publications[-1].published_on:
            raise InvalidInput(
                f"Version {self.publications[-1].version} of the PS-2 list was published on "
                f"{self.publications[-1].published_on}; a new version cannot be dated before it."
            )
        version = len(self.publications) + 1
        self._trigger(
            Ps2ListPublished(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                version=version,
                criteria_version=max(self.criteria),
                member_count=len(self.ps2),
                berita_acara=berita_acara,
                published_on=published_on,
            )
        )
        return version

    def erase(self, household_id: uuid.UUID, basis: ErasureBasis) -> None:
        household = self.household(household_id)
        if household.erased is not None:
            raise Gone(erased_message(household_id, household.erased))
        self._trigger(
            HouseholdPersonalDataErased(
                period_code=self.period_code,
                kelurahan_code=self.kelurahan_code,
                household_id=household_id,
                basis=basis,
            )
        )

    # --- queries ---------------------------------------------------------------------------------------

    def household(self, household_id: uuid.UUID) -> Household:
        found = self.households.get(household_id)
        if found is None:
            raise NotFound(no_household(self.period_code, self.kelurahan_code, household_id))
        return found

    def publication(self, version: int) -> Publication:
        if not 1 <= version <= len(self.publications):
            published = len(self.publications)
            raise NotFound(
                f"Version {version} of the PS-2 list of {self.name} does not exist "
                f"({published} version{'s' if published != 1 else ''} published)."
            )
        return self.publications[version - 1]

    def counts(self) -> Counts:
        households = self.households.values()
        return Counts(
            surveyed=len(self.households),
            poor=sum(h.survey.poor for h in households),
            erased=sum(h.erased is not None for h in households),
            ps2_members=len(self.ps2),
            ps2_versions=len(self.publications),
        )

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case PovertyCriteriaAgreed():
                self.criteria[event.version] = event
            case HouseholdSurveyed():
                survey = Survey(
                    event.criteria_version, event.criteria_met, event.members, event.poor, event.surveyed_on
                )
                self.households[event.household_id] = Household(event.household_id, survey)
            case Ps2MemberAdded(household_id=household_id):
                self.ps2.add(household_id)
            case Ps2MemberRemoved(household_id=household_id):
                self.ps2.discard(household_id)
            case Ps2ListPublished():
                self.publications.append(
                    Publication(
                        event.version,
                        event.criteria_version,
                        event.berita_acara,
                        event.published_on,
                        frozenset(self.ps2),
                    )
                )
            case HouseholdPersonalDataErased(household_id=household_id, basis=basis):
                self.households[household_id].erased = basis


def erased_message(household_id: uuid.UUID, basis: ErasureBasis | None) -> str:
    why = f" ({basis})" if basis else ""
    return (
        f"The personal data of household {household_id} was erased{why} and can no longer be read by "
        "anyone. Its survey record and PS-2 membership remain, under its household id only."
    )


def _not_after(day: date, today: date, what: str) -> None:
    if day > today:
        raise InvalidInput(f"{what} ({day}) is in the future.")
