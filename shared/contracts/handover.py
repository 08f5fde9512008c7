"""Events published by the handover (alih kelola) service on ``p2kp.handover.events``."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import registry
from shared.contracts.targeting import PERIOD_CODE
from shared.events import DomainEvent

CITY_CODE = r"^\d{2}\.\d{2}$"


@registry.event("p2kp.handover.authority-transferred.v1")
class AuthorityTransferred(DomainEvent):
    """Write authority for a city moves to its government: its operators write, the national office reads."""

    city_code: str = Field(pattern=CITY_CODE)
    instrument: str = Field(min_length=1, max_length=200, description="MoU / Perwal / Perda reference")


@registry.event("p2kp.handover.authority-returned.v1")
class AuthorityReturned(DomainEvent):
    """A handover rolled back: write authority returns to the national program."""

    city_code: str = Field(pattern=CITY_CODE)
    reason: str = Field(min_length=1, max_length=1000)


# --- readiness ----------------------------------------------------------------------------------------


class Criterion(StrEnum):
    # Computed from the other services' events.
    BKM_ACTIVE = "bkm-active"  # share of target kelurahan whose BKM is in term
    DDUB_PAID = "ddub-paid"  # DDUB received by the BKM / DDUB committed in BLM allocations
    UPK_HEALTH = "upk-health"  # share of UPK whose last closing had PAR and RR in the satisfactory band
    LPJ_COMPLETE = "lpj-complete"  # share of tranches received 90+ days ago whose LPJ was accepted
    AUDITS_DONE = "audits-done"  # share of BKM with an audit of last year's books
    # Attested by hand, with evidence.
    PERDA = "perda"  # a Perda/Perwal on BKM and revolving funds
    TKPKD = "tkpkd"  # a functioning TKPKD with a budget line
    OPD = "opd"  # the OPD designated to take the program over
    CITY_TEAM = "city-team"  # a city team able to run the platform


ATTESTED = frozenset({Criterion.PERDA, Criterion.TKPKD, Criterion.OPD, Criterion.CITY_TEAM})


class Verdict(StrEnum):
    MET = "met"
    NOT_MET = "not met"
    UNKNOWN = "unknown"


class CriterionResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    criterion: Criterion
    verdict: Verdict
    value_pct: float | None = None
    threshold_pct: float | None = None
    source: str = Field(max_length=500, description="where the verdict comes from, in words")


@registry.event("p2kp.handover.readiness-attested.v1")
class ReadinessAttested(DomainEvent):
    """A criterion that is judged by people (a regulation, a committee, a team), with its evidence."""

    city_code: str = Field(pattern=CITY_CODE)
    period_code: str = Field(pattern=PERIOD_CODE)
    criterion: Criterion
    met: bool
    evidence: str = Field(min_length=1, max_length=300, description="the document that shows it")
    attested_on: date


@registry.event("p2kp.handover.readiness-assessed.v1")
class ReadinessAssessed(DomainEvent):
    """The handover starts from a scorecard: the readiness of the city as assessed on a day."""

    city_code: str = Field(pattern=CITY_CODE)
    period_code: str = Field(pattern=PERIOD_CODE)
    assessed_on: date
    scorecard_version: int = Field(ge=1)
    criteria: tuple[CriterionResult, ...] = Field(min_length=1, max_length=20)


# --- the process ----------------------------------------------------------------------------------------


class Instrument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["MoU", "Perwal", "Perbup", "Perda"]
    reference: str = Field(min_length=1, max_length=200, examples=["Perwal Semarang No. 12/2026"])
    signed_on: date


@registry.event("p2kp.handover.handover-agreed.v1")
class HandoverAgreed(DomainEvent):
    city_code: str = Field(pattern=CITY_CODE)
    instruments: tuple[Instrument, ...] = Field(min_length=1, max_length=5)
    ddub_commitment_pct: int = Field(ge=0, le=100, description="the city's committed share (DDUB)")
    agreed_on: date


@registry.event("p2kp.handover.parallel-run-started.v1")
class ParallelRunStarted(DomainEvent):
    """City operators shadow the consultants; both sides sign before the transfer."""

    city_code: str = Field(pattern=CITY_CODE)
    started_on: date


class Side(StrEnum):
    CITY = "city"
    CONSULTANTS = "consultants"


@registry.event("p2kp.handover.parallel-run-signed.v1")
class ParallelRunSigned(DomainEvent):
    city_code: str = Field(pattern=CITY_CODE)
    side: Side
    signed_by: str = Field(min_length=1, max_length=200, description="the signing account")
    signed_on: date


class Item(StrEnum):
    DATA = "data"
    ASSETS = "infrastructure-assets"
    REVOLVING_FUNDS = "revolving-funds"  # and their supervision
    INSTITUTIONS = "institutions"  # BKM, KSM, KPP
    AUDIT = "audit-responsibility"


@registry.event("p2kp.handover.item-transferred.v1")
class ItemTransferred(DomainEvent):
    city_code: str = Field(pattern=CITY_CODE)
    item: Item
    handed_by: str = Field(min_length=1, max_length=200)
    received_by: str = Field(min_length=1, max_length=200)
    transferred_on: date
    document: str = Field(min_length=1, max_length=200, description="the berita acara of the transfer")


@registry.event("p2kp.handover.handover-completed.v1")
class HandoverCompleted(DomainEvent):
    """Everything is handed over; with it, ``AuthorityTransferred`` moves write authority to the city."""

    city_code: str = Field(pattern=CITY_CODE)
    completed_on: date


@registry.event("p2kp.handover.sustainability-reported.v1")
class SustainabilityReported(DomainEvent):
    """A periodic report of the city, after the transfer, to the national office."""

    city_code: str = Field(pattern=CITY_CODE)
    period_label: str = Field(pattern=r"^\d{4}-(S[12]|Q[1-4])$", examples=["2027-S1"])
    submitted_on: date
    document: str = Field(min_length=1, max_length=200)


@registry.event("p2kp.handover.handover-held.v1")
class HandoverHeld(DomainEvent):
    city_code: str = Field(pattern=CITY_CODE)
    reason: str = Field(min_length=1, max_length=1000)
    held_on: date


@registry.event("p2kp.handover.handover-resumed.v1")
class HandoverResumed(DomainEvent):
    city_code: str = Field(pattern=CITY_CODE)
    resumed_on: date


class Stage(StrEnum):
    NOT_STARTED = "not started"
    ASSESSED = "assessed"
    AGREED = "agreed"
    PARALLEL_RUN = "parallel run"
    TRANSFERRED = "transferred"
    SUSTAINED = "sustained"


@registry.event("p2kp.handover.handover-rolled-back.v1")
class HandoverRolledBack(DomainEvent):
    """Back to an earlier stage, with the reason; from the transfer on, authority returns as well."""

    city_code: str = Field(pattern=CITY_CODE)
    to_stage: Stage
    reason: str = Field(min_length=1, max_length=1000)
    rolled_back_on: date
