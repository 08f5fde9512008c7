"""The community cycle (siklus) of one kelurahan in one program period, its BKM included.

    sosialisasi awal → RKM ─accepted→ relawan → refleksi kemiskinan → pemetaan swadaya (PS-2)
      → BKM election (utusan per RT/RW, then members by secret ballot) → UPK/UPL/UPS → PJM (3 years)
      → Renta each year, review partisipatif each year from year 2
      → year 4: BKM re-election and a new PJM, as in year 1.

A step whose prerequisite is missing is a 409 naming that step; an RKM rejection ends the cycle. Day 0
of year 1 is the sosialisasi awal. The BKM lives in the same stream because its elections are steps of
the cycle and their order is the cycle's: one stream, one version, no cross-stream consistency to keep.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from shared.aggregate import Aggregate
from shared.contracts.cycle import Progress as Progress
from shared.contracts.cycle import ScheduleItem as ScheduleItem
from shared.contracts.cycle import Step, schedule
from shared.contracts.institutions import (
    BkmConstituted,
    BkmCoordinatorChosen,
    BkmMemberReplaced,
    ElectedMember,
    Meeting,
    PemetaanSwadayaCompleted,
    Person,
    PjmApproved,
    RefleksiKemiskinanHeld,
    RelawanRegistered,
    RentaApproved,
    ReviewPartisipatifHeld,
    RkmDecision,
    RkmHeld,
    SosialisasiAwalHeld,
    Unit,
    UnitPengelolaFormed,
    UtusanElected,
)
from shared.contracts.targeting import BkmRules, CycleRules
from shared.errors import Conflict, InvalidInput
from shared.events import DomainEvent

LABEL = {
    Step.SOSIALISASI_AWAL: "sosialisasi awal",
    Step.RKM: "RKM (Rembug Kesiapan Masyarakat)",
    Step.RELAWAN: "registration of relawan",
    Step.REFLEKSI_KEMISKINAN: "Refleksi Kemiskinan",
    Step.PEMETAAN_SWADAYA: "Pemetaan Swadaya",
    Step.BKM_ELECTION: "BKM election",
    Step.UNIT_PENGELOLA: "forming of UPK, UPL and UPS",
    Step.PJM: "PJM Pronangkis",
    Step.RENTA: "Renta Pronangkis",
    Step.REVIEW_PARTISIPATIF: "Review Partisipatif",
    Step.BKM_REELECTION: "BKM re-election",
    Step.PJM_RENEWAL: "new PJM Pronangkis",
}
# What each once-per-cycle step needs before it (yearly steps and re-elections have their own rules).
PREREQUISITE = {
    Step.RKM: Step.SOSIALISASI_AWAL,
    Step.RELAWAN: Step.RKM,
    Step.REFLEKSI_KEMISKINAN: Step.RELAWAN,
    Step.PEMETAAN_SWADAYA: Step.REFLEKSI_KEMISKINAN,
    Step.BKM_ELECTION: Step.PEMETAAN_SWADAYA,
    Step.UNIT_PENGELOLA: Step.BKM_ELECTION,
    Step.PJM: Step.UNIT_PENGELOLA,
    Step.RENTA: Step.PJM,
    Step.REVIEW_PARTISIPATIF: Step.RENTA,
    Step.BKM_REELECTION: Step.BKM_ELECTION,
    Step.PJM_RENEWAL: Step.BKM_REELECTION,
}
REELECTION_YEAR = 4
PJM_YEARS = 3
UNIT_STAFF_MIN = 3


class Status(StrEnum):
    NOT_STARTED = "not started"
    IN_PROGRESS = "in progress"
    REJECTED = "rejected at RKM"


class BkmStatus(StrEnum):
    NOT_FORMED = "not formed"
    ACTIVE = "active"
    EXPIRED = "expired"  # the term lapsed without a re-election


@dataclass(frozen=True)
class Candidate:
    """A BKM member as elected, with the checks the rules need (attested at the election)."""

    person_id: uuid.UUID
    votes: int
    literate: bool
    party_member: bool


@dataclass
class Bkm:
    election: int
    members: dict[uuid.UUID, bool]  # person id -> woman
    coordinator: uuid.UUID
    term_starts_on: date
    term_ends_on: date
    women_below_target: bool

    def status(self, on: date) -> BkmStatus:
        return BkmStatus.ACTIVE if on < self.term_ends_on else BkmStatus.EXPIRED


def not_in_future(day: date, what: str, today: date) -> None:
    if day > today:
        raise InvalidInput(f"The {what} date {day} is in the future; record a step once it has happened.")


@dataclass
class KelurahanCycle(Aggregate):
    period_code: str
    kelurahan_code: str
    parameters_version: int | None = None
    done: dict[Step, date] = field(default_factory=dict)
    rkm: RkmHeld | None = None
    relawan: dict[uuid.UUID, bool] = field(default_factory=dict)
    ps2_version: int | None = None
    utusan: dict[int, dict[uuid.UUID, bool]] = field(default_factory=dict)  # election -> person -> woman
    utusan_rt_rw: dict[int, set[str]] = field(default_factory=dict)
    bkm: Bkm | None = None
    units: dict[Unit, date] = field(default_factory=dict)
    pjm_years: list[tuple[int, int]] = field(default_factory=list)  # (first year, last year) per plan
    renta: dict[int, date] = field(default_factory=dict)
    reviews: dict[int, date] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return f"cycle-{self.period_code}-{self.kelurahan_code}"

    @property
    def city_code(self) -> str:
        return self.kelurahan_code[:5]

    @property
    def name(self) -> str:
        return f"Kelurahan {self.kelurahan_code} ({self.period_code})"

    @property
    def started_on(self) -> date | None:
        return self.done.get(Step.SOSIALISASI_AWAL)

    @property
    def status(self) -> Status:
        if self.rkm is not None and self.rkm.decision is RkmDecision.REJECTED:
            return Status.REJECTED
        return Status.IN_PROGRESS if self.started_on else Status.NOT_STARTED

    def year_of(self, day: date) -> int:
        """The cycle year ``day`` falls in: year 1 starts at the sosialisasi awal."""
        assert self.started_on is not None
        return max(1, (day - self.started_on).days // 365 + 1)

    @property
    def next_election(self) -> int:
        return self.bkm.election + 1 if self.bkm else 1

    # --- checks --------------------------------------------------------------------------------------

    def _require(self, step: Step, before: Step | str, day: date) -> None:
        """409 naming ``step`` unless it was recorded, on or before ``day``."""
        doing = LABEL[before] if isinstance(before, Step) else before
        if self.status is Status.REJECTED and step is not Step.SOSIALISASI_AWAL:
            assert self.rkm is not None
            raise Conflict(
                f"The community of {self.name} rejected the program at the RKM on "
                f"{self.rkm.meeting.held_on} (berita acara {self.rkm.meeting.berita_acara}); "
                "the cycle of this period has ended."
            )
        if step not in self.done:
            raise Conflict(
                f"The {LABEL[step]} of {self.name} has not been recorded; it must come before the {doing}."
            )
        if day < self.done[step]:
            raise Conflict(
                f"The {doing} on {day} would come before the {LABEL[step]} of {self.name} "
                f"({self.done[step]}); check the date."
            )

    def _once(self, step: Step) -> None:
        if step in self.done:
            raise Conflict(f"The {LABEL[step]} of {self.name} was already recorded on {self.done[step]}.")

    def _in_effect(self, step: Step, day: date) -> None:
        self._once(step)
        self._require(PREREQUISITE[step], step, day)

    # --- steps of year 1 ---------------------------------------------------------------------------------

    def hold_sosialisasi(self, meeting: Meeting, parameters_version: int, today: date) -> None:
        not_in_future(meeting.held_on, "sosialisasi", today)
        self._once(Step.SOSIALISASI_AWAL)
        self._trigger(
            SosialisasiAwalHeld(**self._ids, meeting=meeting, parameters_version=parameters_version)
        )

    def hold_rkm(
        self, meeting: Meeting, decision: RkmDecision, request_letter: str | None, today: date
    ) -> None:
        not_in_future(meeting.held_on, "RKM", today)
        self._in_effect(Step.RKM, meeting.held_on)
        if decision is RkmDecision.ACCEPTED and not request_letter:
            raise InvalidInput(
                "An accepting RKM sends a request for technical assistance: give its letter number."
            )
        self._trigger(RkmHeld(**self._ids, meeting=meeting, decision=decision, request_letter=request_letter))

    def register_relawan(self, registered_on: date, relawan: list[Person], today: date) -> None:
        not_in_future(registered_on, "registration", today)
        self._require(Step.RKM, Step.RELAWAN, registered_on)
        _distinct([p.person_id for p in relawan], "relawan")
        again = [str(p.person_id) for p in relawan if p.person_id in self.relawan]
        if again:
            raise Conflict(f"Already registered as relawan of {self.name}: {', '.join(again)}.")
        self._trigger(RelawanRegistered(**self._ids, registered_on=registered_on, relawan=tuple(relawan)))

    def hold_refleksi(self, meeting: Meeting, today: date) -> None:
        not_in_future(meeting.held_on, "Refleksi Kemiskinan", today)
        self._in_effect(Step.REFLEKSI_KEMISKINAN, meeting.held_on)
        self._trigger(RefleksiKemiskinanHeld(**self._ids, meeting=meeting))

    def complete_pemetaan(self, meeting: Meeting, ps2_version: int, published: set[int], today: date) -> None:
        """``published``: the PS-2 versions the targeting service published for this kelurahan."""
        not_in_future(meeting.held_on, "Pemetaan Swadaya", today)
        self._in_effect(Step.PEMETAAN_SWADAYA, meeting.held_on)
        if ps2_version not in published:
            known = ", ".join(map(str, sorted(published))) or "none yet"
            raise Conflict(
                f"PS-2 version {ps2_version} of {self.name} has not been published by the targeting "
                f"service (published versions: {known})."
            )
        self._trigger(PemetaanSwadayaCompleted(**self._ids, meeting=meeting, ps2_version=ps2_version))

    # --- the BKM -----------------------------------------------------------------------------------------

    def _election_allowed(self, election: int, day: date) -> None:
        if election != self.next_election:
            raise Conflict(
                f"The next BKM election of {self.name} is election {self.next_election}, not {election}."
            )
        if election == 1:
            self._require(Step.PEMETAAN_SWADAYA, Step.BKM_ELECTION, day)
        else:
            self._require(Step.BKM_ELECTION, Step.BKM_REELECTION, day)
            year = self.year_of(day)
            if year < REELECTION_YEAR * (election - 1):
                raise Conflict(
                    f"The BKM of {self.name} is re-elected in year {REELECTION_YEAR * (election - 1)} of "
                    f"the cycle; {day} is in year {year}."
                )

    def elect_utusan(
        self, election: int, rt_rw: str, held_on: date, voters: int, utusan: list[Person], today: date
    ) -> None:
        not_in_future(held_on, "utusan election", today)
        self._election_allowed(election, held_on)
        if rt_rw in self.utusan_rt_rw.get(election, set()):
            raise Conflict(f"{rt_rw} of {self.name} already elected its utusan for election {election}.")
        _distinct([p.person_id for p in utusan], "utusan")
        again = [str(p.person_id) for p in utusan if p.person_id in self.utusan.get(election, {})]
        if again:
            raise Conflict(f"Already elected utusan in election {election}: {', '.join(again)}.")
        self._trigger(
            UtusanElected(
                **self._ids,
                election=election,
                rt_rw=rt_rw,
                held_on=held_on,
                voters=voters,
                utusan=tuple(utusan),
            )
        )

    def constitute_bkm(
        self,
        election: int,
        meeting: Meeting,
        ballots_cast: int,
        candidates: list[Candidate],
        coordinator: uuid.UUID,
        anggaran_dasar: str,
        rules: BkmRules,
        parameters_version: int,
        today: date,
    ) -> None:
        day = meeting.held_on
        not_in_future(day, "BKM election", today)
        self._election_allowed(election, day)
        utusan = self.utusan.get(election, {})
        if not utusan:
            raise Conflict(
                f"No utusan warga of {self.name} were elected for election {election}: the RT/RW elect "
                "their utusan first, and the BKM members are elected from among them."
            )
        ids = [c.person_id for c in candidates]
        _distinct(ids, "members")
        strangers = [str(i) for i in ids if i not in utusan]
        if strangers:
            raise Conflict(
                f"BKM members are elected from the utusan warga; not an utusan of election {election}: "
                f"{', '.join(strangers)}."
            )
        size = len(candidates)
        if not rules.members_min <= size <= rules.members_max or (rules.members_odd and size % 2 == 0):
            odd = ", an odd number" if rules.members_odd else ""
            raise InvalidInput(
                f"A BKM has {rules.members_min} to {rules.members_max} members{odd} "
                f"(parameters version {parameters_version}); {size} were elected."
            )
        if ballots_cast > len(utusan):
            raise InvalidInput(
                f"{ballots_cast} ballots were cast but election {election} has only {len(utusan)} utusan."
            )
        too_many = [str(c.person_id) for c in candidates if c.votes > ballots_cast]
        if too_many:
            raise InvalidInput(f"More votes than ballots cast ({ballots_cast}) for: {', '.join(too_many)}.")
        barred = [str(c.person_id) for c in candidates if c.party_member or not c.literate]
        if barred:
            raise InvalidInput(
                "BKM members must be literate and may not be members of a political party; "
                f"not eligible: {', '.join(barred)}."
            )
        if coordinator not in ids:
            raise InvalidInput("The coordinator is chosen from among the elected members.")
        women = sum(utusan[i] for i in ids)
        women_pct = round(100 * women / size, 1)
        term_ends_on = _add_years(day, rules.term_years)
        self._trigger(
            BkmConstituted(
                **self._ids,
                election=election,
                meeting=meeting,
                ballots_cast=ballots_cast,
                members=tuple(
                    ElectedMember(person_id=c.person_id, woman=utusan[c.person_id], votes=c.votes)
                    for c in candidates
                ),
                coordinator=coordinator,
                anggaran_dasar=anggaran_dasar,
                term_starts_on=day,
                term_ends_on=term_ends_on,
                women_pct=women_pct,
                women_below_target=women_pct < rules.women_target_pct,
                parameters_version=parameters_version,
            )
        )

    def _current_bkm(self, day: date, doing: str) -> Bkm:
        if self.bkm is None:
            raise Conflict(f"The {LABEL[Step.BKM_ELECTION]} of {self.name} has not been recorded; {doing}.")
        if self.bkm.status(day) is BkmStatus.EXPIRED:
            raise Conflict(
                f"The BKM term of {self.name} ended on {self.bkm.term_ends_on} without a re-election; "
                f"{doing} after the BKM is re-elected."
            )
        if day < self.bkm.term_starts_on:
            raise Conflict(f"{day} is before the BKM of {self.name} was elected ({self.bkm.term_starts_on}).")
        return self.bkm

    def replace_member(
        self,
        leaving: uuid.UUID,
        joining: uuid.UUID,
        reason: str,
        replaced_on: date,
        berita_acara: str,
        coordinator: uuid.UUID | None,
        today: date,
    ) -> None:
        not_in_future(replaced_on, "replacement", today)
        bkm = self._current_bkm(replaced_on, "a member can be replaced (PAW)")
        if leaving not in bkm.members:
            raise Conflict(f"{leaving} is not a member of the BKM of {self.name}.")
        utusan = self.utusan[bkm.election]
        if joining not in utusan:
            raise Conflict(
                f"A replacement (PAW) comes from the utusan warga of election {bkm.election}; "
                f"{joining} is not one."
            )
        if joining in bkm.members:
            raise Conflict(f"{joining} is already a member of the BKM of {self.name}.")
        remaining = set(bkm.members) - {leaving} | {joining}
        if leaving == bkm.coordinator and coordinator is None:
            raise InvalidInput("The leaving member is the coordinator: name the new coordinator too.")
        if coordinator is not None and coordinator not in remaining:
            raise InvalidInput("The coordinator is chosen from among the BKM's members.")
        self._trigger(
            BkmMemberReplaced(
                **self._ids,
                election=bkm.election,
                leaving=leaving,
                joining=Person(person_id=joining, woman=utusan[joining]),
                reason=reason,
                replaced_on=replaced_on,
                berita_acara=berita_acara,
            )
        )
        if coordinator is not None and coordinator != bkm.coordinator:
            self._trigger(
                BkmCoordinatorChosen(
                    **self._ids, election=bkm.election, coordinator=coordinator, chosen_on=replaced_on
                )
            )

    def choose_coordinator(self, coordinator: uuid.UUID, chosen_on: date, today: date) -> None:
        not_in_future(chosen_on, "coordinator's", today)
        bkm = self._current_bkm(chosen_on, "a coordinator can be chosen")
        if coordinator not in bkm.members:
            raise InvalidInput("The coordinator is chosen from among the BKM's members.")
        if coordinator == bkm.coordinator:
            raise Conflict(f"{coordinator} is already the coordinator of the BKM of {self.name}.")
        self._trigger(
            BkmCoordinatorChosen(
                **self._ids, election=bkm.election, coordinator=coordinator, chosen_on=chosen_on
            )
        )

    def require_bkm(self, day: date, doing: str) -> None:
        """For other aggregates (a KSM needs its kelurahan's BKM): 409 unless a BKM is in term."""
        self._current_bkm(day, doing)

    # --- units, plans, reviews ------------------------------------------------------------------------------

    def form_unit(
        self, unit: Unit, formed_on: date, sk_number: str, staff: list[uuid.UUID], today: date
    ) -> None:
        not_in_future(formed_on, f"{unit} formation", today)
        self._require(Step.BKM_ELECTION, Step.UNIT_PENGELOLA, formed_on)
        if unit in self.units:
            raise Conflict(f"The {unit} of {self.name} was already formed on {self.units[unit]}.")
        _distinct(staff, "staff")
        if len(staff) < UNIT_STAFF_MIN:
            raise InvalidInput(f"A unit ({unit}) has at least {UNIT_STAFF_MIN} people; {len(staff)} given.")
        self._trigger(
            UnitPengelolaFormed(
                **self._ids, unit=unit, formed_on=formed_on, sk_number=sk_number, staff=tuple(staff)
            )
        )

    def approve_pjm(self, meeting: Meeting, document: str, today: date) -> None:
        day = meeting.held_on
        not_in_future(day, "PJM", today)
        if not self.pjm_years:
            self._in_effect(Step.PJM, day)
            first_year = 1
        else:
            self._in_effect(Step.PJM_RENEWAL, day)
            first_year = self.pjm_years[-1][1] + 1
            if self.year_of(day) < first_year - 1:
                raise Conflict(
                    f"The new PJM of {self.name} is made in the last year of the current one "
                    f"(year {first_year - 1}); {day} is in year {self.year_of(day)}."
                )
        self._trigger(
            PjmApproved(
                **self._ids, meeting=meeting, first_year=first_year, years=PJM_YEARS, document=document
            )
        )

    def approve_renta(self, year: int, approved_on: date, document: str, today: date) -> None:
        not_in_future(approved_on, "Renta", today)
        self._require(Step.PJM, Step.RENTA, approved_on)
        if year in self.renta:
            raise Conflict(f"The Renta of year {year} of {self.name} was approved on {self.renta[year]}.")
        if not any(first <= year <= last for first, last in self.pjm_years):
            covered = ", ".join(f"years {a} to {b}" for a, b in self.pjm_years)
            raise Conflict(
                f"No approved PJM of {self.name} covers year {year} (the PJM covers {covered}); "
                f"the {LABEL[Step.PJM_RENEWAL]} comes first."
            )
        if year > self.year_of(approved_on) + 1:
            raise Conflict(
                f"{approved_on} is in year {self.year_of(approved_on)} of the cycle; a Renta is approved "
                f"for the current or the coming year, not year {year}."
            )
        self._trigger(RentaApproved(**self._ids, year=year, approved_on=approved_on, document=document))

    def hold_review(self, year: int, meeting: Meeting, findings: str, today: date) -> None:
        day = meeting.held_on
        not_in_future(day, "review", today)
        self._require(Step.RENTA, Step.REVIEW_PARTISIPATIF, day)
        if year in self.reviews:
            raise Conflict(f"The review of year {year} of {self.name} was held on {self.reviews[year]}.")
        if self.year_of(day) < year:
            raise Conflict(f"{day} is in year {self.year_of(day)} of the cycle, before year {year}.")
        if year - 1 not in self.renta:
            raise Conflict(
                f"The review of year {year} looks back on the Renta of year {year - 1}, "
                "which was not approved."
            )
        self._trigger(ReviewPartisipatifHeld(**self._ids, year=year, meeting=meeting, findings=findings))

    # --- the schedule ------------------------------------------------------------------------------------

    def schedule(
        self, rules: CycleRules, targeted_on: date | None, today: date, period_ends_on: date | None = None
    ) -> list[ScheduleItem]:
        """Every step expected by ``today`` or within a year of it (and within the program period), with
        how late each is or was (``shared.contracts.cycle.schedule``, which the dashboard uses too)."""
        yearly = {Step.RENTA: self.renta, Step.REVIEW_PARTISIPATIF: self.reviews}
        rejected = self.status is Status.REJECTED
        return schedule(rules.schedule_days, targeted_on, self.done, yearly, rejected, today, period_ends_on)

    # --- events ---------------------------------------------------------------------------------------------

    @property
    def _ids(self) -> dict[str, str]:
        return {"period_code": self.period_code, "kelurahan_code": self.kelurahan_code}

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case SosialisasiAwalHeld(meeting=meeting, parameters_version=version):
                self.done[Step.SOSIALISASI_AWAL] = meeting.held_on
                self.parameters_version = version
            case RkmHeld(meeting=meeting):
                self.rkm = event
                self.done[Step.RKM] = meeting.held_on
            case RelawanRegistered(registered_on=day, relawan=relawan):
                self.done.setdefault(Step.RELAWAN, day)
                self.relawan.update({p.person_id: p.woman for p in relawan})
            case RefleksiKemiskinanHeld(meeting=meeting):
                self.done[Step.REFLEKSI_KEMISKINAN] = meeting.held_on
            case PemetaanSwadayaCompleted(meeting=meeting, ps2_version=version):
                self.done[Step.PEMETAAN_SWADAYA] = meeting.held_on
                self.ps2_version = version
            case UtusanElected(election=election, rt_rw=rt_rw, utusan=utusan):
                self.utusan.setdefault(election, {}).update({p.person_id: p.woman for p in utusan})
                self.utusan_rt_rw.setdefault(election, set()).add(rt_rw)
            case BkmConstituted(election=election, meeting=meeting):
                self.done[Step.BKM_ELECTION if election == 1 else Step.BKM_REELECTION] = meeting.held_on
                self.bkm = Bkm(
                    election=election,
                    members={m.person_id: m.woman for m in event.members},
                    coordinator=event.coordinator,
                    term_starts_on=event.term_starts_on,
                    term_ends_on=event.term_ends_on,
                    women_below_target=event.women_below_target,
                )
            case BkmMemberReplaced(leaving=leaving, joining=joining):
                assert self.bkm is not None
                del self.bkm.members[leaving]
                self.bkm.members[joining.person_id] = joining.woman
            case BkmCoordinatorChosen(coordinator=coordinator):
                assert self.bkm is not None
                self.bkm.coordinator = coordinator
            case UnitPengelolaFormed(unit=unit, formed_on=day):
                self.units[unit] = day
                if len(self.units) == len(Unit):
                    self.done[Step.UNIT_PENGELOLA] = max(self.units.values())
            case PjmApproved(meeting=meeting, first_year=first, years=years):
                self.done[Step.PJM if first == 1 else Step.PJM_RENEWAL] = meeting.held_on
                self.pjm_years.append((first, first + years - 1))
            case RentaApproved(year=year, approved_on=day):
                self.renta[year] = day
                self.done.setdefault(Step.RENTA, day)
            case ReviewPartisipatifHeld(year=year, meeting=meeting):
                self.reviews[year] = meeting.held_on
                self.done.setdefault(Step.REVIEW_PARTISIPATIF, meeting.held_on)


def _distinct(ids: list[uuid.UUID], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"The same person appears twice among the {what}.")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
