"""Pemetaan Swadaya: the aggregate's transitions and invariants, NIK validation, sealing."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag

from services.targeting.povertymap import PemetaanSwadaya, Survey
from services.targeting.vault import (
    DEVELOPMENT_NIK_PEPPER,
    PersonalData,
    refuse_development_pepper,
    seal,
    unseal,
    validate_nik,
)
from shared.contracts import registry
from shared.contracts.povertymap import ErasureBasis, HouseholdSurveyed, Ps2ListPublished
from shared.errors import Conflict, Gone, InvalidInput, NotFound
from shared.settings import UnsafeConfiguration

TODAY = date(2026, 6, 1)
CRITERIA = ("Lantai tanah", "Tidak punya jamban sendiri", "Penghasilan di bawah Rp 1 juta sebulan")


def mapping(*, criteria: bool = True) -> PemetaanSwadaya:
    aggregate = PemetaanSwadaya("KOTAKU", "33.74.01.1001")
    if criteria:
        aggregate.agree_criteria(CRITERIA, "BA 1/2026", date(2026, 5, 1), TODAY)
    return aggregate


def poor(*met: int) -> Survey:
    return Survey(1, met or (1,), members=4, poor=True, surveyed_on=date(2026, 5, 10))


def surveyed(aggregate: PemetaanSwadaya, survey: Survey | None = None) -> uuid.UUID:
    household_id = uuid.uuid4()
    aggregate.survey(household_id, survey or poor(), TODAY)
    return household_id


def committed(aggregate: PemetaanSwadaya) -> PemetaanSwadaya:
    """The aggregate rebuilt from its events, as the next command would see it."""
    fresh = PemetaanSwadaya(aggregate.period_code, aggregate.kelurahan_code)
    return fresh.replay(aggregate.pending)


# --- criteria -----------------------------------------------------------------------------------------


def test_criteria_are_versioned_and_an_unchanged_list_is_refused() -> None:
    aggregate = mapping()
    assert aggregate.agree_criteria((*CRITERIA, "Anak putus sekolah"), "BA 2/2026", TODAY, TODAY) == 2
    assert sorted(committed(aggregate).criteria) == [1, 2]
    with pytest.raises(Conflict, match="same as version 2"):
        aggregate.agree_criteria((*CRITERIA, "Anak putus sekolah"), "BA 3/2026", TODAY, TODAY)


def test_criteria_listed_twice_or_agreed_in_the_future_are_refused() -> None:
    with pytest.raises(InvalidInput, match="listed twice"):
        mapping(criteria=False).agree_criteria(("A", "A"), "BA", TODAY, TODAY)
    with pytest.raises(InvalidInput, match="in the future"):
        mapping(criteria=False).agree_criteria(("A",), "BA", date(2026, 6, 2), TODAY)


# --- surveys ------------------------------------------------------------------------------------------


def test_a_survey_needs_agreed_criteria_first() -> None:
    with pytest.raises(Conflict, match=r"no poverty criteria version 1 .*none yet"):
        surveyed(mapping(criteria=False))
    with pytest.raises(Conflict, match=r"no poverty criteria version 2 .*agreed versions: 1"):
        surveyed(mapping(), Survey(2, (1,), 3, True, TODAY))


def test_a_survey_names_existing_distinct_criteria_and_a_poor_household_meets_one() -> None:
    aggregate = mapping()
    for bad in ((4,), (0,), (1, 1)):
        with pytest.raises(InvalidInput, match="numbered 1 to 3"):
            surveyed(aggregate, Survey(1, bad, 3, False, TODAY))
    with pytest.raises(InvalidInput, match="at least one"):
        surveyed(aggregate, Survey(1, (), 3, True, TODAY))
    with pytest.raises(InvalidInput, match="in the future"):
        surveyed(aggregate, Survey(1, (1,), 3, True, date(2026, 6, 2)))
    not_poor = surveyed(aggregate, Survey(1, (3,), 2, False, TODAY))
    assert committed(aggregate).household(not_poor).survey.poor is False


def test_a_household_is_surveyed_once() -> None:
    aggregate = mapping()
    household_id = surveyed(aggregate)
    with pytest.raises(Conflict, match="already recorded"):
        aggregate.survey(household_id, poor(), TODAY)


def test_survey_events_carry_the_criteria_met_in_order() -> None:
    aggregate = mapping()
    surveyed(aggregate, poor(3, 1))
    event = aggregate.pending[-1]
    assert isinstance(event, HouseholdSurveyed) and event.criteria_met == (1, 3)


# --- the PS-2 list ------------------------------------------------------------------------------------


def test_members_are_added_and_removed_once_each_with_a_reason() -> None:
    aggregate = mapping()
    a, b = surveyed(aggregate), surveyed(aggregate)
    aggregate.add_to_ps2(a, "memenuhi kriteria 1")
    aggregate.add_to_ps2(b, "memenuhi kriteria 1")
    with pytest.raises(Conflict, match="already on the PS-2 list"):
        aggregate.add_to_ps2(a, "again")
    aggregate.remove_from_ps2(a, "pindah domisili")
    with pytest.raises(Conflict, match="not on the PS-2 list"):
        aggregate.remove_from_ps2(a, "again")
    with pytest.raises(NotFound, match="There is no household"):
        aggregate.add_to_ps2(uuid.uuid4(), "unknown")
    assert committed(aggregate).ps2 == {b}


def test_publishing_freezes_a_numbered_version_of_the_members() -> None:
    aggregate = mapping()
    a, b = surveyed(aggregate), surveyed(aggregate)
    with pytest.raises(Conflict, match="empty"):
        aggregate.publish_ps2("BA PS-2", TODAY, TODAY)
    aggregate.add_to_ps2(a, "kriteria 1")
    assert aggregate.publish_ps2("BA PS-2 v1", date(2026, 5, 20), TODAY) == 1
    with pytest.raises(Conflict, match="not changed since version 1"):
        aggregate.publish_ps2("BA PS-2 v1 again", TODAY, TODAY)
    aggregate.add_to_ps2(b, "kriteria 1")
    with pytest.raises(InvalidInput, match="cannot be dated before it"):
        aggregate.publish_ps2("BA PS-2 v2", date(2026, 5, 19), TODAY)
    assert aggregate.publish_ps2("BA PS-2 v2", TODAY, TODAY) == 2
    published = aggregate.pending[-1]
    assert isinstance(published, Ps2ListPublished) and published.member_count == 2
    replayed = committed(aggregate)
    assert replayed.publication(1).members == {a} and replayed.publication(2).members == {a, b}
    with pytest.raises(NotFound, match=r"Version 3 .*\(2 versions published\)"):
        replayed.publication(3)


def test_publishing_needs_criteria() -> None:
    with pytest.raises(Conflict, match="no agreed poverty criteria"):
        mapping(criteria=False).publish_ps2("BA", TODAY, TODAY)


# --- erasure ------------------------------------------------------------------------------------------


def test_erasure_keeps_the_household_counted_and_on_the_list() -> None:
    aggregate = mapping()
    a, b = surveyed(aggregate), surveyed(aggregate, Survey(1, (), 2, False, TODAY))
    aggregate.add_to_ps2(a, "kriteria 1")
    before = aggregate.counts()
    aggregate.erase(a, ErasureBasis.DATA_SUBJECT_REQUEST)
    after = committed(aggregate).counts()
    assert (after.surveyed, after.poor, after.ps2_members) == (
        before.surveyed,
        before.poor,
        before.ps2_members,
    )
    assert (before.erased, after.erased) == (0, 1)
    with pytest.raises(Gone, match="was erased"):
        aggregate.erase(a, ErasureBasis.DECEASED)
    with pytest.raises(Conflict, match="erased"):
        aggregate.add_to_ps2(a, "back")
    aggregate.remove_from_ps2(a, "meninggal dunia")  # an erased household can still leave the list
    aggregate.erase(b, ErasureBasis.MOVED_AWAY)
    assert committed(aggregate).counts().erased == 2


_EVENTS = {
    "poverty-criteria-agreed",
    "household-surveyed",
    "ps2-member-added",
    "ps2-member-removed",
    "ps2-list-published",
    "household-personal-data-erased",
}


def test_every_poverty_mapping_event_is_registered_under_its_stable_name() -> None:
    names = [n for n in registry.names() if n.split(".")[2] in _EVENTS]
    assert sorted(names) == sorted(f"p2kp.targeting.{e}.v1" for e in _EVENTS)


# --- NIK and sealing ----------------------------------------------------------------------------------

SEMARANG_WOMAN_1990 = "3374014101900001"  # Semarang Tengah, born 1 January 1990 (day + 40: a woman)
FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in SEMARANG_WOMAN_1990)  # what some phone keyboards type


def test_a_valid_nik_passes() -> None:
    assert validate_nik(SEMARANG_WOMAN_1990, TODAY) == SEMARANG_WOMAN_1990


@pytest.mark.parametrize(
    ("nik", "message"),
    [
        ("337401410190001", "exactly 16 digits"),
        ("3374.01.410190.0001", "exactly 16 digits"),
        ("33740141019O0001", "exactly 16 digits"),
        (FULL_WIDTH, "exactly 16 digits"),  # digits, but not ASCII ones
        ("9974014101900001", "region code 99.74,"),
        ("3399014101900001", "region code 33.99,"),
        ("3374004101900001", "its kecamatan"),
        ("3374013201900001", "not a real birth date"),
        ("3374010113900001", "not a real birth date"),
        ("3374010107260001", "not possible"),  # 1 July 2026: after TODAY
        ("3374014101900000", "cannot be 0000"),
    ],
)
def test_an_impossible_nik_is_refused_with_what_to_check(nik: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_nik(nik, TODAY)


def test_sealed_personal_data_opens_only_with_its_key_and_household_id() -> None:
    personal = PersonalData(head_name="Siti Aminah", nik=SEMARANG_WOMAN_1990, address="Jl. Pandanaran 1")
    household_id, key = uuid.uuid4(), bytes(range(32))
    nonce, ciphertext = seal(key, household_id, personal)
    assert b"Siti" not in ciphertext and SEMARANG_WOMAN_1990.encode() not in ciphertext
    assert unseal(key, household_id, nonce, ciphertext) == personal
    with pytest.raises(InvalidTag):
        unseal(bytes(32), household_id, nonce, ciphertext)
    with pytest.raises(InvalidTag):
        unseal(key, uuid.uuid4(), nonce, ciphertext)  # a row copied onto another household


def test_production_refuses_the_development_nik_pepper() -> None:
    refuse_development_pepper(DEVELOPMENT_NIK_PEPPER, "development")
    refuse_development_pepper("a-real-pepper", "production")
    with pytest.raises(UnsafeConfiguration, match="P2KP_TARGETING_NIK_PEPPER"):
        refuse_development_pepper(DEVELOPMENT_NIK_PEPPER, "production")
