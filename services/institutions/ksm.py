"""A KSM (Kelompok Swadaya Masyarakat): a group of PS-2 households, and its eligibility for loans.

Members are households on the kelurahan's current PS-2 list, by their pseudonymous ids. A household
the targeting service later removes from PS-2 stays a member but is flagged (never silently kept as
if eligible). A KSM ekonomi's eligibility for the revolving fund is derived after every change and
published as ``KsmLoanEligibilityChanged`` whenever it, or the list of rules still unmet, changes (so
the reasons the ledger quotes are never stale): the ledger relies on that event, with its snapshot of
the facts, and never asks this service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.aggregate import Aggregate
from shared.contracts.institutions import (
    EligibilitySnapshot,
    KsmJointLiabilityRecorded,
    KsmLoanEligibilityChanged,
    KsmMemberFlagCleared,
    KsmMemberFlagged,
    KsmMemberJoined,
    KsmMemberLeft,
    KsmRegistered,
    KsmSavingsRecorded,
    KsmTrainingRecorded,
    KsmType,
    Member,
)
from shared.contracts.targeting import KsmRules
from shared.errors import Conflict, InvalidInput
from shared.events import DomainEvent


def ps2_refusal(households: list[uuid.UUID], kelurahan_code: str) -> Conflict:
    return Conflict(
        f"KSM members are households on the PS-2 list of kelurahan {kelurahan_code}; not on it now: "
        f"{', '.join(map(str, households))}."
    )


@dataclass
class Ksm(Aggregate):
    ksm_id: uuid.UUID
    period_code: str = ""
    kelurahan_code: str = ""
    name: str = ""
    type: KsmType | None = None
    registered_on: date | None = None
    members: dict[uuid.UUID, bool] = field(default_factory=dict)  # household -> woman
    flagged: dict[uuid.UUID, str] = field(default_factory=dict)  # household -> why
    membership_changed_on: date | None = None
    savings: dict[str, int] = field(default_factory=dict)  # YYYY-MM -> rupiah
    joint_liability_signed_on: date | None = None
    trainings: dict[str, date] = field(default_factory=dict)
    eligibility: KsmLoanEligibilityChanged | None = None

    @property
    def stream(self) -> str:
        return f"ksm-{self.ksm_id}"

    @property
    def city_code(self) -> str:
        return self.kelurahan_code[:5]

    @property
    def label(self) -> str:
        return f"KSM {self.name!r} ({self.ksm_id})"

    @property
    def _ids(self) -> dict[str, Any]:
        return {"ksm_id": self.ksm_id, "period_code": self.period_code, "kelurahan_code": self.kelurahan_code}

    # --- commands ------------------------------------------------------------------------------------

    def register(
        self,
        period_code: str,
        kelurahan_code: str,
        name: str,
        type: KsmType,
        registered_on: date,
        members: list[Member],
        not_on_ps2: list[uuid.UUID],
        rules: KsmRules,
        parameters_version: int,
    ) -> None:
        if self.exists:
            raise Conflict(f"{self.label} is already registered.")
        ids = [m.household_id for m in members]
        if len(set(ids)) != len(ids):
            raise InvalidInput("The same household appears twice among the members.")
        if not_on_ps2:
            raise ps2_refusal(not_on_ps2, kelurahan_code)
        if len(members) < rules.members_min_general:
            raise InvalidInput(
                f"A KSM has at least {rules.members_min_general} members; {len(members)} given."
            )
        self.period_code, self.kelurahan_code = period_code, kelurahan_code
        self._trigger(
            KsmRegistered(
                **self._ids,
                name=name,
                type=type,
                registered_on=registered_on,
                members=tuple(members),
            )
        )
        self._reassess(rules, parameters_version)

    def join(
        self, member: Member, joined_on: date, on_ps2: bool, rules: KsmRules, parameters_version: int
    ) -> None:
        self._after_registration(joined_on, "join")
        if member.household_id in self.members:
            raise Conflict(f"Household {member.household_id} is already a member of {self.label}.")
        if not on_ps2:
            raise ps2_refusal([member.household_id], self.kelurahan_code)
        self._trigger(KsmMemberJoined(**self._ids, member=member, joined_on=joined_on))
        self._reassess(rules, parameters_version)

    def leave(
        self, household_id: uuid.UUID, left_on: date, reason: str, rules: KsmRules, parameters_version: int
    ) -> None:
        self._after_registration(left_on, "leave")
        if household_id not in self.members:
            raise Conflict(f"Household {household_id} is not a member of {self.label}.")
        if len(self.members) - 1 < rules.members_min_general:
            raise Conflict(
                f"{self.label} would have {len(self.members) - 1} members, fewer than the "
                f"{rules.members_min_general} a KSM needs; record a new member first."
            )
        self._trigger(KsmMemberLeft(**self._ids, household_id=household_id, left_on=left_on, reason=reason))
        self._reassess(rules, parameters_version)

    def flag_off_ps2(
        self, household_id: uuid.UUID, reason: str, rules: KsmRules, parameters_version: int
    ) -> bool:
        """The household left the PS-2 list: flag it if it is a member (False if nothing to do)."""
        if household_id not in self.members or household_id in self.flagged:
            return False
        self._trigger(KsmMemberFlagged(**self._ids, household_id=household_id, reason=reason))
        self._reassess(rules, parameters_version)
        return True

    def clear_flag(self, household_id: uuid.UUID, rules: KsmRules, parameters_version: int) -> bool:
        if household_id not in self.flagged:
            return False
        self._trigger(KsmMemberFlagCleared(**self._ids, household_id=household_id))
        self._reassess(rules, parameters_version)
        return True

    def record_savings(
        self, month: str, amount_rupiah: int, today: date, rules: KsmRules, parameters_version: int
    ) -> None:
        self._after_registration(None, "record savings")
        if month > today.strftime("%Y-%m"):
            raise InvalidInput(f"{month} has not begun; savings are recorded for months that have.")
        assert self.registered_on is not None
        if month < self.registered_on.strftime("%Y-%m"):
            raise InvalidInput(f"{self.label} was registered on {self.registered_on}, after {month}.")
        if month in self.savings:
            raise Conflict(f"The savings of {self.label} for {month} were already recorded.")
        self._trigger(KsmSavingsRecorded(**self._ids, month=month, amount_rupiah=amount_rupiah))
        self._reassess(rules, parameters_version)

    def record_joint_liability(
        self, signed_on: date, document: str, signatories: int, rules: KsmRules, parameters_version: int
    ) -> None:
        self._after_registration(signed_on, "sign a joint-liability statement")
        if signatories != len(self.members):
            raise InvalidInput(
                f"Every member signs the joint-liability statement: {len(self.members)} members, "
                f"{signatories} signatures."
            )
        self._trigger(
            KsmJointLiabilityRecorded(
                **self._ids, signed_on=signed_on, document=document, signatories=signatories
            )
        )
        self._reassess(rules, parameters_version)

    def record_training(
        self, module_code: str, completed_on: date, rules: KsmRules, parameters_version: int
    ) -> None:
        self._after_registration(completed_on, "record a training")
        if module_code in self.trainings:
            raise Conflict(
                f"{self.label} already completed training {module_code} on {self.trainings[module_code]}."
            )
        self._trigger(KsmTrainingRecorded(**self._ids, module_code=module_code, completed_on=completed_on))
        self._reassess(rules, parameters_version)

    def _after_registration(self, day: date | None, doing: str) -> None:
        assert self.exists and self.registered_on is not None
        if day is not None and day < self.registered_on:
            raise InvalidInput(
                f"{self.label} was registered on {self.registered_on}; it cannot {doing} on {day}."
            )

    # --- loan eligibility -------------------------------------------------------------------------------

    @property
    def savings_months(self) -> int:
        """Consecutive months with savings, counting back from the last month recorded (a month recorded
        with nothing saved ends the run)."""
        if not self.savings:
            return 0
        year, month = map(int, max(self.savings).split("-"))
        run = 0
        while self.savings.get(f"{year:04d}-{month:02d}", 0) > 0:
            run += 1
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return run

    def assess(self, rules: KsmRules, parameters_version: int) -> tuple[list[str], EligibilitySnapshot]:
        members = len(self.members)
        women = sum(self.members.values())
        women_pct = round(100 * women / members, 1) if members else 0.0
        snapshot = EligibilitySnapshot(
            members=members,
            women=women,
            women_pct=women_pct,
            members_off_ps2=len(self.flagged),
            savings_months=self.savings_months,
            joint_liability_signed_on=self.joint_liability_signed_on,
            trainings=tuple(sorted(self.trainings)),
            parameters_version=parameters_version,
        )
        unmet = []
        if members < rules.members_min:
            unmet.append(f"at least {rules.members_min} members (now {members})")
        if women_pct < rules.women_min_pct:
            unmet.append(f"at least {rules.women_min_pct} % women (now {women_pct:g} %)")
        if self.flagged:
            unmet.append(f"every member on the PS-2 list ({len(self.flagged)} no longer are)")
        if snapshot.savings_months < rules.savings_months_min:
            unmet.append(
                f"group savings in {rules.savings_months_min} consecutive months "
                f"(now {snapshot.savings_months})"
            )
        signed = self.joint_liability_signed_on
        if signed is None:
            unmet.append("a signed joint-liability statement (tanggung renteng)")
        elif self.membership_changed_on and signed < self.membership_changed_on:
            unmet.append(
                "a joint-liability statement signed since the membership changed "
                f"on {self.membership_changed_on}"
            )
        missing = [m for m in rules.loan_training_modules if m not in self.trainings]
        if missing:
            unmet.append(f"training in {', '.join(missing)}")
        return unmet, snapshot

    def _reassess(self, rules: KsmRules, parameters_version: int) -> None:
        if self.type is not KsmType.EKONOMI:
            return  # only a KSM ekonomi borrows from the revolving fund
        unmet, snapshot = self.assess(rules, parameters_version)
        last = self.eligibility
        if last is not None and last.eligible == (not unmet) and list(last.unmet) == unmet:
            return
        self._trigger(
            KsmLoanEligibilityChanged(**self._ids, eligible=not unmet, unmet=tuple(unmet), snapshot=snapshot)
        )

    # --- events ---------------------------------------------------------------------------------------

    def _membership_changed(self, day: date) -> None:
        """The latest change counts, whatever order changes were recorded in: a back-dated departure
        must not hide a later join from the joint-liability statement."""
        self.membership_changed_on = max(self.membership_changed_on or day, day)

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case KsmRegistered():
                self.period_code, self.kelurahan_code = event.period_code, event.kelurahan_code
                self.name, self.type, self.registered_on = event.name, event.type, event.registered_on
                self.members = {m.household_id: m.woman for m in event.members}
                self.membership_changed_on = event.registered_on
            case KsmMemberJoined(member=member, joined_on=day):
                self.members[member.household_id] = member.woman
                self._membership_changed(day)
            case KsmMemberLeft(household_id=household, left_on=day):
                del self.members[household]
                self.flagged.pop(household, None)
                self._membership_changed(day)
            case KsmMemberFlagged(household_id=household, reason=reason):
                self.flagged[household] = reason
            case KsmMemberFlagCleared(household_id=household):
                self.flagged.pop(household, None)
            case KsmSavingsRecorded(month=month, amount_rupiah=amount):
                self.savings[month] = amount
            case KsmJointLiabilityRecorded(signed_on=day):
                self.joint_liability_signed_on = day
            case KsmTrainingRecorded(module_code=code, completed_on=day):
                self.trainings[code] = day
            case KsmLoanEligibilityChanged():
                self.eligibility = event
