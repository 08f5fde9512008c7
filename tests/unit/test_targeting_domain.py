"""Targeting domain without a database: program periods (parameters, criteria), the kelurahan sasaran
lifecycle with every legal and illegal transition, indicator invariants, and criteria evaluation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

import pytest
from pydantic import ValidationError

from services.targeting.criteria import KecamatanIndicators, evaluate, parse_indicator_rows
from services.targeting.domain import ProgramPeriod
from services.targeting.sasaran import KelurahanSasaran, Status
from shared.aggregate import Aggregate
from shared.contracts.targeting import (
    BlmRules,
    CriteriaRule,
    CriteriaThresholds,
    KelurahanConfirmed,
    KelurahanDropped,
    KelurahanIndicators,
    KelurahanNominated,
    KelurahanRejected,
    KelurahanVerified,
    PeriodParameters,
    ProgramParametersSet,
    ProgramPeriodRegistered,
    TargetingCriteriaPublished,
)
from shared.errors import Conflict, InvalidInput, NotFound
from shared.regions import Level, Region, require

A = TypeVar("A", bound=Aggregate)
START, END = date(2016, 1, 1), date(2024, 12, 31)
MIROTO = "33.74.01.1001"
FIGURES = KelurahanIndicators(population=5200, households=1300, poor_households=420, source="BPS 2024")
NEW_FIGURES = KelurahanIndicators(population=5300, households=1320, poor_households=460, source="PPLS 2025")


def committed(aggregate: A, fresh: A) -> A:
    """``fresh`` rebuilt from ``aggregate``'s recorded events, as the next command would load it."""
    return fresh.replay(aggregate.pending)


def period() -> ProgramPeriod:
    registered = ProgramPeriod("KOTAKU")
    registered.register("Kota Tanpa Kumuh", START, END)
    return committed(registered, ProgramPeriod("KOTAKU"))


# --- program periods ---------------------------------------------------------------------------------


def test_a_period_is_registered_with_default_parameters_as_version_one() -> None:
    fresh = ProgramPeriod("KOTAKU")
    fresh.register("Kota Tanpa Kumuh", START, END)
    registered, defaults = fresh.pending
    assert registered == ProgramPeriodRegistered(
        code="KOTAKU", name="Kota Tanpa Kumuh", starts_on=START, ends_on=END
    )
    assert defaults == ProgramParametersSet(period_code="KOTAKU", version=1, parameters=PeriodParameters())
    loaded = period()
    assert (loaded.name, loaded.starts_on, loaded.ends_on, loaded.version) == (
        "Kota Tanpa Kumuh",
        START,
        END,
        2,
    )
    version, parameters = loaded.current_parameters()
    assert version == 1
    assert parameters.bkm.members_min == 9 and parameters.blm.tranche_split_pct == (20, 50, 30)
    assert parameters.loans.first_ceiling_rupiah == 1_000_000 and parameters.blm.ddub_share_pct["rendah"] == 5


def test_registering_an_existing_period_again_is_a_conflict() -> None:
    loaded = period()
    with pytest.raises(Conflict, match="KOTAKU is already registered"):
        loaded.register("Again", START, END)
    assert loaded.pending == []


def test_registering_twice_in_one_unit_of_work_is_a_conflict() -> None:
    # Found as a bug: Aggregate.exists looked only at the loaded version, not at pending events.
    fresh = ProgramPeriod("KOTAKU")
    fresh.register("Kota Tanpa Kumuh", START, END)
    with pytest.raises(Conflict, match="KOTAKU is already registered"):
        fresh.register("Kota Tanpa Kumuh", START, END)
    assert len(fresh.pending) == 2


@pytest.mark.parametrize("ends_on", [START, date(2015, 12, 31)])
def test_a_period_must_end_after_it_starts(ends_on: date) -> None:
    fresh = ProgramPeriod("P2KP-1")
    with pytest.raises(InvalidInput, match="must end after it starts"):
        fresh.register("P2KP-1", START, ends_on)
    assert fresh.pending == [] and not fresh.exists


def test_parameters_and_criteria_are_new_versions_never_edits() -> None:
    loaded = period()
    tighter = PeriodParameters(blm=BlmRules(tranche_split_pct=(40, 60)))
    assert loaded.set_parameters(tighter) == 2
    assert loaded.set_parameters(PeriodParameters()) == 3
    assert loaded.publish_criteria(CriteriaRule.KECAMATAN_WELFARE, CriteriaThresholds(), "PODES 2000") == 1
    thresholds = CriteriaThresholds(exclude_richest_pct=10, min_pra_ks_ks1_pct=40)
    assert loaded.publish_criteria(CriteriaRule.DECREED_LIST, thresholds, "SK Kumuh 2016") == 2

    again = committed(loaded, period())
    assert sorted(again.parameters) == [1, 2, 3]
    assert again.parameters[1] == PeriodParameters() and again.parameters[2] == tighter
    assert again.current_parameters() == (3, PeriodParameters())
    assert again.criteria_version(1).dataset == "PODES 2000"
    assert again.criteria_version(2).rule is CriteriaRule.DECREED_LIST
    assert again.criteria_version(2).thresholds == thresholds


def test_an_unpublished_criteria_version_is_not_found_and_names_the_published_ones() -> None:
    loaded = period()
    with pytest.raises(NotFound, match=r"no targeting criteria version 1 \(published: none yet\)"):
        loaded.criteria_version(1)
    loaded.publish_criteria(CriteriaRule.KECAMATAN_WELFARE, CriteriaThresholds(), "PODES 2000")
    loaded.publish_criteria(CriteriaRule.KECAMATAN_WELFARE, CriteriaThresholds(), "PODES 2003")
    with pytest.raises(NotFound, match=r"no targeting criteria version 7 \(published: 1, 2\)"):
        committed(loaded, period()).criteria_version(7)


@pytest.mark.parametrize("split", [(20, 50, 20), (50, 51), (101,)])
def test_blm_tranches_must_add_up_to_the_whole(split: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError, match="must add up to 100 %"):
        BlmRules(tranche_split_pct=split)
    assert BlmRules(tranche_split_pct=(25, 25, 50)).tranche_split_pct == (25, 25, 50)


def test_more_poor_households_than_households_is_refused() -> None:
    with pytest.raises(ValidationError, match="1301 poor households is more than 1300 households"):
        KelurahanIndicators(population=5200, households=1300, poor_households=1301, source="BPS")
    assert (
        KelurahanIndicators(population=1, households=10, poor_households=10, source="x").poor_share_pct == 100
    )
    assert KelurahanIndicators(population=0, households=0, poor_households=0, source="x").poor_share_pct == 0


# --- kelurahan sasaran ---------------------------------------------------------------------------------


def miroto() -> Region:
    return require(MIROTO, Level.DESA_KELURAHAN)


def sasaran(*steps: Callable[[KelurahanSasaran], object]) -> KelurahanSasaran:
    """A kelurahan sasaran taken through ``steps``, then loaded again from its events."""
    aggregate = KelurahanSasaran("KOTAKU", MIROTO)
    for step in steps:
        step(aggregate)
    return committed(aggregate, KelurahanSasaran("KOTAKU", MIROTO))


def nominate(s: KelurahanSasaran) -> object:
    return s.nominate(miroto(), FIGURES)


def verify(s: KelurahanSasaran) -> None:
    s.verify("konsultan.ani", 1, "Pra-KS + KS-I 42 %")


def reject(s: KelurahanSasaran) -> None:
    s.reject("konsultan.ani", 1, "Pra-KS + KS-I 12 %")


def confirm(s: KelurahanSasaran) -> None:
    s.confirm("Surat Walikota 050/123/2016")


def drop(s: KelurahanSasaran) -> None:
    s.drop("Merged into a neighbouring kelurahan")


def test_the_whole_lifecycle_nominate_verify_confirm_drop() -> None:
    nominated = sasaran(nominate)
    assert (nominated.status, nominated.indicators, nominated.version) == (Status.NOMINATED, FIGURES, 1)
    fresh = KelurahanSasaran("KOTAKU", MIROTO)
    assert fresh.nominate(miroto(), FIGURES) is True
    (event,) = fresh.pending
    assert event == KelurahanNominated(
        period_code="KOTAKU",
        kelurahan_code=MIROTO,
        code_system="kemendagri",
        vintage="Kepmendagri 300.2.2-2138/2025",
        indicators=FIGURES,
    )

    verify(nominated)
    assert nominated.pending == [
        KelurahanVerified(
            period_code="KOTAKU",
            kelurahan_code=MIROTO,
            verifier="konsultan.ani",
            criteria_version=1,
            reason="Pra-KS + KS-I 42 %",
        )
    ]
    verified = sasaran(nominate, verify)
    assert (verified.status, verified.criteria_version, verified.reason) == (
        Status.VERIFIED,
        1,
        "Pra-KS + KS-I 42 %",
    )
    confirm(verified)
    assert verified.pending == [
        KelurahanConfirmed(period_code="KOTAKU", kelurahan_code=MIROTO, letter="Surat Walikota 050/123/2016")
    ]
    confirmed = sasaran(nominate, verify, confirm)
    assert confirmed.status is Status.CONFIRMED and confirmed.version == 3
    drop(confirmed)
    assert confirmed.pending == [
        KelurahanDropped(
            period_code="KOTAKU", kelurahan_code=MIROTO, reason="Merged into a neighbouring kelurahan"
        )
    ]
    dropped = sasaran(nominate, verify, confirm, drop)
    assert (dropped.status, dropped.reason, dropped.version) == (
        Status.DROPPED,
        "Merged into a neighbouring kelurahan",
        4,
    )


def test_a_rejected_kelurahan_can_be_nominated_again_with_new_indicators() -> None:
    nominated = sasaran(nominate)
    reject(nominated)
    assert nominated.pending == [
        KelurahanRejected(
            period_code="KOTAKU",
            kelurahan_code=MIROTO,
            verifier="konsultan.ani",
            criteria_version=1,
            reason="Pra-KS + KS-I 12 %",
        )
    ]
    rejected = sasaran(nominate, reject)
    assert (rejected.status, rejected.reason, rejected.criteria_version) == (
        Status.REJECTED,
        "Pra-KS + KS-I 12 %",
        1,
    )
    assert rejected.nominate(miroto(), NEW_FIGURES) is True
    again = sasaran(nominate, reject, lambda s: s.nominate(miroto(), NEW_FIGURES))
    assert (again.status, again.indicators, again.version) == (Status.NOMINATED, NEW_FIGURES, 3)
    assert again.reason is None and again.criteria_version is None  # the old verdict does not stick
    verify(again)
    assert again.status is Status.VERIFIED  # and the new nomination can be decided on


def test_an_identical_nomination_records_nothing_but_different_figures_conflict() -> None:
    nominated = sasaran(nominate)
    assert nominated.nominate(miroto(), FIGURES) is False
    assert nominated.pending == [] and nominated.status is Status.NOMINATED
    with pytest.raises(Conflict, match=r"is already nominated; it cannot be nominated again"):
        nominated.nominate(miroto(), NEW_FIGURES)
    assert nominated.pending == []


ILLEGAL: list[tuple[str, tuple[Callable[[KelurahanSasaran], object], ...], Callable[..., object], str]] = [
    # (what, steps that reach the state, the illegal command, the state the message must name)
    ("verify before nomination", (), verify, "is not nominated; only a nominated kelurahan can be verified"),
    ("reject before nomination", (), reject, "is not nominated; only a nominated kelurahan can be rejected"),
    (
        "confirm before nomination",
        (),
        confirm,
        "is not nominated; only a verified kelurahan can be confirmed",
    ),
    ("drop before nomination", (), drop, "is not nominated; only a nominated, verified or confirmed"),
    ("confirm a nominated one", (nominate,), confirm, "is nominated; only a verified kelurahan"),
    ("verify twice", (nominate, verify), verify, "is verified; only a nominated kelurahan can be verified"),
    (
        "reject a verified one",
        (nominate, verify),
        reject,
        "is verified; only a nominated kelurahan can be rej",
    ),
    ("nominate a verified one", (nominate, verify), nominate, "is already verified; it cannot be nominated"),
    ("verify a rejected one", (nominate, reject), verify, "is rejected; only a nominated kelurahan"),
    ("reject twice", (nominate, reject), reject, "is rejected; only a nominated kelurahan can be rejected"),
    ("confirm a rejected one", (nominate, reject), confirm, "is rejected; only a verified kelurahan"),
    ("drop a rejected one", (nominate, reject), drop, "is rejected; only a nominated, verified or confirmed"),
    ("verify a confirmed one", (nominate, verify, confirm), verify, "is confirmed; only a nominated"),
    ("reject a confirmed one", (nominate, verify, confirm), reject, "is confirmed; only a nominated"),
    ("confirm twice", (nominate, verify, confirm), confirm, "is confirmed; only a verified kelurahan"),
    ("nominate a confirmed one", (nominate, verify, confirm), nominate, "is already confirmed; it cannot"),
    (
        "verify a dropped one",
        (nominate, drop),
        verify,
        "is dropped; only a nominated kelurahan can be verified",
    ),
    (
        "reject a dropped one",
        (nominate, drop),
        reject,
        "is dropped; only a nominated kelurahan can be rejected",
    ),
    ("confirm a dropped one", (nominate, verify, drop), confirm, "is dropped; only a verified kelurahan"),
    ("drop twice", (nominate, drop), drop, "is dropped; only a nominated, verified or confirmed kelurahan"),
    (
        "nominate a dropped one",
        (nominate, drop),
        nominate,
        "is already dropped; it cannot be nominated again",
    ),
]


@pytest.mark.parametrize(
    ("steps", "command", "message"), [i[1:] for i in ILLEGAL], ids=[i[0] for i in ILLEGAL]
)
def test_illegal_transitions_are_conflicts_naming_the_current_state(
    steps: tuple[Callable[[KelurahanSasaran], object], ...], command: Callable[..., object], message: str
) -> None:
    aggregate = sasaran(*steps)
    before = (aggregate.status, aggregate.version)
    with pytest.raises(Conflict) as refused:
        command(aggregate)
    assert message in refused.value.detail
    assert refused.value.detail.startswith(f"Kelurahan {MIROTO} in KOTAKU ")
    assert aggregate.pending == [] and (aggregate.status, aggregate.version) == before


@pytest.mark.parametrize("steps", [(nominate,), (nominate, verify), (nominate, verify, confirm)])
def test_nominated_verified_and_confirmed_kelurahan_can_be_dropped(
    steps: tuple[Callable[[KelurahanSasaran], object], ...],
) -> None:
    aggregate = sasaran(*steps)
    drop(aggregate)
    assert aggregate.status is Status.DROPPED and len(aggregate.pending) == 1


# --- criteria evaluation ------------------------------------------------------------------------------


def published(rule: CriteriaRule = CriteriaRule.KECAMATAN_WELFARE) -> TargetingCriteriaPublished:
    return TargetingCriteriaPublished(
        period_code="P2KP-2", version=3, rule=rule, thresholds=CriteriaThresholds(), dataset="PODES 2000"
    )


TABLE = [  # five Semarang kecamatan: 20 % of five is one richest kecamatan dropped
    KecamatanIndicators(kecamatan_code="33.74.01", families=1000, pra_ks_ks1_families=450, welfare_index=9.5),
    KecamatanIndicators(kecamatan_code="33.74.02", families=2000, pra_ks_ks1_families=900, welfare_index=3.0),
    KecamatanIndicators(kecamatan_code="33.74.03", families=1000, pra_ks_ks1_families=300, welfare_index=2.0),
    KecamatanIndicators(kecamatan_code="33.74.04", families=800, pra_ks_ks1_families=100, welfare_index=1.0),
    KecamatanIndicators(kecamatan_code="33.74.05", families=400, pra_ks_ks1_families=124, welfare_index=4.0),
]


def test_the_richest_fifth_is_dropped_and_the_threshold_must_be_exceeded() -> None:
    verdicts = {
        a.kecamatan_code: (a.shortlisted, a.reason, a.pra_ks_ks1_pct) for a in evaluate(published(), TABLE)
    }
    assert verdicts == {
        # the richest, although 45 % of its families are Pra-KS + KS-I
        "33.74.01": (False, "among the richest 20 % of kecamatan", 45.0),
        "33.74.02": (True, "Pra-KS + KS-I is 45.0 %, above 30 %", 45.0),
        "33.74.03": (False, "Pra-KS + KS-I is 30.0 %, not above 30 %", 30.0),  # must exceed, not equal
        "33.74.04": (False, "Pra-KS + KS-I is 12.5 %, not above 30 %", 12.5),
        "33.74.05": (True, "Pra-KS + KS-I is 31.0 %, above 30 %", 31.0),
    }
    looser = published().model_copy(
        update={"thresholds": CriteriaThresholds(exclude_richest_pct=40, min_pra_ks_ks1_pct=10)}
    )
    shortlisted = [a.kecamatan_code for a in evaluate(looser, TABLE) if a.shortlisted]
    assert shortlisted == ["33.74.02", "33.74.03", "33.74.04"]  # 01 and 05 are the richest two


def test_a_decreed_list_computes_no_shortlist() -> None:
    with pytest.raises(InvalidInput, match="decreed-list rule: it names its locations"):
        evaluate(published(CriteriaRule.DECREED_LIST), TABLE)


def test_indicator_rows_that_cannot_be_used_are_named_by_row() -> None:
    good = {
        "kecamatan_code": "33.74.10",
        "families": "900",
        "pra_ks_ks1_families": "300",
        "welfare_index": "2.5",
    }
    assert parse_indicator_rows([(2, good)])[0].families == 900
    with pytest.raises(InvalidInput) as refused:
        parse_indicator_rows(
            [
                (2, good),
                (3, {**good, "kecamatan_code": "33.74.99"}),  # not in the official list
                (4, {**good, "kecamatan_code": "33.74"}),  # a kota, not a kecamatan
                (5, {**good, "pra_ks_ks1_families": "901"}),
            ]
        )
    detail = refused.value.detail
    assert "row 2" not in detail
    assert "row 3: '33.74.99' is not a kecamatan code" in detail
    assert "row 4: kecamatan_code" in detail
    assert "row 5: more Pra-KS + KS-I families than families" in detail


def test_a_kecamatan_listed_twice_in_the_indicator_table_is_refused() -> None:
    row = {
        "kecamatan_code": "33.74.10",
        "families": "900",
        "pra_ks_ks1_families": "300",
        "welfare_index": "2.5",
    }
    # Found as a bug: a second line was assessed twice and skewed the richest-share cut.
    with pytest.raises(InvalidInput, match=r"row 3: 33\.74\.10 is already in row 2"):
        parse_indicator_rows([(2, row), (3, row)])
