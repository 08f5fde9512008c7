"""The community cycle of a kelurahan without a database: the order of its steps, the RKM rejection that
ends it, the BKM's election rules, replacement (PAW) and re-election, the units, plans and reviews, the
schedule with its lateness, and replay of the recorded events."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from services.institutions.cycle import (
    Bkm,
    BkmStatus,
    Candidate,
    KelurahanCycle,
    Progress,
    ScheduleItem,
    Status,
)
from shared.contracts.cycle import Step
from shared.contracts.institutions import (
    Attendance,
    BkmConstituted,
    BkmCoordinatorChosen,
    BkmMemberReplaced,
    ElectedMember,
    Meeting,
    PemetaanSwadayaCompleted,
    Person,
    PjmApproved,
    RentaApproved,
    ReviewPartisipatifHeld,
    RkmDecision,
    RkmHeld,
    SosialisasiAwalHeld,
    Unit,
    UnitPengelolaFormed,
)
from shared.contracts.targeting import BkmRules, CycleRules
from shared.errors import Conflict, InvalidInput

PERIOD, KELURAHAN = "KOTAKU", "33.74.10.1004"
TODAY = date(2026, 11, 1)

# Year 1 of the cycle starts at the sosialisasi awal; year n starts 365 * (n - 1) days later.
START = date(2022, 1, 10)
RKM_ON = date(2022, 2, 1)
RELAWAN_ON = date(2022, 2, 15)
REFLEKSI_ON = date(2022, 3, 15)
PEMETAAN_ON = date(2022, 5, 1)
UTUSAN_ON = date(2022, 6, 1)
BKM_ON = date(2022, 7, 1)  # the first BKM's term (3 years) ends on 2025-07-01
UNITS_ON = date(2022, 8, 1)
PJM_ON = date(2022, 10, 1)
RENTA_ON = date(2022, 10, 15)
YEAR_2 = date(2023, 1, 20)
YEAR_3 = date(2024, 12, 1)
YEAR_4 = date(2025, 2, 1)  # before the first BKM's term ends
TERM_ENDS = date(2025, 7, 1)


def people(first: int, count: int, women: int) -> list[Person]:
    return [Person(person_id=UUID(int=first + i), woman=i < women) for i in range(count)]


RELAWAN = people(100, 4, 2)
UTUSAN = people(1000, 15, 5)  # election 1: 5 women, then 10 men
WOMEN, MEN = UTUSAN[:5], UTUSAN[5:]
UTUSAN_2 = people(2000, 15, 5)  # election 2 (year 4)
BKM_MEMBERS = WOMEN[:3] + MEN[:6]  # 9 members, 3 women: 33.3 %
COORDINATOR = BKM_MEMBERS[0].person_id
RW = ("RW 01", "RW 02", "RW 03")


def meeting(day: date, berita_acara: str = "BA-001") -> Meeting:
    return Meeting(
        held_on=day,
        place="Balai Kelurahan",
        facilitator="faskel.01",
        attendance=Attendance(men=30, women=22, poor_households=18),
        berita_acara=berita_acara,
    )


def candidates(members: Sequence[Person], votes: int = 8) -> list[Candidate]:
    return [Candidate(p.person_id, votes, literate=True, party_member=False) for p in members]


def ids(members: Sequence[Person]) -> list[UUID]:
    return [p.person_id for p in members]


def constitute(
    c: KelurahanCycle,
    members: Sequence[Person] = BKM_MEMBERS,
    *,
    election: int = 1,
    day: date = BKM_ON,
    ballots_cast: int = 15,
    coordinator: UUID | None = None,
    rules: BkmRules | None = None,
    elected: list[Candidate] | None = None,
) -> None:
    c.constitute_bkm(
        election,
        meeting(day),
        ballots_cast,
        elected if elected is not None else candidates(members),
        coordinator if coordinator is not None else members[0].person_id,
        "AD/ART BKM Sejahtera",
        rules if rules is not None else BkmRules(),
        1,
        TODAY,
    )


# --- the steps, as functions of the cycle --------------------------------------------------------------


def sosialisasi(c: KelurahanCycle) -> None:
    c.hold_sosialisasi(meeting(START), 1, TODAY)


def rkm(c: KelurahanCycle) -> None:
    c.hold_rkm(meeting(RKM_ON), RkmDecision.ACCEPTED, "050/12/2022", TODAY)


def rkm_rejected(c: KelurahanCycle) -> None:
    c.hold_rkm(meeting(RKM_ON), RkmDecision.REJECTED, None, TODAY)


def relawan(c: KelurahanCycle) -> None:
    c.register_relawan(RELAWAN_ON, RELAWAN, TODAY)


def refleksi(c: KelurahanCycle) -> None:
    c.hold_refleksi(meeting(REFLEKSI_ON), TODAY)


def pemetaan(c: KelurahanCycle) -> None:
    c.complete_pemetaan(meeting(PEMETAAN_ON), 2, {1, 2}, TODAY)


def utusan(c: KelurahanCycle) -> None:
    for i, rw in enumerate(RW):
        c.elect_utusan(1, rw, UTUSAN_ON, 80, UTUSAN[5 * i : 5 * (i + 1)], TODAY)


def bkm(c: KelurahanCycle) -> None:
    constitute(c)


def staff(unit: Unit) -> list[UUID]:
    return [UUID(int=5000 + 10 * list(Unit).index(unit) + i) for i in range(3)]


def form(unit: Unit, day: date = UNITS_ON) -> Callable[[KelurahanCycle], None]:
    def step(c: KelurahanCycle) -> None:
        c.form_unit(unit, day, f"SK BKM 02/{unit}", staff(unit), TODAY)

    return step


def units(c: KelurahanCycle) -> None:
    for unit in Unit:
        form(unit)(c)


def pjm(c: KelurahanCycle) -> None:
    c.approve_pjm(meeting(PJM_ON), "PJM Pronangkis 2022-2024", TODAY)


def renta(year: int, day: date = RENTA_ON) -> Callable[[KelurahanCycle], None]:
    def step(c: KelurahanCycle) -> None:
        c.approve_renta(year, day, f"Renta Pronangkis tahun {year}", TODAY)

    return step


def review(year: int, day: date) -> Callable[[KelurahanCycle], None]:
    def step(c: KelurahanCycle) -> None:
        c.hold_review(year, meeting(day), "Target tercapai sebagian", TODAY)

    return step


def utusan_2(day: date = YEAR_4) -> Callable[[KelurahanCycle], None]:
    def step(c: KelurahanCycle) -> None:
        for i, rw in enumerate(RW):
            c.elect_utusan(2, rw, day, 75, UTUSAN_2[5 * i : 5 * (i + 1)], TODAY)

    return step


def reelection(c: KelurahanCycle) -> None:
    utusan_2()(c)
    constitute(c, UTUSAN_2[:2] + UTUSAN_2[5:12], election=2, day=YEAR_4)


def pjm_renewal(c: KelurahanCycle) -> None:
    c.approve_pjm(meeting(date(2025, 3, 1)), "PJM Pronangkis 2025-2027", TODAY)


YEAR_1: list[Callable[[KelurahanCycle], None]] = [
    sosialisasi,
    rkm,
    relawan,
    refleksi,
    pemetaan,
    utusan,
    bkm,
    units,
    pjm,
    renta(1),
]


def new() -> KelurahanCycle:
    return KelurahanCycle(PERIOD, KELURAHAN)


def cycle(*steps: Callable[[KelurahanCycle], object]) -> KelurahanCycle:
    """A cycle taken through ``steps``, then loaded again from its events (nothing pending)."""
    aggregate = new()
    for step in steps:
        step(aggregate)
    return new().replay(aggregate.pending)


def through(last: Callable[[KelurahanCycle], None]) -> KelurahanCycle:
    """The cycle of year 1 up to and including ``last``."""
    return cycle(*YEAR_1[: YEAR_1.index(last) + 1])


def state(c: KelurahanCycle) -> dict[str, object]:
    return {f.name: getattr(c, f.name) for f in dataclasses.fields(c) if f.name not in {"pending", "version"}}


# --- the order of the steps ----------------------------------------------------------------------------


def test_the_sosialisasi_starts_the_cycle_as_day_0_of_year_1() -> None:
    fresh = new()
    assert fresh.status is Status.NOT_STARTED and fresh.started_on is None
    sosialisasi(fresh)
    assert fresh.pending == [
        SosialisasiAwalHeld(
            period_code=PERIOD, kelurahan_code=KELURAHAN, meeting=meeting(START), parameters_version=1
        )
    ]
    loaded = cycle(sosialisasi)
    assert (loaded.status, loaded.started_on, loaded.parameters_version) == (Status.IN_PROGRESS, START, 1)
    assert loaded.stream == "cycle-KOTAKU-33.74.10.1004" and loaded.city_code == "33.74"
    assert loaded.year_of(START) == 1 and loaded.year_of(START + timedelta(364)) == 1
    assert loaded.year_of(START + timedelta(365)) == 2 and loaded.year_of(START + timedelta(1095)) == 4


def test_year_1_in_order_records_every_step() -> None:
    loaded = cycle(*YEAR_1)
    assert loaded.done == {
        Step.SOSIALISASI_AWAL: START,
        Step.RKM: RKM_ON,
        Step.RELAWAN: RELAWAN_ON,
        Step.REFLEKSI_KEMISKINAN: REFLEKSI_ON,
        Step.PEMETAAN_SWADAYA: PEMETAAN_ON,
        Step.BKM_ELECTION: BKM_ON,
        Step.UNIT_PENGELOLA: UNITS_ON,
        Step.PJM: PJM_ON,
        Step.RENTA: RENTA_ON,
    }
    assert loaded.relawan == {p.person_id: p.woman for p in RELAWAN}
    assert loaded.ps2_version == 2 and loaded.pjm_years == [(1, 3)] and loaded.renta == {1: RENTA_ON}
    assert loaded.utusan == {1: {p.person_id: p.woman for p in UTUSAN}}
    assert loaded.utusan_rt_rw == {1: set(RW)}
    assert loaded.status is Status.IN_PROGRESS


@pytest.mark.parametrize(
    ("done", "action", "missing", "doing"),
    [
        (0, rkm, "sosialisasi awal", "RKM (Rembug Kesiapan Masyarakat)"),
        (1, relawan, "RKM (Rembug Kesiapan Masyarakat)", "registration of relawan"),
        (2, refleksi, "registration of relawan", "Refleksi Kemiskinan"),
        (3, pemetaan, "Refleksi Kemiskinan", "Pemetaan Swadaya"),
        (4, utusan, "Pemetaan Swadaya", "BKM election"),
        (4, bkm, "Pemetaan Swadaya", "BKM election"),
        (5, form(Unit.UPK), "BKM election", "forming of UPK, UPL and UPS"),
        (6, units, "BKM election", "forming of UPK, UPL and UPS"),  # utusan elected, BKM not yet
        (7, pjm, "forming of UPK, UPL and UPS", "PJM Pronangkis"),
        (8, renta(1), "PJM Pronangkis", "Renta Pronangkis"),
        (9, review(2, YEAR_2), "Renta Pronangkis", "Review Partisipatif"),
    ],
    ids=[
        "rkm-needs-sosialisasi",
        "relawan-needs-rkm",
        "refleksi-needs-relawan",
        "pemetaan-needs-refleksi",
        "utusan-needs-pemetaan",
        "bkm-needs-pemetaan",
        "unit-needs-bkm",
        "units-need-bkm-not-only-utusan",
        "pjm-needs-units",
        "renta-needs-pjm",
        "review-needs-renta",
    ],
)
def test_a_step_without_its_prerequisite_is_a_conflict_naming_the_missing_step(
    done: int, action: Callable[[KelurahanCycle], None], missing: str, doing: str
) -> None:
    loaded = cycle(*YEAR_1[:done])
    message = (
        f"The {re.escape(missing)} of Kelurahan {KELURAHAN} \\(KOTAKU\\) has not been recorded; "
        f"it must come before the {re.escape(doing)}"
    )
    with pytest.raises(Conflict, match=message):
        action(loaded)
    assert loaded.pending == []


def test_units_count_as_formed_only_once_upk_upl_and_ups_all_are() -> None:
    loaded = cycle(*YEAR_1[:7], form(Unit.UPK, date(2022, 8, 1)), form(Unit.UPS, date(2022, 8, 9)))
    assert set(loaded.units) == {Unit.UPK, Unit.UPS}
    assert Step.UNIT_PENGELOLA not in loaded.done
    with pytest.raises(Conflict, match=r"forming of UPK, UPL and UPS .* has not been recorded"):
        pjm(loaded)
    form(Unit.UPL, date(2022, 8, 5))(loaded)
    (event,) = loaded.pending
    assert event == UnitPengelolaFormed(
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        unit=Unit.UPL,
        formed_on=date(2022, 8, 5),
        sk_number="SK BKM 02/UPL",
        staff=tuple(staff(Unit.UPL)),
    )
    assert loaded.done[Step.UNIT_PENGELOLA] == date(2022, 8, 9)  # the last of the three
    pjm(loaded)
    assert isinstance(loaded.pending[-1], PjmApproved)


@pytest.mark.parametrize(
    ("done", "action", "prerequisite"),
    [
        (
            1,
            lambda c: c.hold_rkm(meeting(START - timedelta(1)), RkmDecision.ACCEPTED, "L-1", TODAY),
            "sosialisasi awal",
        ),
        (2, lambda c: c.register_relawan(RKM_ON - timedelta(1), RELAWAN, TODAY), "RKM"),
        (3, lambda c: c.hold_refleksi(meeting(RELAWAN_ON - timedelta(1)), TODAY), "registration of relawan"),
        (
            4,
            lambda c: c.complete_pemetaan(meeting(REFLEKSI_ON - timedelta(1)), 2, {2}, TODAY),
            "Refleksi Kemiskinan",
        ),
        (
            5,
            lambda c: c.elect_utusan(1, "RW 01", PEMETAAN_ON - timedelta(1), 9, UTUSAN[:2], TODAY),
            "Pemetaan",
        ),
        (7, form(Unit.UPK, BKM_ON - timedelta(1)), "BKM election"),
        (8, lambda c: c.approve_pjm(meeting(UNITS_ON - timedelta(1)), "PJM", TODAY), "forming of UPK"),
        (9, renta(1, PJM_ON - timedelta(1)), "PJM Pronangkis"),
    ],
)
def test_a_step_dated_before_its_prerequisite_is_refused(
    done: int, action: Callable[[KelurahanCycle], None], prerequisite: str
) -> None:
    loaded = cycle(*YEAR_1[:done])
    with pytest.raises(Conflict, match=f"would come before the {prerequisite}.*check the date"):
        action(loaded)
    assert loaded.pending == []


def test_a_step_on_the_same_day_as_its_prerequisite_is_allowed() -> None:
    loaded = cycle(sosialisasi)
    loaded.hold_rkm(meeting(START), RkmDecision.ACCEPTED, "050/12/2022", TODAY)
    assert loaded.pending[0] == RkmHeld(
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        meeting=meeting(START),
        decision=RkmDecision.ACCEPTED,
        request_letter="050/12/2022",
    )


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (sosialisasi, f"sosialisasi awal .* was already recorded on {START}"),
        (rkm, f"RKM .* was already recorded on {RKM_ON}"),
        (refleksi, f"Refleksi Kemiskinan .* was already recorded on {REFLEKSI_ON}"),
        (pemetaan, f"Pemetaan Swadaya .* was already recorded on {PEMETAAN_ON}"),
        (relawan, "Already registered as relawan"),
        (bkm, "The next BKM election .* is election 2, not 1"),
        (form(Unit.UPS), f"The UPS .* was already formed on {UNITS_ON}"),
        (renta(1), f"The Renta of year 1 .* was approved on {RENTA_ON}"),
    ],
)
def test_a_step_recorded_twice_is_a_conflict(action: Callable[[KelurahanCycle], None], message: str) -> None:
    loaded = cycle(*YEAR_1)
    with pytest.raises(Conflict, match=message):
        action(loaded)
    assert loaded.pending == []


def test_utusan_are_elected_once_per_rt_rw_and_person() -> None:
    loaded = through(utusan)
    with pytest.raises(Conflict, match=r"RW 01 of .* already elected its utusan for election 1"):
        loaded.elect_utusan(1, "RW 01", UTUSAN_ON, 9, people(9000, 2, 1), TODAY)
    with pytest.raises(Conflict, match=f"Already elected utusan in election 1: {UTUSAN[0].person_id}"):
        loaded.elect_utusan(1, "RW 04", UTUSAN_ON, 9, UTUSAN[:1], TODAY)
    with pytest.raises(InvalidInput, match="same person appears twice"):
        loaded.elect_utusan(1, "RW 04", UTUSAN_ON, 9, [UTUSAN_2[0], UTUSAN_2[0]], TODAY)
    assert loaded.pending == []


def test_a_pjm_approved_again_is_taken_as_the_renewal_and_needs_the_reelection() -> None:
    loaded = cycle(*YEAR_1)
    with pytest.raises(Conflict, match=r"BKM re-election .* must come before the new PJM Pronangkis"):
        pjm_renewal(loaded)
    assert loaded.pending == []


def test_more_relawan_can_be_registered_later_but_not_the_same_person_twice() -> None:
    loaded = through(relawan)
    more = people(200, 2, 1)
    loaded.register_relawan(date(2022, 4, 1), more, TODAY)
    assert loaded.done[Step.RELAWAN] == RELAWAN_ON  # the first registration dates the step
    assert set(loaded.relawan) == set(ids(RELAWAN)) | set(ids(more))
    with pytest.raises(InvalidInput, match="same person appears twice"):
        loaded.register_relawan(date(2022, 4, 2), [more[0], more[0]], TODAY)


# --- the RKM -------------------------------------------------------------------------------------------


def test_an_rkm_rejection_ends_the_cycle() -> None:
    fresh = cycle(sosialisasi)
    rkm_rejected(fresh)
    assert fresh.pending == [
        RkmHeld(
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            meeting=meeting(RKM_ON),
            decision=RkmDecision.REJECTED,
            request_letter=None,
        )
    ]
    rejected = cycle(sosialisasi, rkm_rejected)
    assert rejected.status is Status.REJECTED and rejected.status.value == "rejected at RKM"
    later: list[Callable[[KelurahanCycle], object]] = [
        relawan,
        refleksi,
        pemetaan,
        utusan,
        bkm,
        form(Unit.UPK),
        units,
        pjm,
        renta(1),
        review(2, YEAR_2),
    ]
    for step in later:
        with pytest.raises(
            Conflict, match=f"rejected the program at the RKM on {RKM_ON} \\(berita acara BA-001\\)"
        ):
            step(rejected)
    with pytest.raises(Conflict, match=r"RKM .* was already recorded"):
        rkm(rejected)
    assert rejected.pending == []


@pytest.mark.parametrize("letter", [None, ""])
def test_an_accepting_rkm_needs_its_request_letter(letter: str | None) -> None:
    loaded = cycle(sosialisasi)
    with pytest.raises(InvalidInput, match="request for technical assistance"):
        loaded.hold_rkm(meeting(RKM_ON), RkmDecision.ACCEPTED, letter, TODAY)
    assert loaded.pending == [] and Step.RKM not in loaded.done


# --- dates ---------------------------------------------------------------------------------------------

TOMORROW = TODAY + timedelta(1)


@pytest.mark.parametrize(
    ("done", "action"),
    [
        (0, lambda c: c.hold_sosialisasi(meeting(TOMORROW), 1, TODAY)),
        (1, lambda c: c.hold_rkm(meeting(TOMORROW), RkmDecision.ACCEPTED, "L-1", TODAY)),
        (2, lambda c: c.register_relawan(TOMORROW, RELAWAN, TODAY)),
        (3, lambda c: c.hold_refleksi(meeting(TOMORROW), TODAY)),
        (4, lambda c: c.complete_pemetaan(meeting(TOMORROW), 2, {2}, TODAY)),
        (5, lambda c: c.elect_utusan(1, "RW 01", TOMORROW, 9, UTUSAN[:5], TODAY)),
        (6, lambda c: constitute(c, day=TOMORROW)),
        (7, form(Unit.UPK, TOMORROW)),
        (8, lambda c: c.approve_pjm(meeting(TOMORROW), "PJM", TODAY)),
        (9, renta(2, TOMORROW)),
        (10, review(2, TOMORROW)),
        (
            10,
            lambda c: c.replace_member(
                MEN[0].person_id, MEN[7].person_id, "moved", TOMORROW, "BA", None, TODAY
            ),
        ),
    ],
)
def test_a_future_date_is_invalid_input(done: int, action: Callable[[KelurahanCycle], None]) -> None:
    loaded = cycle(*YEAR_1[:done])
    with pytest.raises(InvalidInput, match=f"{TOMORROW} is in the future"):
        action(loaded)
    assert loaded.pending == []


# --- pemetaan swadaya ----------------------------------------------------------------------------------


def test_pemetaan_swadaya_refuses_a_ps2_version_that_was_not_published() -> None:
    loaded = through(refleksi)
    with pytest.raises(
        Conflict, match=r"PS-2 version 3 .* not been published .*\(published versions: 1, 2\)"
    ):
        loaded.complete_pemetaan(meeting(PEMETAAN_ON), 3, {2, 1}, TODAY)
    with pytest.raises(Conflict, match=r"\(published versions: none yet\)"):
        loaded.complete_pemetaan(meeting(PEMETAAN_ON), 1, set(), TODAY)
    assert loaded.pending == []
    loaded.complete_pemetaan(meeting(PEMETAAN_ON), 1, {1, 2}, TODAY)
    assert loaded.pending == [
        PemetaanSwadayaCompleted(
            period_code=PERIOD, kelurahan_code=KELURAHAN, meeting=meeting(PEMETAAN_ON), ps2_version=1
        )
    ]
    assert loaded.ps2_version == 1 and loaded.done[Step.PEMETAAN_SWADAYA] == PEMETAAN_ON


# --- the BKM election ----------------------------------------------------------------------------------


def test_the_bkm_is_elected_from_the_utusan_and_its_term_starts() -> None:
    loaded = through(utusan)
    assert loaded.next_election == 1
    bkm(loaded)
    assert loaded.pending == [
        BkmConstituted(
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            election=1,
            meeting=meeting(BKM_ON),
            ballots_cast=15,
            members=tuple(ElectedMember(person_id=p.person_id, woman=p.woman, votes=8) for p in BKM_MEMBERS),
            coordinator=COORDINATOR,
            anggaran_dasar="AD/ART BKM Sejahtera",
            term_starts_on=BKM_ON,
            term_ends_on=TERM_ENDS,
            women_pct=33.3,
            women_below_target=False,
            parameters_version=1,
        )
    ]
    elected = through(bkm)
    assert elected.bkm == Bkm(
        election=1,
        members={p.person_id: p.woman for p in BKM_MEMBERS},
        coordinator=COORDINATOR,
        term_starts_on=BKM_ON,
        term_ends_on=TERM_ENDS,
        women_below_target=False,
    )
    assert elected.done[Step.BKM_ELECTION] == BKM_ON and elected.next_election == 2


def test_no_bkm_before_its_utusan_are_elected() -> None:
    loaded = through(pemetaan)
    with pytest.raises(Conflict, match=r"No utusan warga .* were elected for election 1"):
        bkm(loaded)
    assert loaded.pending == []


def test_bkm_members_must_be_utusan_of_that_election() -> None:
    loaded = through(utusan)
    stranger = uuid4()
    elected = [*candidates(BKM_MEMBERS[:8]), Candidate(stranger, 8, literate=True, party_member=False)]
    with pytest.raises(Conflict, match=f"not an utusan of election 1: {stranger}"):
        constitute(loaded, elected=elected)
    assert loaded.pending == [] and loaded.bkm is None


@pytest.mark.parametrize("size", [7, 8, 10, 12, 14])
def test_a_bkm_of_the_wrong_size_or_an_even_size_is_refused(size: int) -> None:
    loaded = through(utusan)
    with pytest.raises(InvalidInput, match=f"9 to 13 members, an odd number .*; {size} were elected"):
        constitute(loaded, UTUSAN[:size])
    assert loaded.pending == []


@pytest.mark.parametrize("size", [9, 11, 13])
def test_a_bkm_of_an_odd_size_within_the_rules_is_constituted(size: int) -> None:
    loaded = through(utusan)
    constitute(loaded, UTUSAN[:size])
    assert loaded.bkm is not None and len(loaded.bkm.members) == size


def test_an_even_size_is_allowed_when_the_rules_do_not_require_odd() -> None:
    loaded = through(utusan)
    constitute(loaded, UTUSAN[:10], rules=BkmRules(members_odd=False))
    assert loaded.bkm is not None and len(loaded.bkm.members) == 10
    again = through(utusan)
    with pytest.raises(InvalidInput, match="A BKM has 5 to 7 members"):
        constitute(again, UTUSAN[:9], rules=BkmRules(members_min=5, members_max=7, members_odd=False))


@pytest.mark.parametrize(
    ("literate", "party_member"),
    [(False, False), (True, True), (False, True)],
    ids=["illiterate", "party", "both"],
)
def test_party_members_and_illiterate_candidates_cannot_be_elected(
    literate: bool, party_member: bool
) -> None:
    loaded = through(utusan)
    barred = BKM_MEMBERS[4].person_id
    elected = [
        Candidate(c.person_id, c.votes, literate=literate, party_member=party_member)
        if c.person_id == barred
        else c
        for c in candidates(BKM_MEMBERS)
    ]
    with pytest.raises(InvalidInput, match=f"literate and may not be members of a political party.*{barred}"):
        constitute(loaded, elected=elected)
    assert loaded.pending == []


def test_no_candidate_has_more_votes_than_ballots_cast() -> None:
    loaded = through(utusan)
    elected = candidates(BKM_MEMBERS, votes=10)
    elected[2] = Candidate(elected[2].person_id, 11, literate=True, party_member=False)
    with pytest.raises(
        InvalidInput, match=rf"More votes than ballots cast \(10\) for: {elected[2].person_id}"
    ):
        constitute(loaded, ballots_cast=10, elected=elected)
    constitute(loaded, ballots_cast=10, elected=candidates(BKM_MEMBERS, votes=10))
    assert len(loaded.pending) == 1


def test_no_more_ballots_than_utusan() -> None:
    loaded = through(utusan)
    with pytest.raises(InvalidInput, match="16 ballots were cast but election 1 has only 15 utusan"):
        constitute(loaded, ballots_cast=16)
    assert loaded.pending == []


def test_the_coordinator_is_one_of_the_elected_members() -> None:
    loaded = through(utusan)
    with pytest.raises(InvalidInput, match="coordinator is chosen from among the elected members"):
        constitute(loaded, coordinator=MEN[9].person_id)  # an utusan, not elected
    assert loaded.pending == []


def test_the_same_person_elected_twice_is_invalid() -> None:
    loaded = through(utusan)
    with pytest.raises(InvalidInput, match="same person appears twice"):
        constitute(loaded, [*BKM_MEMBERS[:8], BKM_MEMBERS[0]])


@pytest.mark.parametrize(
    ("members", "rules", "pct", "below"),
    [
        (WOMEN[:2] + MEN[:7], BkmRules(), 22.2, True),
        (WOMEN[:1] + MEN[:10], BkmRules(), 9.1, True),
        (MEN[:9], BkmRules(), 0.0, True),
        (WOMEN[:3] + MEN[:6], BkmRules(), 33.3, False),
        (WOMEN[:3] + MEN[:7], BkmRules(members_odd=False), 30.0, False),
        (WOMEN[:5] + MEN[:4], BkmRules(), 55.6, False),
        (WOMEN[:3] + MEN[:6], BkmRules(women_target_pct=40), 33.3, True),
    ],
    ids=["2-of-9", "1-of-11", "none", "3-of-9", "exactly-30", "5-of-9", "target-40"],
)
def test_fewer_women_than_the_target_is_allowed_but_flagged(
    members: list[Person], rules: BkmRules, pct: float, below: bool
) -> None:
    loaded = through(utusan)
    constitute(loaded, members, rules=rules)
    (event,) = loaded.pending
    assert isinstance(event, BkmConstituted)
    assert (event.women_pct, event.women_below_target) == (pct, below)
    assert loaded.bkm is not None and loaded.bkm.women_below_target is below


@pytest.mark.parametrize(
    ("years", "ends"), [(3, date(2025, 7, 1)), (5, date(2027, 7, 1)), (1, date(2023, 7, 1))]
)
def test_the_term_ends_term_years_after_the_election(years: int, ends: date) -> None:
    loaded = through(utusan)
    constitute(loaded, rules=BkmRules(term_years=years))
    (event,) = loaded.pending
    assert isinstance(event, BkmConstituted)
    assert (event.term_starts_on, event.term_ends_on) == (BKM_ON, ends)


def test_the_bkm_is_active_before_its_term_ends_and_expired_after() -> None:
    loaded = through(bkm)
    assert loaded.bkm is not None
    assert loaded.bkm.status(BKM_ON) is BkmStatus.ACTIVE
    assert loaded.bkm.status(TERM_ENDS - timedelta(1)) is BkmStatus.ACTIVE
    assert loaded.bkm.status(TERM_ENDS + timedelta(1)) is BkmStatus.EXPIRED
    assert loaded.bkm.status(TODAY) is BkmStatus.EXPIRED
    loaded.require_bkm(date(2024, 1, 1), "a KSM can be registered")
    with pytest.raises(Conflict, match=f"BKM term .* ended on {TERM_ENDS} without a re-election"):
        loaded.require_bkm(TERM_ENDS + timedelta(1), "a KSM can be registered")
    with pytest.raises(Conflict, match=r"BKM election .* has not been recorded; a KSM can be registered"):
        through(pemetaan).require_bkm(TODAY, "a KSM can be registered")


# --- re-election ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "days", [365, 730, 1000, 1094], ids=["year-2-start", "year-3-start", "year-3", "eve-of-4"]
)
def test_the_reelection_is_refused_before_year_4(days: int) -> None:
    loaded = cycle(*YEAR_1)
    day = START + timedelta(days)
    year = loaded.year_of(day)
    assert year < 4
    with pytest.raises(Conflict, match=f"re-elected in year 4 of the cycle; {day} is in year {year}"):
        loaded.elect_utusan(2, "RW 01", day, 50, UTUSAN_2[:5], TODAY)
    with pytest.raises(Conflict, match="re-elected in year 4"):
        constitute(loaded, UTUSAN_2[:9], election=2, day=day)
    assert loaded.pending == []


def test_the_reelection_is_held_in_year_4() -> None:
    day = START + timedelta(1095)  # the first day of year 4
    loaded = cycle(*YEAR_1, utusan_2(day))
    assert loaded.year_of(day) == 4 and set(loaded.utusan[2]) == set(ids(UTUSAN_2))
    with pytest.raises(Conflict, match=f"not an utusan of election 2: {BKM_MEMBERS[0].person_id}"):
        constitute(loaded, BKM_MEMBERS, election=2, day=day)  # election 1's people are not utusan now
    members = UTUSAN_2[:3] + UTUSAN_2[5:11]
    constitute(loaded, members, election=2, day=day)
    (event,) = loaded.pending
    assert isinstance(event, BkmConstituted) and event.election == 2
    assert (event.term_starts_on, event.term_ends_on) == (day, date(2028, 1, 9))
    assert loaded.bkm is not None and loaded.bkm.election == 2
    assert set(loaded.bkm.members) == set(ids(members))
    assert loaded.done[Step.BKM_REELECTION] == day and loaded.done[Step.BKM_ELECTION] == BKM_ON
    assert loaded.next_election == 3


def test_elections_come_in_order() -> None:
    with pytest.raises(Conflict, match=r"next BKM election .* is election 1, not 2"):
        through(pemetaan).elect_utusan(2, "RW 01", YEAR_4, 50, UTUSAN_2[:5], TODAY)
    with pytest.raises(Conflict, match=r"next BKM election .* is election 2, not 3"):
        cycle(*YEAR_1).elect_utusan(3, "RW 01", YEAR_4, 50, UTUSAN_2[:5], TODAY)


# --- replacement (PAW) and coordinator -----------------------------------------------------------------

PAW_ON = date(2023, 3, 1)


def test_a_member_is_replaced_by_an_utusan_of_the_same_election() -> None:
    loaded = through(bkm)
    leaving, joining = MEN[0].person_id, WOMEN[3]
    loaded.replace_member(leaving, joining.person_id, "moved away", PAW_ON, "BA-PAW-1", None, TODAY)
    assert loaded.pending == [
        BkmMemberReplaced(
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            election=1,
            leaving=leaving,
            joining=Person(person_id=joining.person_id, woman=True),
            reason="moved away",
            replaced_on=PAW_ON,
            berita_acara="BA-PAW-1",
        )
    ]
    assert loaded.bkm is not None
    assert leaving not in loaded.bkm.members and loaded.bkm.members[joining.person_id] is True
    assert len(loaded.bkm.members) == 9 and loaded.bkm.coordinator == COORDINATOR


@pytest.mark.parametrize(
    ("leaving", "joining", "message"),
    [
        (MEN[0].person_id, UTUSAN_2[0].person_id, "comes from the utusan warga of election 1"),
        (MEN[0].person_id, RELAWAN[0].person_id, "comes from the utusan warga of election 1"),
        (MEN[9].person_id, MEN[8].person_id, f"{MEN[9].person_id} is not a member of the BKM"),
        (MEN[0].person_id, MEN[1].person_id, f"{MEN[1].person_id} is already a member of the BKM"),
    ],
    ids=["joining-not-utusan", "joining-a-relawan", "leaving-not-member", "joining-already-member"],
)
def test_a_replacement_must_swap_a_member_for_an_utusan(leaving: UUID, joining: UUID, message: str) -> None:
    loaded = through(bkm)
    with pytest.raises(Conflict, match=message):
        loaded.replace_member(leaving, joining, "moved away", PAW_ON, "BA-PAW-1", None, TODAY)
    assert loaded.pending == []


def test_when_the_coordinator_leaves_a_new_coordinator_is_named() -> None:
    loaded = through(bkm)
    new_member = MEN[7].person_id
    with pytest.raises(InvalidInput, match="leaving member is the coordinator: name the new coordinator"):
        loaded.replace_member(COORDINATOR, new_member, "passed away", PAW_ON, "BA-PAW-2", None, TODAY)
    with pytest.raises(InvalidInput, match="coordinator is chosen from among the BKM's members"):
        loaded.replace_member(COORDINATOR, new_member, "passed away", PAW_ON, "BA-PAW-2", COORDINATOR, TODAY)
    with pytest.raises(InvalidInput, match="coordinator is chosen from among the BKM's members"):
        loaded.replace_member(
            COORDINATOR, new_member, "passed away", PAW_ON, "BA-PAW-2", MEN[9].person_id, TODAY
        )
    assert loaded.pending == []
    loaded.replace_member(COORDINATOR, new_member, "passed away", PAW_ON, "BA-PAW-2", new_member, TODAY)
    replaced, chosen = loaded.pending
    assert isinstance(replaced, BkmMemberReplaced) and replaced.leaving == COORDINATOR
    assert chosen == BkmCoordinatorChosen(
        period_code=PERIOD, kelurahan_code=KELURAHAN, election=1, coordinator=new_member, chosen_on=PAW_ON
    )
    assert loaded.bkm is not None and loaded.bkm.coordinator == new_member
    assert COORDINATOR not in loaded.bkm.members


def test_a_replacement_after_the_term_expired_is_a_conflict() -> None:
    loaded = through(bkm)
    with pytest.raises(Conflict, match=f"BKM term .* ended on {TERM_ENDS} without a re-election"):
        loaded.replace_member(MEN[0].person_id, MEN[7].person_id, "moved", TERM_ENDS, "BA", None, TODAY)
    with pytest.raises(Conflict, match="without a re-election"):
        loaded.replace_member(
            MEN[0].person_id, MEN[7].person_id, "moved", date(2025, 8, 1), "BA", None, TODAY
        )
    with pytest.raises(Conflict, match=r"before the BKM .* was elected"):
        loaded.replace_member(
            MEN[0].person_id, MEN[7].person_id, "moved", BKM_ON - timedelta(1), "BA", None, TODAY
        )
    assert loaded.pending == []
    loaded.replace_member(
        MEN[0].person_id, MEN[7].person_id, "moved", TERM_ENDS - timedelta(1), "BA", None, TODAY
    )
    assert len(loaded.pending) == 1


def test_no_replacement_before_a_bkm_exists() -> None:
    loaded = through(utusan)
    with pytest.raises(Conflict, match=r"BKM election .* has not been recorded; a member can be replaced"):
        loaded.replace_member(MEN[0].person_id, MEN[7].person_id, "moved", PAW_ON, "BA", None, TODAY)


def test_after_the_reelection_replacements_come_from_the_new_utusan() -> None:
    loaded = cycle(*YEAR_1, reelection)
    assert loaded.bkm is not None and loaded.bkm.election == 2
    leaving = UTUSAN_2[5].person_id
    with pytest.raises(Conflict, match="utusan warga of election 2"):
        loaded.replace_member(leaving, MEN[9].person_id, "moved", date(2025, 9, 1), "BA", None, TODAY)
    loaded.replace_member(leaving, UTUSAN_2[14].person_id, "moved", date(2025, 9, 1), "BA", None, TODAY)
    (event,) = loaded.pending
    assert isinstance(event, BkmMemberReplaced) and event.election == 2


def test_a_new_coordinator_is_chosen_from_the_members() -> None:
    loaded = through(bkm)
    with pytest.raises(InvalidInput, match="chosen from among the BKM's members"):
        loaded.choose_coordinator(MEN[9].person_id, PAW_ON, TODAY)
    with pytest.raises(Conflict, match="already the coordinator"):
        loaded.choose_coordinator(COORDINATOR, PAW_ON, TODAY)
    loaded.choose_coordinator(MEN[2].person_id, PAW_ON, TODAY)
    assert loaded.bkm is not None and loaded.bkm.coordinator == MEN[2].person_id


# --- units, PJM, Renta, review -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2])
def test_a_unit_has_at_least_three_people(count: int) -> None:
    loaded = through(bkm)
    with pytest.raises(InvalidInput, match=f"A unit \\(UPK\\) has at least 3 people; {count} given"):
        loaded.form_unit(Unit.UPK, UNITS_ON, "SK-1", staff(Unit.UPK)[:count], TODAY)
    with pytest.raises(InvalidInput, match="same person appears twice"):
        loaded.form_unit(Unit.UPK, UNITS_ON, "SK-1", [staff(Unit.UPK)[0]] * 3, TODAY)
    assert loaded.pending == [] and loaded.units == {}


def test_the_pjm_covers_years_1_to_3() -> None:
    loaded = through(units)
    pjm(loaded)
    assert loaded.pending == [
        PjmApproved(
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            meeting=meeting(PJM_ON),
            first_year=1,
            years=3,
            document="PJM Pronangkis 2022-2024",
        )
    ]
    assert loaded.pjm_years == [(1, 3)] and loaded.done[Step.PJM] == PJM_ON


def test_a_renta_for_a_year_no_pjm_covers_is_a_conflict() -> None:
    loaded = cycle(*YEAR_1, renta(2, date(2023, 9, 1)), renta(3, date(2024, 9, 1)))
    with pytest.raises(Conflict, match=r"No approved PJM .* covers year 4 \(the PJM covers years 1 to 3\)"):
        renta(4, YEAR_4)(loaded)
    assert loaded.pending == []


def test_a_renta_is_for_the_current_or_the_coming_year() -> None:
    loaded = through(pjm)
    with pytest.raises(Conflict, match=r"is in year 1 of the cycle; a Renta is approved .* not year 3"):
        renta(3)(loaded)
    renta(2)(loaded)
    assert loaded.pending == [
        RentaApproved(
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            year=2,
            approved_on=RENTA_ON,
            document="Renta Pronangkis tahun 2",
        )
    ]


def test_the_review_of_year_2_needs_the_renta_of_year_1() -> None:
    loaded = cycle(*YEAR_1[:9], renta(2))  # a Renta, but for year 2 only
    with pytest.raises(
        Conflict, match="review of year 2 looks back on the Renta of year 1, which was not approved"
    ):
        review(2, YEAR_2)(loaded)
    assert loaded.pending == []

    with_renta = cycle(*YEAR_1)
    with pytest.raises(Conflict, match="is in year 1 of the cycle, before year 2"):
        review(2, date(2022, 12, 1))(with_renta)
    review(2, YEAR_2)(with_renta)
    assert with_renta.pending == [
        ReviewPartisipatifHeld(
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            year=2,
            meeting=meeting(YEAR_2),
            findings="Target tercapai sebagian",
        )
    ]
    assert with_renta.reviews == {2: YEAR_2} and with_renta.done[Step.REVIEW_PARTISIPATIF] == YEAR_2
    with pytest.raises(Conflict, match=f"review of year 2 .* was held on {YEAR_2}"):
        review(2, YEAR_2 + timedelta(1))(with_renta)


def test_the_year_4_pjm_renewal_needs_the_reelection() -> None:
    loaded = cycle(*YEAR_1, utusan_2())
    with pytest.raises(Conflict, match=r"BKM re-election .* must come before the new PJM Pronangkis"):
        pjm_renewal(loaded)
    reelected = cycle(*YEAR_1, reelection)
    pjm_renewal(reelected)
    (event,) = reelected.pending
    assert isinstance(event, PjmApproved) and (event.first_year, event.years) == (4, 3)
    assert reelected.pjm_years == [(1, 3), (4, 6)]
    assert reelected.done[Step.PJM_RENEWAL] == date(2025, 3, 1) and reelected.done[Step.PJM] == PJM_ON
    renta(4, date(2025, 3, 15))(reelected)
    assert reelected.renta[4] == date(2025, 3, 15)
    with pytest.raises(Conflict, match=r"new PJM Pronangkis .* was already recorded"):
        pjm_renewal(reelected)


# --- the schedule --------------------------------------------------------------------------------------


def by_step(items: list[ScheduleItem]) -> dict[tuple[Step, int | None], ScheduleItem]:
    return {(i.step, i.year): i for i in items}


def test_the_schedule_shows_late_steps_done_and_undone() -> None:
    start, today = date(2026, 1, 5), date(2026, 4, 15)  # today is day 100
    assert (today - start).days == 100
    loaded = new()
    loaded.hold_sosialisasi(meeting(start), 1, today)
    loaded.hold_rkm(meeting(start + timedelta(40)), RkmDecision.ACCEPTED, "L-1", today)
    targeted_on = start - timedelta(40)  # sosialisasi expected 30 days after: 10 days late
    items = by_step(loaded.schedule(CycleRules(), targeted_on, today))

    assert items[(Step.SOSIALISASI_AWAL, None)] == ScheduleItem(
        Step.SOSIALISASI_AWAL, None, start - timedelta(10), start, Progress.DONE_LATE, 10
    )
    assert items[(Step.RKM, None)] == ScheduleItem(
        Step.RKM, None, start + timedelta(30), start + timedelta(40), Progress.DONE_LATE, 10
    )
    assert items[(Step.RELAWAN, None)] == ScheduleItem(
        Step.RELAWAN, None, start + timedelta(45), None, Progress.LATE, 55
    )
    assert items[(Step.REFLEKSI_KEMISKINAN, None)] == ScheduleItem(
        Step.REFLEKSI_KEMISKINAN, None, start + timedelta(75), None, Progress.LATE, 25
    )
    assert items[(Step.PEMETAAN_SWADAYA, None)] == ScheduleItem(
        Step.PEMETAAN_SWADAYA, None, start + timedelta(120), None, Progress.DUE, 0
    )
    assert items[(Step.RENTA, 1)] == ScheduleItem(
        Step.RENTA, 1, start + timedelta(300), None, Progress.DUE, 0
    )
    # Only the steps expected within a year from today: not the Renta of year 2, the review, the year-4 steps.
    assert [step for step, _ in items] == list(Step)[:9]
    assert (Step.RENTA, 2) not in items and (Step.BKM_REELECTION, None) not in items


def test_the_schedule_stops_at_the_end_of_the_program_period() -> None:
    start = date(2026, 1, 5)
    loaded = cycle(lambda c: c.hold_sosialisasi(meeting(start), 1, TODAY))
    items = by_step(loaded.schedule(CycleRules(), None, start + timedelta(100), start + timedelta(200)))
    assert (Step.BKM_ELECTION, None) in items  # expected on day 180
    assert (Step.UNIT_PENGELOLA, None) not in items and (Step.RENTA, 1) not in items  # days 210 and 300


def test_the_schedule_as_of_a_past_day_ignores_what_was_done_after_it() -> None:
    loaded = cycle(*YEAR_1)
    as_of = date(2022, 2, 10)
    items = by_step(loaded.schedule(CycleRules(), None, as_of))
    assert items[(Step.RKM, None)].progress is Progress.DONE
    relawan_item = items[(Step.RELAWAN, None)]  # done on 2022-02-15, expected on 2022-02-24
    assert (relawan_item.done_on, relawan_item.progress) == (None, Progress.DUE)
    before = by_step(loaded.schedule(CycleRules(), None, START - timedelta(1)))
    assert before[(Step.SOSIALISASI_AWAL, None)].done_on is None
    assert all(i.progress is Progress.DUE for i in before.values())


YEAR_1_STEPS = [
    Step.RKM,
    Step.RELAWAN,
    Step.REFLEKSI_KEMISKINAN,
    Step.PEMETAAN_SWADAYA,
    Step.BKM_ELECTION,
    Step.UNIT_PENGELOLA,
    Step.PJM,
    Step.RENTA,
]


def test_the_schedule_of_a_cycle_done_on_time_and_late_later() -> None:
    loaded = cycle(*YEAR_1)
    items = by_step(loaded.schedule(CycleRules(), date(2021, 12, 1), TODAY))
    assert items[(Step.SOSIALISASI_AWAL, None)].progress is Progress.DONE_LATE
    assert items[(Step.SOSIALISASI_AWAL, None)].late_days == 10  # expected 2021-12-31
    for step in YEAR_1_STEPS:
        assert items[(step, None if step is not Step.RENTA else 1)].progress is Progress.DONE, step
        assert items[(step, None if step is not Step.RENTA else 1)].late_days == 0
    renta_2 = items[(Step.RENTA, 2)]
    assert renta_2.expected_on == START + timedelta(300 + 365)
    assert (renta_2.progress, renta_2.late_days) == (Progress.LATE, (TODAY - START - timedelta(665)).days)
    review_2 = items[(Step.REVIEW_PARTISIPATIF, 2)]
    assert (review_2.expected_on, review_2.progress) == (START + timedelta(665), Progress.LATE)
    assert review_2.late_days == (TODAY - START - timedelta(665)).days
    again = items[(Step.BKM_REELECTION, None)]
    assert again.progress is Progress.LATE and again.late_days == (TODAY - START - timedelta(1155)).days
    # Today is in year 5; the Renta of year 5 is expected in 4 days, that of year 6 more than a year ahead.
    assert loaded.year_of(TODAY) == 5
    renta_5 = items[(Step.RENTA, 5)]
    assert (renta_5.expected_on, renta_5.progress, renta_5.late_days) == (date(2026, 11, 5), Progress.DUE, 0)
    assert (Step.RENTA, 6) not in items


def test_the_schedule_after_a_late_step_done_counts_its_late_days() -> None:
    loaded = cycle(*YEAR_1[:8], lambda c: c.approve_pjm(meeting(START + timedelta(290)), "PJM", TODAY))
    item = by_step(loaded.schedule(CycleRules(), None, TODAY))[(Step.PJM, None)]
    assert (item.expected_on, item.done_on, item.progress, item.late_days) == (
        START + timedelta(270),
        START + timedelta(290),
        Progress.DONE_LATE,
        20,
    )


def test_after_an_rkm_rejection_later_steps_are_no_longer_needed() -> None:
    rejected = cycle(sosialisasi, rkm_rejected)
    items = rejected.schedule(CycleRules(), None, TODAY)
    done = by_step(items)
    assert done[(Step.SOSIALISASI_AWAL, None)].progress is Progress.DONE
    assert done[(Step.RKM, None)].progress is Progress.DONE
    later = [i for i in items if i.step not in {Step.SOSIALISASI_AWAL, Step.RKM}]
    assert later and all(i.progress is Progress.ENDED and i.late_days == 0 for i in later)
    assert {Step.RELAWAN, Step.BKM_ELECTION, Step.RENTA, Step.PJM_RENEWAL} <= {i.step for i in later}


def test_a_cycle_not_started_has_everything_due() -> None:
    items = new().schedule(CycleRules(), None, TODAY)
    assert all(i.progress is Progress.DUE and i.expected_on is None and i.late_days == 0 for i in items)
    targeted = by_step(new().schedule(CycleRules(), date(2026, 9, 1), TODAY))[(Step.SOSIALISASI_AWAL, None)]
    assert (targeted.expected_on, targeted.progress, targeted.late_days) == (
        date(2026, 10, 1),
        Progress.LATE,
        31,
    )


# --- replay --------------------------------------------------------------------------------------------


def test_replaying_the_events_gives_the_same_state() -> None:
    live = new()
    for step in YEAR_1:
        step(live)
    live.replace_member(COORDINATOR, WOMEN[4].person_id, "moved", PAW_ON, "BA", MEN[3].person_id, TODAY)
    after_paw = len(live.pending)
    for step in [
        renta(2, date(2023, 9, 1)),
        review(2, date(2023, 10, 1)),
        reelection,
        lambda c: c.replace_member(
            UTUSAN_2[5].person_id, UTUSAN_2[13].person_id, "ill", date(2025, 4, 1), "BA", None, TODAY
        ),
        pjm_renewal,
        renta(4, date(2025, 3, 15)),
    ]:
        step(live)
    replayed = new().replay(live.pending)
    assert state(replayed) == state(live)
    assert replayed.version == len(live.pending) and replayed.pending == []
    assert replayed.bkm is not None and replayed.bkm.election == 2
    assert (
        UTUSAN_2[13].person_id in replayed.bkm.members and UTUSAN_2[5].person_id not in replayed.bkm.members
    )
    assert replayed.bkm.term_ends_on == date(2028, 2, 1)
    assert replayed.done[Step.PJM_RENEWAL] == date(2025, 3, 1) and replayed.reviews == {2: date(2023, 10, 1)}

    # The first BKM's replacement and coordinator change replay too.
    first = new().replay(live.pending[:after_paw])
    assert first.bkm is not None and first.bkm.coordinator == MEN[3].person_id
    assert WOMEN[4].person_id in first.bkm.members and COORDINATOR not in first.bkm.members
