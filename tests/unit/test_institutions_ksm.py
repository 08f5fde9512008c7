"""KSM and cadre training without a database: a KSM's registration from PS-2 households, its membership
and flags, and its loan eligibility (derived after every change, published only when it changes); the
training catalogue and the trainings delivered."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from services.institutions.ksm import Ksm
from services.institutions.training import Training, TrainingCatalogue
from shared.contracts.institutions import (
    Audience,
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
    Participant,
    TrainerRole,
    TrainingDelivered,
    TrainingModuleAdded,
)
from shared.contracts.targeting import KsmRules
from shared.errors import Conflict, InvalidInput
from shared.events import DomainEvent

PERIOD, KELURAHAN = "KOTAKU", "33.74.10.1004"
TODAY = date(2026, 11, 1)
REGISTERED_ON = date(2026, 6, 1)
SIGNED_ON = date(2026, 8, 20)
TRAINED_ON = date(2026, 9, 1)
RULES = KsmRules()
KSM_ID = UUID("5a1e0000-0000-4000-8000-000000000001")
SAVINGS = ("2026-06", "2026-07", "2026-08")
MODULES = ("PB", "KWU", "PERT")


def households(count: int, women: int, first: int = 0) -> list[Member]:
    return [Member(household_id=UUID(int=10_000 + first + i), woman=i < women) for i in range(count)]


FIVE = households(5, 2)  # 40 % women


def registered(
    members: Sequence[Member] = FIVE, type: KsmType = KsmType.EKONOMI, on: date = REGISTERED_ON
) -> Ksm:
    ksm = Ksm(KSM_ID)
    ksm.register(PERIOD, KELURAHAN, "KSM Maju Bersama", type, on, list(members), [], RULES, 1)
    return ksm


def save(ksm: Ksm, *months: str, amount: int = 50_000) -> None:
    for month in months:
        ksm.record_savings(month, amount, TODAY, RULES, 1)


def sign(ksm: Ksm, on: date = SIGNED_ON) -> None:
    ksm.record_joint_liability(on, "Pernyataan TR 01/2026", len(ksm.members), RULES, 1)


def train(ksm: Ksm, *modules: str, on: date = TRAINED_ON) -> None:
    for module in modules:
        ksm.record_training(module, on, RULES, 1)


def history(
    members: Sequence[Member] = FIVE,
    *,
    savings: Sequence[str] = SAVINGS,
    signed_on: date | None = SIGNED_ON,
    trainings: Sequence[str] = MODULES,
) -> list[DomainEvent]:
    """The events of a KSM ekonomi taken through the given facts (by default, all a loan needs)."""
    ksm = registered(members)
    save(ksm, *savings)
    if signed_on is not None:
        sign(ksm, signed_on)
    train(ksm, *trainings)
    return ksm.pending


def qualified(
    members: Sequence[Member] = FIVE,
    *,
    savings: Sequence[str] = SAVINGS,
    signed_on: date | None = SIGNED_ON,
    trainings: Sequence[str] = MODULES,
) -> Ksm:
    """That KSM loaded from its events (nothing pending)."""
    return Ksm(KSM_ID).replay(history(members, savings=savings, signed_on=signed_on, trainings=trainings))


def committed(ksm: Ksm) -> Ksm:
    return Ksm(ksm.ksm_id).replay(ksm.pending)


def changes(events: Sequence[DomainEvent]) -> list[KsmLoanEligibilityChanged]:
    return [e for e in events if isinstance(e, KsmLoanEligibilityChanged)]


def eligibility(ksm: Ksm) -> KsmLoanEligibilityChanged:
    assert ksm.eligibility is not None
    return ksm.eligibility


def unmet(ksm: Ksm) -> list[str]:
    """The rules the KSM does not meet now (the last published event may predate a change of reasons)."""
    return ksm.assess(RULES, 1)[0]


def state(ksm: Ksm) -> dict[str, object]:
    return {
        f.name: getattr(ksm, f.name) for f in dataclasses.fields(ksm) if f.name not in {"pending", "version"}
    }


# --- registration --------------------------------------------------------------------------------------


def test_a_ksm_ekonomi_is_registered_not_yet_eligible_with_the_unmet_rules() -> None:
    ksm = registered()
    registration, change = ksm.pending
    assert registration == KsmRegistered(
        ksm_id=KSM_ID,
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        name="KSM Maju Bersama",
        type=KsmType.EKONOMI,
        registered_on=REGISTERED_ON,
        members=tuple(FIVE),
    )
    assert change == KsmLoanEligibilityChanged(
        ksm_id=KSM_ID,
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        eligible=False,
        unmet=(
            "group savings in 3 consecutive months (now 0)",
            "a signed joint-liability statement (tanggung renteng)",
            "training in PB, KWU, PERT",
        ),
        snapshot=EligibilitySnapshot(
            members=5,
            women=2,
            women_pct=40.0,
            members_off_ps2=0,
            savings_months=0,
            joint_liability_signed_on=None,
            trainings=(),
            parameters_version=1,
        ),
    )
    loaded = committed(ksm)
    assert loaded.members == {m.household_id: m.woman for m in FIVE}
    assert (loaded.name, loaded.type, loaded.registered_on) == (
        "KSM Maju Bersama",
        KsmType.EKONOMI,
        REGISTERED_ON,
    )
    assert loaded.membership_changed_on == REGISTERED_ON and loaded.eligibility == change
    assert loaded.stream == f"ksm-{KSM_ID}" and loaded.city_code == "33.74"


def test_registration_refuses_households_not_on_ps2_and_names_them() -> None:
    off = [uuid4(), uuid4()]
    ksm = Ksm(KSM_ID)
    with pytest.raises(
        Conflict, match=f"PS-2 list of kelurahan {KELURAHAN}; not on it now: {off[0]}, {off[1]}"
    ):
        ksm.register(PERIOD, KELURAHAN, "KSM Maju", KsmType.EKONOMI, REGISTERED_ON, FIVE, off, RULES, 1)
    assert ksm.pending == [] and not ksm.exists


@pytest.mark.parametrize("count", [0, 1, 2])
def test_a_ksm_has_at_least_the_general_minimum_of_members(count: int) -> None:
    ksm = Ksm(KSM_ID)
    with pytest.raises(InvalidInput, match=f"A KSM has at least 3 members; {count} given"):
        ksm.register(
            PERIOD, KELURAHAN, "KSM Kecil", KsmType.LINGKUNGAN, REGISTERED_ON, FIVE[:count], [], RULES, 1
        )
    assert ksm.pending == []
    ksm.register(PERIOD, KELURAHAN, "KSM Kecil", KsmType.LINGKUNGAN, REGISTERED_ON, FIVE[:3], [], RULES, 1)
    assert len(ksm.pending) == 1


def test_the_same_household_twice_is_refused() -> None:
    ksm = Ksm(KSM_ID)
    with pytest.raises(InvalidInput, match="same household appears twice"):
        ksm.register(PERIOD, KELURAHAN, "KSM", KsmType.EKONOMI, REGISTERED_ON, [*FIVE, FIVE[0]], [], RULES, 1)
    assert ksm.pending == []


def test_a_ksm_is_registered_once() -> None:
    for ksm in (registered(), committed(registered())):
        with pytest.raises(Conflict, match="is already registered"):
            ksm.register(PERIOD, KELURAHAN, "KSM", KsmType.EKONOMI, REGISTERED_ON, FIVE, [], RULES, 1)


# --- loan eligibility ----------------------------------------------------------------------------------


def test_a_ksm_becomes_eligible_exactly_when_the_last_rule_is_met() -> None:
    ksm = committed(registered())
    save(ksm, *SAVINGS)
    sign(ksm)
    train(ksm, "PB", "KWU")
    assert eligibility(ksm).eligible is False and unmet(ksm) == ["training in PERT"]
    before = len(ksm.pending)
    train(ksm, "PERT")
    recorded, change = ksm.pending[before:]
    assert isinstance(recorded, KsmTrainingRecorded) and recorded.module_code == "PERT"
    assert change == KsmLoanEligibilityChanged(
        ksm_id=KSM_ID,
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        eligible=True,
        unmet=(),
        snapshot=EligibilitySnapshot(
            members=5,
            women=2,
            women_pct=40.0,
            members_off_ps2=0,
            savings_months=3,
            joint_liability_signed_on=SIGNED_ON,
            trainings=("KWU", "PB", "PERT"),
            parameters_version=1,
        ),
    )
    assert committed(ksm).eligibility == change


@pytest.mark.parametrize(
    ("facts", "missing"),
    [
        ({"members": households(4, 2)}, "at least 5 members (now 4)"),
        ({"members": households(5, 1)}, "at least 30 % women (now 20 %)"),
        ({"members": households(7, 2)}, "at least 30 % women (now 28.6 %)"),
        ({"savings": ("2026-07", "2026-08")}, "group savings in 3 consecutive months (now 2)"),
        ({"savings": ("2026-06", "2026-07", "2026-09")}, "group savings in 3 consecutive months (now 1)"),
        ({"savings": ("2026-06", "2026-08", "2026-09")}, "group savings in 3 consecutive months (now 2)"),
        ({"savings": ()}, "group savings in 3 consecutive months (now 0)"),
        ({"signed_on": None}, "a signed joint-liability statement (tanggung renteng)"),
        ({"trainings": ("PB", "KWU")}, "training in PERT"),
        ({"trainings": ("KWU",)}, "training in PB, PERT"),
        ({"trainings": ("PB", "KWU", "PB-2")}, "training in PERT"),
    ],
    ids=[
        "4-members",
        "20pct-women",
        "28.6pct-women",
        "2-months",
        "gap-before-last-month",
        "gap-earlier",
        "no-savings",
        "no-statement",
        "no-PERT",
        "no-PB-no-PERT",
        "other-module-does-not-count",
    ],
)
def test_each_missing_condition_keeps_the_ksm_ineligible(facts: dict[str, object], missing: str) -> None:
    ksm = qualified(**facts)  # type: ignore[arg-type]
    assert eligibility(ksm).eligible is False
    assert unmet(ksm) == [missing]


@pytest.mark.parametrize(
    "members",
    [households(5, 2), households(10, 3), households(5, 5), households(6, 2)],
    ids=["5-with-40pct", "10-with-exactly-30pct", "all-women", "6-with-33pct"],
)
def test_enough_members_and_women_meet_the_rules(members: list[Member]) -> None:
    assert eligibility(qualified(members)).eligible is True


def test_savings_months_count_back_from_the_last_month_recorded() -> None:
    ksm = registered(on=date(2025, 10, 15))
    assert ksm.savings_months == 0
    save(ksm, "2025-11", "2025-12", "2026-01")
    assert ksm.savings_months == 3  # across the year's end
    save(ksm, "2026-03")
    assert ksm.savings_months == 1  # February is missing: the streak starts again
    save(ksm, "2026-02")
    assert ksm.savings_months == 5  # a month recorded late closes the gap
    save(ksm, "2026-05")
    assert ksm.savings_months == 1  # April is missing
    save(ksm, "2026-04", amount=0)
    assert ksm.savings_months == 1  # a month recorded with nothing saved is a gap too
    save(ksm, "2025-10")
    assert ksm.savings_months == 1


def test_a_last_month_recorded_with_nothing_saved_ends_the_streak() -> None:
    ksm = qualified()
    assert ksm.savings_months == 3 and eligibility(ksm).eligible is True
    save(ksm, "2026-09", amount=0)
    assert ksm.savings_months == 0  # "consecutive months with savings, up to the last recorded"
    assert eligibility(ksm).eligible is False


def test_a_statement_signed_on_the_day_of_the_last_membership_change_counts() -> None:
    ksm = qualified(signed_on=REGISTERED_ON)
    assert eligibility(ksm).eligible is True


def test_a_member_joining_after_the_statement_makes_the_ksm_ineligible_again() -> None:
    ksm = qualified()
    assert eligibility(ksm).eligible is True
    newcomer = households(1, 1, first=100)[0]
    joined_on = date(2026, 9, 10)
    ksm.join(newcomer, joined_on, True, RULES, 1)
    joined, change = ksm.pending
    assert joined == KsmMemberJoined(
        ksm_id=KSM_ID, period_code=PERIOD, kelurahan_code=KELURAHAN, member=newcomer, joined_on=joined_on
    )
    assert isinstance(change, KsmLoanEligibilityChanged) and change.eligible is False
    assert change.unmet == (
        f"a joint-liability statement signed since the membership changed on {joined_on}",
    )
    assert change.snapshot.members == 6 and change.snapshot.women == 3
    with pytest.raises(InvalidInput, match="6 members, 5 signatures"):
        ksm.record_joint_liability(joined_on, "TR 02", 5, RULES, 1)
    sign(ksm, joined_on + timedelta(5))
    assert eligibility(ksm).eligible is True and eligibility(ksm).unmet == () and unmet(ksm) == []


def test_a_member_leaving_after_the_statement_makes_the_ksm_ineligible_too() -> None:
    ksm = qualified(households(6, 2))
    ksm.leave(UUID(int=10_005), date(2026, 9, 10), "moved away", RULES, 1)
    left, change = ksm.pending
    assert isinstance(left, KsmMemberLeft) and left.household_id == UUID(int=10_005)
    assert isinstance(change, KsmLoanEligibilityChanged) and change.eligible is False
    assert change.unmet == ("a joint-liability statement signed since the membership changed on 2026-09-10",)


def test_a_back_dated_change_does_not_hide_a_later_join_from_the_statement() -> None:
    ksm = qualified(households(6, 2))
    ksm.join(households(1, 1, first=100)[0], date(2026, 9, 10), True, RULES, 1)
    assert eligibility(ksm).eligible is False
    # A leave that happened before the statement, recorded only now.
    ksm.leave(UUID(int=10_005), date(2026, 8, 1), "moved away in August", RULES, 1)
    assert eligibility(ksm).eligible is False  # the member who joined on 2026-09-10 never signed


def test_a_member_is_a_household_on_ps2_and_joins_once() -> None:
    ksm = qualified()
    outsider = households(1, 0, first=200)[0]
    with pytest.raises(Conflict, match=f"not on it now: {outsider.household_id}"):
        ksm.join(outsider, date(2026, 9, 10), False, RULES, 1)
    with pytest.raises(Conflict, match=f"Household {FIVE[0].household_id} is already a member"):
        ksm.join(FIVE[0], date(2026, 9, 10), True, RULES, 1)
    with pytest.raises(InvalidInput, match=f"registered on {REGISTERED_ON}; it cannot join on 2026-05-31"):
        ksm.join(outsider, date(2026, 5, 31), True, RULES, 1)
    assert ksm.pending == [] and eligibility(ksm).eligible is True


def test_a_household_removed_from_ps2_stays_a_member_but_is_flagged_and_not_eligible() -> None:
    before = history()
    ksm = Ksm(KSM_ID).replay(before)
    household = FIVE[3].household_id
    assert ksm.flag_off_ps2(household, "not on PS-2 version 3", RULES, 1) is True
    flagged, change = ksm.pending
    assert flagged == KsmMemberFlagged(
        ksm_id=KSM_ID,
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        household_id=household,
        reason="not on PS-2 version 3",
    )
    assert isinstance(change, KsmLoanEligibilityChanged) and change.eligible is False
    assert change.unmet == ("every member on the PS-2 list (1 no longer are)",)
    assert change.snapshot.members_off_ps2 == 1 and change.snapshot.members == 5
    assert household in ksm.members and ksm.flagged == {household: "not on PS-2 version 3"}

    loaded = Ksm(KSM_ID).replay([*before, *ksm.pending])
    assert loaded.flagged == {household: "not on PS-2 version 3"} and household in loaded.members
    assert loaded.flag_off_ps2(household, "again", RULES, 1) is False  # already flagged
    assert loaded.pending == []

    assert loaded.clear_flag(household, RULES, 1) is True
    cleared, restored = loaded.pending
    assert cleared == KsmMemberFlagCleared(
        ksm_id=KSM_ID, period_code=PERIOD, kelurahan_code=KELURAHAN, household_id=household
    )
    assert (
        isinstance(restored, KsmLoanEligibilityChanged) and restored.eligible is True and restored.unmet == ()
    )
    assert loaded.flagged == {} and loaded.clear_flag(household, RULES, 1) is False
    assert len(loaded.pending) == 2


def test_flagging_a_household_that_is_not_a_member_does_nothing() -> None:
    ksm = qualified()
    assert ksm.flag_off_ps2(uuid4(), "not on PS-2 version 3", RULES, 1) is False
    assert ksm.pending == [] and ksm.flagged == {} and eligibility(ksm).eligible is True
    assert ksm.clear_flag(uuid4(), RULES, 1) is False and ksm.pending == []


def test_a_flagged_member_who_leaves_takes_the_flag_along() -> None:
    ksm = qualified(households(6, 2))
    household = UUID(int=10_005)
    ksm.flag_off_ps2(household, "moved out of the kelurahan", RULES, 1)
    ksm.leave(household, date(2026, 9, 10), "moved out", RULES, 1)
    assert ksm.flagged == {} and household not in ksm.members
    assert eligibility(ksm).eligible is False
    assert unmet(ksm) == ["a joint-liability statement signed since the membership changed on 2026-09-10"]
    sign(ksm, date(2026, 9, 12))
    assert eligibility(ksm).eligible is True


def test_two_flags_are_counted() -> None:
    ksm = qualified()
    ksm.flag_off_ps2(FIVE[0].household_id, "off", RULES, 1)
    ksm.flag_off_ps2(FIVE[1].household_id, "off", RULES, 1)
    assert eligibility(ksm).eligible is False
    assert unmet(ksm) == ["every member on the PS-2 list (2 no longer are)"]
    ksm.clear_flag(FIVE[0].household_id, RULES, 1)
    assert eligibility(ksm).eligible is False
    ksm.clear_flag(FIVE[1].household_id, RULES, 1)
    assert eligibility(ksm).eligible is True


# --- when the eligibility event is published -----------------------------------------------------------


def test_no_event_when_an_eligible_ksm_stays_eligible() -> None:
    ksm = qualified()
    save(ksm, "2026-09")
    train(ksm, "PB-LANJUT")
    assert ksm.flag_off_ps2(uuid4(), "not a member", RULES, 1) is False
    assert changes(ksm.pending) == []
    assert [type(e).__name__ for e in ksm.pending] == ["KsmSavingsRecorded", "KsmTrainingRecorded"]
    assert eligibility(ksm).eligible is True


def test_no_event_when_an_ineligible_ksm_changes_nothing_the_rules_look_at() -> None:
    ksm = qualified(trainings=("PB", "KWU"))  # only PERT is missing; savings already 3 months
    save(ksm, "2026-09")
    train(ksm, "PB-LANJUT")
    assert changes(ksm.pending) == []
    assert eligibility(ksm).eligible is False and unmet(ksm) == ["training in PERT"]


def test_a_change_of_the_reasons_is_published_so_the_ledger_never_quotes_stale_ones() -> None:
    ksm = registered()
    save(ksm, "2026-06")
    ksm = committed(ksm)
    assert eligibility(ksm).eligible is False
    save(ksm, "2026-07")  # 2 months: still not eligible, but the savings rule now says so
    [published] = changes(ksm.pending)
    assert published.eligible is False and published.snapshot.savings_months == 2
    assert any("(now 2)" in rule for rule in published.unmet)


def test_each_eligibility_flip_publishes_one_event() -> None:
    ksm = registered()
    save(ksm, *SAVINGS)
    sign(ksm)
    train(ksm, *MODULES)
    ksm.flag_off_ps2(FIVE[0].household_id, "off", RULES, 1)
    ksm.clear_flag(FIVE[0].household_id, RULES, 1)
    flips = [e.eligible for e in changes(ksm.pending)]
    assert flips[0] is False and flips[-3:] == [True, False, True]
    # Consecutive events never repeat the same eligibility and reasons.
    published = changes(ksm.pending)
    assert all((a.eligible, a.unmet) != (b.eligible, b.unmet) for a, b in itertools.pairwise(published))


@pytest.mark.parametrize("type", [KsmType.LINGKUNGAN, KsmType.SOSIAL])
def test_a_ksm_that_does_not_borrow_never_publishes_eligibility(type: KsmType) -> None:
    ksm = registered(households(3, 0), type=type)
    save(ksm, *SAVINGS)
    sign(ksm)
    train(ksm, *MODULES)
    ksm.join(households(1, 1, first=100)[0], date(2026, 9, 10), True, RULES, 1)
    ksm.flag_off_ps2(UUID(int=10_000), "off", RULES, 1)
    ksm.clear_flag(UUID(int=10_000), RULES, 1)
    ksm.leave(UUID(int=10_001), date(2026, 9, 20), "moved", RULES, 1)
    assert changes(ksm.pending) == [] and ksm.eligibility is None
    assert committed(ksm).eligibility is None


# --- membership, savings, statement --------------------------------------------------------------------


def test_leaving_below_the_general_minimum_is_a_conflict() -> None:
    ksm = committed(registered(households(3, 1), type=KsmType.LINGKUNGAN))
    with pytest.raises(Conflict, match="would have 2 members, fewer than the 3 a KSM needs"):
        ksm.leave(UUID(int=10_000), date(2026, 9, 10), "moved", RULES, 1)
    with pytest.raises(Conflict, match="is not a member"):
        ksm.leave(uuid4(), date(2026, 9, 10), "moved", RULES, 1)
    assert ksm.pending == [] and len(ksm.members) == 3
    ksm.join(households(1, 0, first=100)[0], date(2026, 9, 1), True, RULES, 1)
    ksm.leave(UUID(int=10_000), date(2026, 9, 10), "moved", RULES, 1)
    assert len(ksm.members) == 3 and UUID(int=10_000) not in ksm.members


def test_savings_are_recorded_once_per_month() -> None:
    ksm = qualified()
    with pytest.raises(Conflict, match=r"savings of .* for 2026-07 were already recorded"):
        ksm.record_savings("2026-07", 10_000, TODAY, RULES, 1)
    assert ksm.pending == [] and ksm.savings["2026-07"] == 50_000


def test_savings_are_for_months_since_registration_that_have_begun() -> None:
    ksm = registered()
    with pytest.raises(InvalidInput, match="2026-12 has not begun"):
        ksm.record_savings("2026-12", 10_000, TODAY, RULES, 1)
    with pytest.raises(InvalidInput, match="registered on 2026-06-01, after 2026-05"):
        ksm.record_savings("2026-05", 10_000, TODAY, RULES, 1)
    ksm.record_savings("2026-11", 10_000, TODAY, RULES, 1)
    assert [e for e in ksm.pending if isinstance(e, KsmSavingsRecorded)] == [
        KsmSavingsRecorded(
            ksm_id=KSM_ID, period_code=PERIOD, kelurahan_code=KELURAHAN, month="2026-11", amount_rupiah=10_000
        )
    ]


@pytest.mark.parametrize("signatories", [4, 6, 1])
def test_every_member_signs_the_joint_liability_statement(signatories: int) -> None:
    ksm = committed(registered())
    with pytest.raises(InvalidInput, match=f"5 members, {signatories} signatures"):
        ksm.record_joint_liability(SIGNED_ON, "TR 01", signatories, RULES, 1)
    with pytest.raises(InvalidInput, match="cannot sign a joint-liability statement on 2026-05-31"):
        ksm.record_joint_liability(date(2026, 5, 31), "TR 01", 5, RULES, 1)
    assert ksm.pending == [] and ksm.joint_liability_signed_on is None
    ksm.record_joint_liability(SIGNED_ON, "TR 01", 5, RULES, 1)
    assert ksm.pending[0] == KsmJointLiabilityRecorded(
        ksm_id=KSM_ID,
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        signed_on=SIGNED_ON,
        document="TR 01",
        signatories=5,
    )


def test_a_training_is_recorded_once() -> None:
    ksm = qualified()
    with pytest.raises(Conflict, match=f"already completed training PB on {TRAINED_ON}"):
        train(ksm, "PB")


def test_the_period_rules_decide_what_eligibility_needs() -> None:
    strict = KsmRules(
        members_min=6, women_min_pct=50, savings_months_min=4, loan_training_modules=("PB", "AK")
    )
    ksm = qualified()
    unmet, snapshot = ksm.assess(strict, 2)
    assert unmet == [
        "at least 6 members (now 5)",
        "at least 50 % women (now 40 %)",
        "group savings in 4 consecutive months (now 3)",
        "training in AK",
    ]
    assert snapshot.parameters_version == 2
    assert ksm.assess(KsmRules(savings_months_min=0, loan_training_modules=()), 3)[0] == []


def test_replaying_the_events_gives_the_same_state() -> None:
    live = registered(households(6, 2))
    save(live, *SAVINGS)
    sign(live)
    train(live, *MODULES)
    live.flag_off_ps2(UUID(int=10_001), "off", RULES, 1)
    live.join(households(1, 1, first=100)[0], date(2026, 9, 10), True, RULES, 1)
    live.leave(UUID(int=10_005), date(2026, 9, 11), "moved", RULES, 1)
    replayed = committed(live)
    assert state(replayed) == state(live)
    assert replayed.version == len(live.pending) and replayed.pending == []


# --- cadre training ------------------------------------------------------------------------------------

MODULE = TrainingModuleAdded(
    period_code=PERIOD, code="PB", title="Pinjaman bergulir", jpl=16, audience=(Audience.KSM, Audience.UPK)
)


def catalogue() -> TrainingCatalogue:
    fresh = TrainingCatalogue(PERIOD)
    fresh.add_module("PB", "Pinjaman bergulir", 16, [Audience.KSM, Audience.UPK])
    return TrainingCatalogue(PERIOD).replay(fresh.pending)


def participants(*roles: Audience) -> list[Participant]:
    return [Participant(person_id=UUID(int=30_000 + i), role=role) for i, role in enumerate(roles)]


def test_the_catalogue_holds_each_module_once() -> None:
    fresh = TrainingCatalogue(PERIOD)
    fresh.add_module("PB", "Pinjaman bergulir", 16, [Audience.KSM, Audience.UPK])
    assert fresh.pending == [MODULE]
    loaded = catalogue()
    assert loaded.module("PB") == MODULE
    with pytest.raises(Conflict, match="KOTAKU already has training module PB"):
        loaded.add_module("PB", "Another title", 8, [Audience.BKM])
    with pytest.raises(Conflict, match="has no module KWU; add it to the catalogue first"):
        loaded.module("KWU")
    assert loaded.pending == []
    loaded.add_module("KWU", "Kewirausahaan", 12, [Audience.KSM])
    assert loaded.module("KWU").jpl == 12


def test_a_training_delivered_carries_the_modules_jpl() -> None:
    training_id = uuid4()
    training = Training(training_id)
    people = participants(Audience.KSM, Audience.UPK, Audience.KSM)
    training.deliver(catalogue().module("PB"), KELURAHAN, TRAINED_ON, TrainerRole.FASKEL, people, TODAY)
    assert training.pending == [
        TrainingDelivered(
            training_id=training_id,
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            module_code="PB",
            jpl=16,
            delivered_on=TRAINED_ON,
            trainer_role=TrainerRole.FASKEL,
            participants=tuple(people),
        )
    ]
    loaded = Training(training_id).replay(training.pending)
    assert loaded.delivered is not None and loaded.delivered.jpl == 16 and loaded.city_code == "33.74"
    with pytest.raises(Conflict, match="is already recorded"):
        loaded.deliver(MODULE, KELURAHAN, TRAINED_ON, TrainerRole.FASKEL, people, TODAY)


def test_participants_outside_the_modules_audience_are_refused() -> None:
    training = Training(uuid4())
    with pytest.raises(InvalidInput, match="Module PB is for ksm, upk, not bkm, relawan"):
        training.deliver(
            MODULE,
            KELURAHAN,
            TRAINED_ON,
            TrainerRole.ASKOT,
            participants(Audience.KSM, Audience.RELAWAN, Audience.BKM),
            TODAY,
        )
    assert training.pending == [] and not training.exists


def test_the_same_participant_twice_is_refused() -> None:
    training = Training(uuid4())
    twice = participants(Audience.KSM) * 2
    with pytest.raises(InvalidInput, match="same person appears twice among the participants"):
        training.deliver(MODULE, KELURAHAN, TRAINED_ON, TrainerRole.FASKEL, twice, TODAY)
    assert training.pending == []


def test_a_training_in_the_future_is_refused() -> None:
    training = Training(uuid4())
    tomorrow = TODAY + timedelta(1)
    with pytest.raises(InvalidInput, match=f"training date {tomorrow} is in the future"):
        training.deliver(MODULE, KELURAHAN, tomorrow, TrainerRole.FASKEL, participants(Audience.KSM), TODAY)
    training.deliver(MODULE, KELURAHAN, TODAY, TrainerRole.FASKEL, participants(Audience.KSM), TODAY)
    assert len(training.pending) == 1
