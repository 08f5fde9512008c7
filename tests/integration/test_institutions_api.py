"""The institutions service through the embedded platform's HTTP API: a kelurahan's cycle unlocked by the
targeting service's events, its order and its lateness, the BKM election, KSM against the PS-2 list and
their loan eligibility, cadre training, and the 4xx answers a field officer gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.harness.tokens import ADMIN, bearer
from tests.integration.test_targeting_api import problem
from tests.journeys import cycle_to_bkm, meeting, post, register_people, registered_period, synced, targeted

KEL, OTHER_KEL = "33.74.10.1004", "33.74.10.1005"
PERIOD = "/institutions/program-periods/KOTAKU"
CYCLE = f"{PERIOD}/kelurahan/{KEL}"


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
        await registered_period(client)
        yield client


async def cycle_of(http: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await http.get(f"{CYCLE}/cycle", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def item(cycle: dict[str, Any], step: str, year: int | None = None) -> dict[str, Any]:
    return next(i for i in cycle["schedule"] if i["step"] == step and i["year"] == year)


async def test_only_a_kelurahan_targeting_verified_can_start_a_cycle(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    start = {"meeting": meeting("2021-01-11")}
    # Nothing from targeting yet: the message says the verification has not arrived.
    detail = problem(await http.post(f"{CYCLE}/cycle/sosialisasi-awal", json=start), 409)
    assert "has not been verified" in detail and "try again" in detail
    # Nominated but not verified: still refused, naming the status.
    figures = {"population": 5200, "households": 1300, "poor_households": 420, "source": "BPS 2024"}
    nominated = await post(
        http, "/targeting/program-periods/KOTAKU/kelurahan", {"kelurahan_code": KEL, "indicators": figures}
    )
    await synced(platform, nominated)
    assert "nominated" in problem(await http.post(f"{CYCLE}/cycle/sosialisasi-awal", json=start), 409)
    verified = await post(
        http,
        f"/targeting/program-periods/KOTAKU/kelurahan/{KEL}/verification",
        {"verified": True, "criteria_version": 1, "reason": "meets"},
    )
    await synced(platform, verified)
    await post(http, f"{CYCLE}/cycle/sosialisasi-awal", start)
    cycle = await cycle_of(http)
    assert cycle["status"] == "in progress" and cycle["started_on"] == "2021-01-11"
    # Dropped by targeting: the cycle stops.
    dropped = await post(
        http, f"/targeting/program-periods/KOTAKU/kelurahan/{KEL}/drop", {"reason": "merged into another"}
    )
    await synced(platform, dropped)
    rkm = {"meeting": meeting("2021-02-08"), "decision": "accepted", "request_letter": "Surat 1"}
    assert "dropped" in problem(await http.post(f"{CYCLE}/cycle/rkm", json=rkm), 409)


async def test_steps_out_of_order_are_refused_naming_the_missing_step(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=3)
    later = {"meeting": meeting("2021-03-01")}
    assert "sosialisasi awal" in problem(
        await http.post(f"{CYCLE}/cycle/refleksi-kemiskinan", json=later), 409
    )
    await post(http, f"{CYCLE}/cycle/sosialisasi-awal", {"meeting": meeting("2021-01-11")})
    detail = problem(await http.post(f"{CYCLE}/cycle/refleksi-kemiskinan", json=later), 409)
    assert "registration of relawan" in detail
    detail = problem(await http.post(f"{CYCLE}/cycle/pjm", json={**later, "document": "PJM"}), 409)
    assert "forming of UPK, UPL and UPS" in detail
    # A date before the prerequisite's is refused too.
    rkm = {"meeting": meeting("2021-01-01"), "decision": "accepted", "request_letter": "Surat 1"}
    assert "before the sosialisasi awal" in problem(await http.post(f"{CYCLE}/cycle/rkm", json=rkm), 409)
    # An RKM rejection ends the cycle.
    rejected = {"meeting": meeting("2021-02-08"), "decision": "rejected"}
    await post(http, f"{CYCLE}/cycle/rkm", rejected)
    people = await register_people(http, KEL, 2, women=1)
    relawan = {"registered_on": "2021-02-20", "person_ids": people}
    assert "rejected the program" in problem(await http.post(f"{CYCLE}/cycle/relawan", json=relawan), 409)
    cycle = await cycle_of(http, as_of="2021-12-31")
    assert cycle["status"] == "rejected at RKM"
    assert item(cycle, "pjm")["progress"] == "not needed"


async def test_a_whole_cycle_with_its_bkm_re_elected_in_year_four(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL)
    bkm = await cycle_to_bkm(http, KEL)
    people, base = bkm["people"], bkm["base"]
    got = (await http.get(f"{base}/bkm", params={"as_of": "2022-01-01"})).json()
    assert got["status"] == "active" and got["election"] == 1 and got["term_ends_on"] == "2024-07-05"
    assert len(got["members"]) == 9 and got["women_below_target"] is False
    assert [m["person_id"] for m in got["members"] if m["coordinator"]] == [people[0]]
    assert {m["name"] for m in got["members"]} >= {"Warga 0", "Warga 9"}
    # Names are personal data: a national monitor sees the BKM's members by id only.
    monitored = (await http.get(f"{base}/bkm", headers=bearer("national_monitor"))).json()
    assert {m["person_id"] for m in monitored["members"]} == set(bkm["members"])
    assert {m["name"] for m in monitored["members"]} == {None}
    for unit, day in (("UPK", "2021-08-01"), ("UPL", "2021-08-02"), ("UPS", "2021-08-20")):
        staff = people[9:12]
        await post(
            http,
            f"{base}/cycle/units",
            {"unit": unit, "formed_on": day, "sk_number": f"SK {unit}", "staff": staff},
        )
    await post(http, f"{base}/cycle/pjm", {"meeting": meeting("2021-10-20"), "document": "PJM 2021-2023"})
    for year, day in ((1, "2021-11-01"), (2, "2022-01-20"), (3, "2023-01-20")):
        await post(
            http, f"{base}/cycle/renta", {"year": year, "approved_on": day, "document": f"Renta {year}"}
        )
    for year, day in ((2, "2022-12-01"), (3, "2023-12-01")):
        body = {"year": year, "meeting": meeting(day), "findings": "BKM berjalan baik"}
        await post(http, f"{base}/cycle/reviews", body)
    # Renta for year 4 needs the new PJM, which needs the re-election.
    renta4 = {"year": 4, "approved_on": "2024-01-20", "document": "Renta 4"}
    assert "new PJM" in problem(await http.post(f"{base}/cycle/renta", json=renta4), 409)
    # Year 4 (from 2024-01-11): the utusan of election 2, then the members.
    utusan = {
        "election": 2,
        "rt_rw": "RW 01",
        "held_on": "2023-12-20",
        "voters": 70,
        "person_ids": people[:10],
    }
    assert "year 4" in problem(await http.post(f"{base}/bkm/utusan", json=utusan), 409)
    await post(http, f"{base}/bkm/utusan", {**utusan, "held_on": "2024-05-02"})
    second = {
        "election": 2,
        "meeting": meeting("2024-06-20"),
        "ballots_cast": 10,
        "members": [
            {"person_id": p, "votes": 6, "literate": True, "party_member": False} for p in people[1:10]
        ],
        "coordinator": people[3],
        "anggaran_dasar": "AD/ART BKM 2024",
    }
    await post(http, f"{base}/bkm/elections", second)
    await post(http, f"{base}/cycle/pjm", {"meeting": meeting("2024-08-01"), "document": "PJM 2024-2026"})
    await post(http, f"{base}/cycle/renta", renta4 | {"approved_on": "2024-08-15"})

    cycle = await cycle_of(http, as_of="2024-09-01")
    assert cycle["bkm_status"] == "active" and cycle["bkm_term_ends_on"] == "2027-06-20"
    assert item(cycle, "bkm-reelection")["done_on"] == "2024-06-20"
    # The schedule: Renta of year 2 expected 300 + 365 days after the start, done 28 days... early.
    assert item(cycle, "renta", 1) == {
        "step": "renta",
        "year": 1,
        "expected_on": "2021-11-07",
        "done_on": "2021-11-01",
        "progress": "done",
        "late_days": 0,
    }
    renewal = item(cycle, "pjm-renewal")
    assert renewal["progress"] == "done late" and renewal["late_days"] == (
        # expected 3*365+150 days after 2021-01-11 = 2024-06-09; done 2024-08-01
        53
    )
    assert item(cycle, "review-partisipatif", 4)["progress"] == "due"
    # The same cycle as of an earlier day: the re-election not yet done, and late then.
    earlier = await cycle_of(http, as_of="2024-04-01")
    reelection = item(earlier, "bkm-reelection")
    assert (
        reelection["done_on"] is None and reelection["progress"] == "late" and reelection["late_days"] == 21
    )


async def test_bkm_election_rules_answer_in_words(http: httpx.AsyncClient, platform: FastAPI) -> None:
    await targeted(http, platform, KEL, households=3)
    base = CYCLE
    for path, body in (
        ("cycle/sosialisasi-awal", {"meeting": meeting("2021-01-11")}),
        ("cycle/rkm", {"meeting": meeting("2021-02-08"), "decision": "accepted", "request_letter": "S 1"}),
    ):
        await post(http, f"{base}/{path}", body)
    people = await register_people(http, KEL, 12, women=2)
    await post(http, f"{base}/cycle/relawan", {"registered_on": "2021-02-20", "person_ids": people[:3]})
    await post(http, f"{base}/cycle/refleksi-kemiskinan", {"meeting": meeting("2021-03-25")})
    # PS-2 version 2 was never published by targeting.
    ps = {"meeting": meeting("2021-05-10"), "ps2_version": 2}
    assert "has not been published" in problem(
        await http.post(f"{base}/cycle/pemetaan-swadaya", json=ps), 409
    )
    await post(http, f"{base}/cycle/pemetaan-swadaya", {**ps, "ps2_version": 1})
    await post(
        http,
        f"{base}/bkm/utusan",
        {"election": 1, "rt_rw": "RW 01", "held_on": "2021-06-01", "voters": 90, "person_ids": people[:11]},
    )

    def election(members: list[str], **change: Any) -> dict[str, Any]:
        return {
            "election": 1,
            "meeting": meeting("2021-07-05"),
            "ballots_cast": 11,
            "members": [
                {"person_id": p, "votes": 5, "literate": True, "party_member": False, **change}
                for p in members
            ],
            "coordinator": members[0],
            "anggaran_dasar": "AD/ART",
        }

    detail = problem(await http.post(f"{base}/bkm/elections", json=election(people[:8])), 422)
    assert "9 to 13 members, an odd number" in detail and "8 were elected" in detail
    assert "political party" in problem(
        await http.post(f"{base}/bkm/elections", json=election(people[:9], party_member=True)), 422
    )
    outsider = [*people[:8], people[11]]  # people[11] was never elected utusan
    assert "not an utusan" in problem(await http.post(f"{base}/bkm/elections", json=election(outsider)), 409)
    # Two women of nine: allowed, and flagged.
    await post(http, f"{base}/bkm/elections", election(people[:9]))
    got = (await http.get(f"{base}/bkm", params={"as_of": "2022-01-01"})).json()
    assert got["women_below_target"] is True and got["status"] == "active"
    # A replacement (PAW) comes from the utusan; the coordinator leaving needs a new one named.
    paw = {
        "leaving": people[0],
        "joining": people[9],
        "reason": "pindah domisili",
        "replaced_on": "2022-03-01",
        "berita_acara": "BA PAW 1",
    }
    assert "new coordinator" in problem(await http.post(f"{base}/bkm/replacements", json=paw), 422)
    await post(http, f"{base}/bkm/replacements", {**paw, "coordinator": people[1]})
    got = (await http.get(f"{base}/bkm", params={"as_of": "2022-04-01"})).json()
    assert {m["person_id"] for m in got["members"]} == set(people[1:10])
    assert [m["person_id"] for m in got["members"] if m["coordinator"]] == [people[1]]
    # Three years on, without a re-election, the BKM's term has lapsed: visible, and it blocks PAW.
    assert (await http.get(f"{base}/bkm", params={"as_of": "2024-07-06"})).json()["status"] == "expired"
    late_paw = {**paw, "leaving": people[2], "joining": people[10], "replaced_on": "2024-08-01"}
    assert "term of" in problem(await http.post(f"{base}/bkm/replacements", json=late_paw), 409)


async def test_ksm_members_come_from_ps2_and_a_removal_is_flagged(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    households = await targeted(http, platform, KEL, households=6)
    await cycle_to_bkm(http, KEL)
    stranger = "00000000-0000-4000-8000-000000000001"
    women = (True, True, False, False, False, True)
    members = [{"household_id": h, "woman": w} for h, w in zip(households, women, strict=True)]
    ksm = {
        "name": "KSM Maju Bersama",
        "type": "ekonomi",
        "registered_on": "2021-09-01",
        "members": members[:5],
    }
    bad = {**ksm, "members": [*members[:4], {"household_id": stranger, "woman": False}]}
    assert stranger in problem(await http.post(f"{CYCLE}/ksm", json=bad), 409)
    assert "at least 3 members" in problem(
        await http.post(f"{CYCLE}/ksm", json={**ksm, "members": members[:2]}), 422
    )
    registered = await post(http, f"{CYCLE}/ksm", ksm)
    ksm_url = f"/institutions/ksm/{registered['ksm_id']}"

    # Eligibility: savings in 3 consecutive months, the joint-liability statement, the trainings.
    for code, title in (
        ("PB", "Pinjaman bergulir"),
        ("KWU", "Kewirausahaan"),
        ("PERT", "Ekonomi rumah tangga"),
    ):
        await post(
            http, f"{PERIOD}/training-modules", {"code": code, "title": title, "jpl": 8, "audience": ["ksm"]}
        )
    state = (await http.get(ksm_url)).json()
    assert state["loan_eligibility"]["eligible"] is False
    assert len(state["loan_eligibility"]["unmet"]) == 3  # savings, statement, trainings
    for month in ("2021-09", "2021-10", "2021-11"):
        await post(http, f"{ksm_url}/savings", {"month": month, "amount_rupiah": 250_000})
    await post(
        http, f"{ksm_url}/joint-liability", {"signed_on": "2021-11-05", "document": "TR 1", "signatories": 5}
    )
    for code in ("PB", "KWU", "PERT"):
        await post(http, f"{ksm_url}/trainings", {"module_code": code, "completed_on": "2021-11-20"})
    state = (await http.get(ksm_url)).json()
    assert state["loan_eligibility"]["eligible"] is True, state["loan_eligibility"]
    assert state["loan_eligibility"]["snapshot"]["women_pct"] == 40.0
    assert state["loan_eligibility"]["snapshot"]["savings_months"] == 3

    # Targeting removes a member's household from PS-2: the KSM flags it and is no longer eligible.
    removed = await post(
        http,
        f"/targeting/program-periods/KOTAKU/kelurahan/{KEL}/ps2/members/{households[0]}/removal",
        {"reason": "pindah ke luar kelurahan"},
    )
    await synced(platform, removed)
    state = (await http.get(ksm_url)).json()
    flagged = [m for m in state["members"] if m["flagged"]]
    assert [m["household_id"] for m in flagged] == [households[0]] and "pindah" in flagged[0]["flagged"]
    assert state["loan_eligibility"]["eligible"] is False
    assert any("PS-2" in rule for rule in state["loan_eligibility"]["unmet"])
    listed = (await http.get(f"{CYCLE}/ksm")).json()
    assert listed[0]["flagged"] == 1 and listed[0]["loan_eligible"] is False
    # The household left: the flag goes with it, but the new membership needs a new statement.
    await post(
        http, f"{ksm_url}/members/{households[0]}/departure", {"left_on": "2021-12-01", "reason": "pindah"}
    )
    await post(http, f"{ksm_url}/members", {"member": members[5], "joined_on": "2021-12-02"})
    state = (await http.get(ksm_url)).json()
    assert state["loan_eligibility"]["unmet"] == [
        "a joint-liability statement signed since the membership changed on 2021-12-02"
    ]
    # A household no longer on PS-2 cannot join.
    late = {"member": members[0], "joined_on": "2021-12-03"}
    assert households[0] in problem(await http.post(f"{ksm_url}/members", json=late), 409)


async def test_training_history_per_person(http: httpx.AsyncClient, platform: FastAPI) -> None:
    await targeted(http, platform, KEL, households=3)
    people = await register_people(http, KEL, 3, women=2)
    await post(
        http,
        f"{PERIOD}/training-modules",
        {"code": "RK", "title": "Refleksi Kemiskinan", "jpl": 4, "audience": ["relawan"]},
    )
    await post(
        http,
        f"{PERIOD}/training-modules",
        {"code": "BKM1", "title": "Dasar BKM", "jpl": 12, "audience": ["bkm"]},
    )
    modules = (await http.get(f"{PERIOD}/training-modules")).json()
    assert [m["code"] for m in modules] == ["BKM1", "RK"]
    duplicate = {"code": "RK", "title": "again", "jpl": 1, "audience": ["relawan"]}
    assert "already has" in problem(await http.post(f"{PERIOD}/training-modules", json=duplicate), 409)
    training = {
        "module_code": "RK",
        "delivered_on": "2021-03-01",
        "trainer_role": "faskel",
        "participants": [{"person_id": p, "role": "relawan"} for p in people],
    }
    await post(http, f"{CYCLE}/trainings", training)
    await post(
        http,
        f"{CYCLE}/trainings",
        {
            **training,
            "module_code": "BKM1",
            "delivered_on": "2021-08-01",
            "participants": [{"person_id": people[0], "role": "bkm"}],
        },
    )
    wrong = {**training, "participants": [{"person_id": people[0], "role": "ksm"}]}
    assert "not ksm" in problem(await http.post(f"{CYCLE}/trainings", json=wrong), 422)
    person = (await http.get(f"/institutions/people/{people[0]}")).json()
    assert [t["module_code"] for t in person["trainings"]] == ["RK", "BKM1"] and person["total_jpl"] == 16
    assert person["name"] == "Warga 0"
    # Erasure blanks the name; the pseudonymous history stays.
    assert (await http.delete(f"/institutions/people/{people[0]}/personal-data")).status_code == 204
    person = (await http.get(f"/institutions/people/{people[0]}")).json()
    assert person["name"] is None and person["total_jpl"] == 16


async def test_bad_requests_are_4xx_problems_and_change_nothing(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=3)
    await post(http, f"{CYCLE}/cycle/sosialisasi-awal", {"meeting": meeting("2021-01-11")})
    before = (await cycle_of(http))["version"]
    future = {"meeting": meeting("2099-01-01"), "decision": "accepted", "request_letter": "S"}
    assert "in the future" in problem(await http.post(f"{CYCLE}/cycle/rkm", json=future), 422)
    no_letter = {"meeting": meeting("2021-02-08"), "decision": "accepted"}
    assert "letter" in problem(await http.post(f"{CYCLE}/cycle/rkm", json=no_letter), 422)
    malformed = {
        "meeting": {**meeting("2021-02-08"), "attendance": {"men": -1, "women": 2, "poor_households": 0}}
    }
    problem(await http.post(f"{CYCLE}/cycle/refleksi-kemiskinan", json=malformed), 422)
    assert "already recorded" in problem(
        await http.post(f"{CYCLE}/cycle/sosialisasi-awal", json={"meeting": meeting("2021-01-12")}), 409
    )
    assert (await cycle_of(http))["version"] == before
    assert "There is no KSM" in problem(
        await http.get("/institutions/ksm/00000000-0000-4000-8000-000000000009"), 404
    )
    unknown = "00000000-0000-4000-8000-000000000010"
    relawan = {"registered_on": "2021-02-20", "person_ids": [unknown]}
    await post(http, f"{CYCLE}/cycle/rkm", {**no_letter, "request_letter": "S 1"})
    assert "Register each person first" in problem(
        await http.post(f"{CYCLE}/cycle/relawan", json=relawan), 409
    )
    # Scope: a facilitator of another kelurahan sees nothing here; a monitor cannot write.
    other = bearer("facilitator", OTHER_KEL)
    assert (await http.get(f"{CYCLE}/cycle", headers=other)).status_code == 404
    monitor = bearer("national_monitor")
    assert (await http.get(f"{CYCLE}/cycle", headers=monitor)).status_code == 200
    assert (
        await http.post(
            f"{CYCLE}/cycle/refleksi-kemiskinan", json={"meeting": meeting("2021-03-01")}, headers=monitor
        )
    ).status_code == 403
    # A facilitator of this kelurahan records its steps.
    mine = bearer("facilitator", KEL)
    people = await register_people(http, KEL, 1, women=1)
    response = await http.post(
        f"{CYCLE}/cycle/relawan", json={"registered_on": "2021-02-20", "person_ids": people}, headers=mine
    )
    assert response.status_code == 201, response.text
    assert (await cycle_of(http))["relawan"] == 1
