"""Roles, region scopes and write authority: the decisions, without a database."""

from __future__ import annotations

import pytest

from shared.errors import NotFound
from shared.security.authority import Holder
from shared.security.policy import Forbidden, check_region, check_role, read, write
from shared.security.principal import InvalidPrincipal, Principal, Role

RECORD_STEP = write(
    "institutions.step.record",
    frozenset(Role) - {Role.NATIONAL_MONITOR, Role.AUDITOR, Role.INTEGRATION_CLIENT},
)
READ_KELURAHAN = read("monitoring.kelurahan.read")
HIDDEN = "There is no kelurahan 33.74.01.1001."


@pytest.mark.parametrize(
    ("role", "scopes", "complaint"),
    [
        ("mayor", (), "unknown role"),
        ("national_admin", ("33.74",), "takes no region scope"),
        ("city_operator", (), "needs at least one region scope"),
        ("facilitator", ("33.74",), "level-4"),
        ("regional_consultant", ("33.74",), "level-1"),
        ("integration_client", ("33.74", "35.78"), "exactly one city"),
        ("city_operator", ("33-74",), "not a region code"),
    ],
)
def test_claims_that_make_no_usable_identity_are_refused(
    role: str, scopes: tuple[str, ...], complaint: str
) -> None:
    with pytest.raises(InvalidPrincipal, match=complaint):
        Principal.of("someone", role, scopes)


def test_a_scope_covers_its_region_and_everything_below_it() -> None:
    semarang = Principal.of("op", "city_operator", ("33.74",))
    assert semarang.sees("33.74") and semarang.sees("33.74.01") and semarang.sees("33.74.01.1001")
    assert not semarang.sees("33.71.01.1001")  # Kota Magelang, same province
    assert not semarang.sees("33.7")  # a prefix that is not a whole code segment
    assert not semarang.sees("33")  # the province holds other cities' data
    central_java = Principal.of("kmw", "regional_consultant", ("33",))
    assert central_java.sees("33.74.01.1001") and not central_java.sees("35.78.01.1001")
    assert Principal.of("pmu", "national_monitor").sees("35.78.01.1001")


def test_another_citys_record_is_hidden_with_the_same_answer_as_a_missing_one() -> None:
    surabaya = Principal.of("op", "city_operator", ("35.78",))
    with pytest.raises(NotFound) as hidden:
        check_region(surabaya, READ_KELURAHAN, "33.74.01.1001", Holder.NATIONAL, HIDDEN)
    assert hidden.value.detail == HIDDEN


def test_read_only_roles_cannot_be_given_write_actions() -> None:
    with pytest.raises(ValueError, match="read-only roles"):
        write("ledger.repayment.record", frozenset({Role.AUDITOR, Role.BKM_OFFICER}))
    with pytest.raises(Forbidden, match="national_monitor"):
        check_role(Principal.of("pmu", "national_monitor"), RECORD_STEP)


@pytest.mark.parametrize(
    ("principal", "before", "after"),
    [
        (Principal.of("pmu", "national_admin"), "allowed", "refused"),
        (Principal.of("kmw", "regional_consultant", ("33",)), "allowed", "refused"),
        (Principal.of("op", "city_operator", ("33.74",)), "refused", "allowed"),
        (Principal.of("faskel", "facilitator", ("33.74.01.1001",)), "allowed", "allowed"),
        (Principal.of("bkm", "bkm_officer", ("33.74.01.1001",)), "allowed", "allowed"),
    ],
)
def test_alih_kelola_moves_write_authority_from_the_program_to_the_city(
    principal: Principal, before: str, after: str
) -> None:
    def outcome(holder: Holder) -> str:
        try:
            check_region(principal, RECORD_STEP, "33.74.01.1001", holder, HIDDEN)
        except Forbidden:
            return "refused"
        return "allowed"

    assert (outcome(Holder.NATIONAL), outcome(Holder.CITY)) == (before, after)
    check_region(principal, READ_KELURAHAN, "33.74.01.1001", Holder.CITY, HIDDEN)  # reading never moves
