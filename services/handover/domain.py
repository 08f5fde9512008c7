"""A city's handover (alih kelola), one stream per city:

    not started → assessed → agreed → parallel run → transferred → sustained
                  (scorecard) (MoU, Perwal/Perda,  (both sides   (checklist     (the city's
                               DDUB commitment)    sign)         handed over;   periodic
                                                                 authority      reports)
                                                                 moves)

A hold stops every step but a resume or a rollback; a rollback goes back to an earlier stage with its
reason, and from the transfer on it returns write authority to the national program. Anything else is
a 409 that names the stage. The attestations of the readiness criteria judged by people live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.aggregate import Aggregate
from shared.contracts.handover import (
    ATTESTED,
    AuthorityReturned,
    AuthorityTransferred,
    Criterion,
    CriterionResult,
    HandoverAgreed,
    HandoverCompleted,
    HandoverHeld,
    HandoverResumed,
    HandoverRolledBack,
    Instrument,
    Item,
    ItemTransferred,
    ParallelRunSigned,
    ParallelRunStarted,
    ReadinessAssessed,
    ReadinessAttested,
    Side,
    Stage,
    SustainabilityReported,
)
from shared.errors import Conflict, InvalidInput
from shared.events import DomainEvent

ORDER = list(Stage)


@dataclass
class Handover(Aggregate):
    city: str
    stage: Stage = Stage.NOT_STARTED
    held: HandoverHeld | None = None
    last_on: date | None = None
    assessment: ReadinessAssessed | None = None
    agreement: HandoverAgreed | None = None
    signatures: dict[Side, ParallelRunSigned] = field(default_factory=dict)
    items: dict[Item, ItemTransferred] = field(default_factory=dict)
    reports: dict[str, SustainabilityReported] = field(default_factory=dict)
    # (period, criterion) -> attestations, oldest first: readiness as of a day takes the last one by then
    attestations: dict[tuple[str, Criterion], list[ReadinessAttested]] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return f"handover-{self.city}"

    @property
    def city_code(self) -> str:
        return self.city

    @property
    def label(self) -> str:
        return f"The handover of {self.city}"

    # --- checks ----------------------------------------------------------------------------------------

    def _step(self, on: date, today: date, *allowed: Stage, doing: str) -> None:
        if on > today:
            raise InvalidInput(f"{on} is in the future; record a step once it has happened.")
        if self.held is not None:
            raise Conflict(
                f"{self.label} is on hold since {self.held.held_on} ({self.held.reason}); resume it first."
            )
        if self.stage not in allowed:
            wanted = " or ".join(str(s) for s in allowed)
            raise Conflict(f"{self.label} is {self.stage}; it can {doing} only when {wanted}.")
        if self.last_on is not None and on < self.last_on:
            raise InvalidInput(f"{on} is before the handover's last step ({self.last_on}).")

    # --- readiness --------------------------------------------------------------------------------------

    def attest(
        self, period_code: str, criterion: Criterion, met: bool, evidence: str, on: date, today: date
    ) -> None:
        if criterion not in ATTESTED:
            raise InvalidInput(
                f"{criterion} is computed from the services' events; it is not attested by hand."
            )
        if on > today:
            raise InvalidInput(f"{on} is in the future.")
        self._trigger(
            ReadinessAttested(
                city_code=self.city,
                period_code=period_code,
                criterion=criterion,
                met=met,
                evidence=evidence,
                attested_on=on,
            )
        )

    def attested(self, period_code: str, criterion: Criterion, on: date) -> ReadinessAttested | None:
        found = [a for a in self.attestations.get((period_code, criterion), []) if a.attested_on <= on]
        # The latest day's last word: a correction recorded the same day replaces the first.
        return sorted(found, key=lambda a: a.attested_on)[-1] if found else None

    def assess(
        self, period_code: str, criteria: list[CriterionResult], version: int, on: date, today: date
    ) -> None:
        self._step(on, today, Stage.NOT_STARTED, Stage.ASSESSED, doing="be assessed")
        self._trigger(
            ReadinessAssessed(
                city_code=self.city,
                period_code=period_code,
                assessed_on=on,
                scorecard_version=version,
                criteria=tuple(criteria),
            )
        )

    # --- the process ------------------------------------------------------------------------------------

    def agree(self, instruments: list[Instrument], ddub_pct: int, on: date, today: date) -> None:
        self._step(on, today, Stage.ASSESSED, doing="be agreed")
        self._trigger(
            HandoverAgreed(
                city_code=self.city,
                instruments=tuple(instruments),
                ddub_commitment_pct=ddub_pct,
                agreed_on=on,
            )
        )

    def start_parallel_run(self, on: date, today: date) -> None:
        self._step(on, today, Stage.AGREED, doing="start its parallel run")
        self._trigger(ParallelRunStarted(city_code=self.city, started_on=on))

    def sign(self, side: Side, by: str, on: date, today: date) -> None:
        self._step(on, today, Stage.PARALLEL_RUN, doing=f"be signed by the {side}")
        if side in self.signatures:
            s = self.signatures[side]
            raise Conflict(
                f"The {side} signed the parallel run of {self.city} on {s.signed_on} ({s.signed_by})."
            )
        self._trigger(ParallelRunSigned(city_code=self.city, side=side, signed_by=by, signed_on=on))

    def transfer_item(
        self, item: Item, handed_by: str, received_by: str, document: str, on: date, today: date
    ) -> None:
        self._step(on, today, Stage.PARALLEL_RUN, doing="hand items over")
        if item in self.items:
            raise Conflict(
                f"The {item} of {self.city} were handed over on {self.items[item].transferred_on}."
            )
        self._trigger(
            ItemTransferred(
                city_code=self.city,
                item=item,
                handed_by=handed_by,
                received_by=received_by,
                transferred_on=on,
                document=document,
            )
        )

    def missing_for_transfer(self) -> list[str]:
        missing = [
            f"the {side}' signature" if side is Side.CONSULTANTS else "the city's signature"
            for side in Side
            if side not in self.signatures
        ]
        missing += [f"the handing over of the {item}" for item in Item if item not in self.items]
        return missing

    def complete(self, on: date, today: date) -> None:
        self._step(on, today, Stage.PARALLEL_RUN, doing="be completed")
        missing = self.missing_for_transfer()
        if missing:
            raise Conflict(f"{self.label} cannot be completed yet: it needs {', '.join(missing)}.")
        assert self.agreement is not None
        instrument = "; ".join(f"{i.kind} {i.reference}" for i in self.agreement.instruments)[:200]
        self._trigger(HandoverCompleted(city_code=self.city, completed_on=on))
        self._trigger(AuthorityTransferred(city_code=self.city, instrument=instrument))

    def report(self, period_label: str, document: str, on: date, today: date) -> None:
        self._step(on, today, Stage.TRANSFERRED, Stage.SUSTAINED, doing="report")
        if period_label in self.reports:
            earlier = self.reports[period_label].submitted_on
            raise Conflict(f"{self.city} already reported for {period_label} (on {earlier}).")
        self._trigger(
            SustainabilityReported(
                city_code=self.city, period_label=period_label, submitted_on=on, document=document
            )
        )

    def hold(self, reason: str, on: date, today: date) -> None:
        self._step(on, today, Stage.ASSESSED, Stage.AGREED, Stage.PARALLEL_RUN, doing="be put on hold")
        self._trigger(HandoverHeld(city_code=self.city, reason=reason, held_on=on))

    def resume(self, on: date, today: date) -> None:
        if self.held is None:
            raise Conflict(f"{self.label} is not on hold.")
        if on < self.held.held_on or on > today:
            raise InvalidInput(f"{on} is not between the hold ({self.held.held_on}) and today.")
        self._trigger(HandoverResumed(city_code=self.city, resumed_on=on))

    def roll_back(self, to: Stage, reason: str, on: date, today: date) -> None:
        if on > today:
            raise InvalidInput(f"{on} is in the future.")
        if self.last_on is not None and on < self.last_on:
            raise InvalidInput(f"{on} is before the handover's last step ({self.last_on}).")
        was = ORDER.index(self.stage)
        if not ORDER.index(Stage.ASSESSED) <= ORDER.index(to) < was:
            raise Conflict(
                f"{self.label} is {self.stage}; it can only go back to an earlier stage, from assessed on."
            )
        self._trigger(HandoverRolledBack(city_code=self.city, to_stage=to, reason=reason, rolled_back_on=on))
        if was >= ORDER.index(Stage.TRANSFERRED) > ORDER.index(to):
            self._trigger(AuthorityReturned(city_code=self.city, reason=reason))

    # --- events -------------------------------------------------------------------------------------------

    def _apply(self, event: DomainEvent) -> None:
        for name in ("assessed_on", "agreed_on", "started_on", "signed_on", "transferred_on", "completed_on",
                     "submitted_on", "held_on", "resumed_on", "rolled_back_on"):  # fmt: skip
            if (day := getattr(event, name, None)) is not None:
                self.last_on = max(self.last_on or day, day)
        match event:
            case ReadinessAttested(period_code=period, criterion=criterion):
                self.attestations.setdefault((period, criterion), []).append(event)
            case ReadinessAssessed():
                self.assessment, self.stage = event, Stage.ASSESSED
            case HandoverAgreed():
                self.agreement, self.stage = event, Stage.AGREED
            case ParallelRunStarted():
                self.stage = Stage.PARALLEL_RUN
            case ParallelRunSigned(side=side):
                self.signatures[side] = event
            case ItemTransferred(item=item):
                self.items[item] = event
            case HandoverCompleted():
                self.stage = Stage.TRANSFERRED
            case SustainabilityReported(period_label=label):
                self.reports[label] = event
                self.stage = Stage.SUSTAINED
            case HandoverHeld():
                self.held = event
            case HandoverResumed():
                self.held = None
            case HandoverRolledBack(to_stage=to):
                self.stage, self.held = to, None
                self.signatures.clear()  # a parallel run gone back over is signed again
                if ORDER.index(to) < ORDER.index(Stage.PARALLEL_RUN):
                    self.items.clear()
                if ORDER.index(to) < ORDER.index(Stage.AGREED):
                    self.agreement = None
