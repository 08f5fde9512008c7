"""Targeting through the HTTP API of the embedded platform, in process: the official regions (Kota
Semarang), program periods with parameters and criteria, the kelurahan sasaran lifecycle, who sees
what, and every 4xx as a problem document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.harness.tokens import ADMIN, bearer

PROBLEM = "application/problem+json"
MIROTO, METESEH, ROWOSARI, SURABAYA = "33.74.01.1001", "33.74.10.1001", "33.74.10.1002", "35.78.01.1001"
KOTAKU = {"code": "KOTAKU", "name": "Kota Tanpa Kumuh", "starts_on": "2016-01-01", "ends_on": "2024-12-31"}
PERIOD = "/targeting/program-periods/KOTAKU"
FIGURES = {"population": 5200, "households": 1300, "poor_households": 420, "source": "BPS 2024"}
CONSULTANT = bearer("regional_consultant", "33", subject="konsultan.ani")
SEMARANG_OPERATOR = bearer("city_operator", "33.74", subject="op.siti")
SURABAYA_OPERATOR = bearer("city_operator", "35.78")
FASKEL = bearer("facilitator", MIROTO)


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: an unhandled error is seen as the 500 a client would get.
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
        yield client


def problem(response: httpx.Response, status: int) -> str:
    """The detail of a problem document answered with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"]
    detail: str = body["detail"]
    return detail


def sasaran(kelurahan: str) -> str:
    return f"{PERIOD}/kelurahan/{kelurahan}"


async def registered(http: httpx.AsyncClient) -> None:
    assert (await http.post("/targeting/program-periods", json=KOTAKU)).status_code == 201
    body = {"rule": "kecamatan-welfare", "dataset": "PODES 2000; BKKBN 2001"}
    assert (await http.post(f"{PERIOD}/criteria", json=body)).status_code == 201


async def nominated(http: httpx.AsyncClient, kelurahan: str, **changes: Any) -> httpx.Response:
    body = {"kelurahan_code": kelurahan, "indicators": {**FIGURES, **changes}}
    return await http.post(f"{PERIOD}/kelurahan", json=body)


# --- regions -----------------------------------------------------------------------------------------


async def test_kota_semarang_has_16_kecamatan_and_177_kelurahan(http: httpx.AsyncClient) -> None:
    semarang = await http.get("/targeting/regions/33.74", headers=FASKEL)  # every role reads the catalogue
    assert semarang.status_code == 200
    city = semarang.json()
    assert (city["name"], city["level"], city["kind"], city["code_system"]) == (
        "Kota Semarang",
        2,
        "kota",
        "kemendagri",
    )
    assert city["vintage"] == "Kepmendagri 300.2.2-2138/2025" and city["path"] == "Kota Semarang, Jawa Tengah"
    kecamatan = city["children"]
    assert len(kecamatan) == 16 and len({k["code"] for k in kecamatan}) == 16
    assert all(k["level"] == 3 and k["code"].startswith("33.74.") for k in kecamatan)
    assert {"code": "33.74.10", "name": "Tembalang"}.items() <= next(
        k for k in kecamatan if k["code"] == "33.74.10"
    ).items()

    kelurahan: list[dict[str, Any]] = []
    for k in kecamatan:
        found = await http.get(f"/targeting/regions/{k['code']}")
        assert found.status_code == 200 and found.json()["name"] == k["name"]
        kelurahan.extend(found.json()["children"])
    assert len(kelurahan) == 177 and len({k["code"] for k in kelurahan}) == 177
    assert all(k["level"] == 4 for k in kelurahan)

    tengah = (await http.get("/targeting/regions/33.74.01")).json()
    names = {k["name"]: k["code"] for k in tengah["children"]}
    assert names["Kauman"] == "33.74.01.1010" and names["Bangunharjo"] == "33.74.01.1009"
    assert names["Miroto"] == MIROTO
    assert (await http.get(f"/targeting/regions/{MIROTO}")).json()["children"] == []


async def test_regions_are_found_by_name_within_a_region(http: httpx.AsyncClient) -> None:
    found = await http.get("/targeting/regions", params={"q": "tembalang", "within": "33.74"})
    assert found.status_code == 200
    first = found.json()[0]
    assert (first["code"], first["name"], first["level"]) == ("33.74.10", "Tembalang", 3)
    assert all(r["code"].startswith("33.74.") for r in found.json())
    villages = await http.get("/targeting/regions", params={"q": "tembalang", "level": 4})
    codes = [r["code"] for r in villages.json()]
    assert "33.74.10.1006" in codes and all(r["level"] == 4 for r in villages.json())
    kauman = await http.get("/targeting/regions", params={"q": "kauman", "within": "33.74.01"})
    assert [r["code"] for r in kauman.json()] == ["33.74.01.1010"]
    assert (await http.get("/targeting/regions", params={"q": "tembalang", "within": "35.78"})).json() == []
    problem(await http.get("/targeting/regions", params={"q": "t"}), 422)  # too short to search


async def test_unknown_and_malformed_region_codes_are_refused(http: httpx.AsyncClient) -> None:
    assert "'33.74.99' is not a region code" in problem(await http.get("/targeting/regions/33.74.99"), 422)
    assert "'99' is not a region code" in problem(await http.get("/targeting/regions/99"), 422)
    problem(await http.get("/targeting/regions/33-74"), 422)
    assert (await http.get("/targeting/regions/33.74", headers={"authorization": ""})).status_code == 401


async def test_unknown_kelurahan_codes_are_refused_naming_the_code(http: httpx.AsyncClient) -> None:
    await registered(http)
    detail = problem(await nominated(http, "33.74.01.9999"), 422)
    assert "'33.74.01.9999' is not a kelurahan code in the official Kemendagri list" in detail
    assert "Kepmendagri 300.2.2-2138/2025" in detail
    assert (await http.get(f"{PERIOD}/kelurahan")).json() == []


async def test_a_code_of_the_wrong_level_is_refused_naming_the_code_and_level(
    http: httpx.AsyncClient,
) -> None:
    # Found as a bug: the body's kelurahan-only pattern answered a bare "String should match pattern".
    await registered(http)
    for code, name, level in (
        ("33.74.01", "Semarang Tengah", "kecamatan"),
        ("33.74", "Kota Semarang", "kabupaten/kota"),
    ):
        detail = problem(await nominated(http, code), 422)
        assert detail == f"{code} is {name}, a {level}; a desa/kelurahan code is needed here."
    assert (await http.get(f"{PERIOD}/kelurahan")).json() == []


# --- program periods ---------------------------------------------------------------------------------


async def test_a_period_with_versioned_parameters_and_criteria(http: httpx.AsyncClient) -> None:
    first = await http.post("/targeting/program-periods", json=KOTAKU)
    assert first.status_code == 201 and first.json()["stream_id"] == "program-period-KOTAKU"
    assert first.json()["version"] == 2 and len(first.json()["event_ids"]) == 2
    assert "already registered" in problem(await http.post("/targeting/program-periods", json=KOTAKU), 409)
    backwards = {**KOTAKU, "code": "P2KP-1", "ends_on": "2015-01-01"}
    assert "must end after it starts" in problem(
        await http.post("/targeting/program-periods", json=backwards), 422
    )
    consultant_try = await http.post(
        "/targeting/program-periods", json={**KOTAKU, "code": "X1"}, headers=CONSULTANT
    )
    problem(consultant_try, 403)

    defaults = (await http.get(f"{PERIOD}/parameters/1")).json()
    assert defaults["blm"]["tranche_split_pct"] == [20, 50, 30] and defaults["bkm"]["members_max"] == 13
    changed = {**defaults, "blm": {**defaults["blm"], "tranche_split_pct": [40, 60]}}
    v2 = await http.post(f"{PERIOD}/parameters", json=changed)
    assert v2.status_code == 201 and v2.json()["version"] == 3
    assert (await http.get(f"{PERIOD}/parameters/2")).json()["blm"]["tranche_split_pct"] == [40, 60]
    assert (await http.get(f"{PERIOD}/parameters/1")).json() == defaults  # never edited
    wrong = {**defaults, "blm": {**defaults["blm"], "tranche_split_pct": [40, 50]}}
    assert "must add up to 100 %" in problem(await http.post(f"{PERIOD}/parameters", json=wrong), 422)
    assert "no parameter version 3" in problem(await http.get(f"{PERIOD}/parameters/3"), 404)
    problem(await http.post("/targeting/program-periods/NOPE/parameters", json=defaults), 404)

    body = {"rule": "kecamatan-welfare", "thresholds": {"exclude_richest_pct": 20}, "dataset": "PODES 2000"}
    assert (await http.post(f"{PERIOD}/criteria", json=body)).status_code == 201
    period = (await http.get(PERIOD)).json()
    assert period["parameter_versions"] == [1, 2] and period["version"] == 4
    assert period["criteria"] == [
        {
            "version": 1,
            "rule": "kecamatan-welfare",
            "thresholds": {"exclude_richest_pct": 20, "min_pra_ks_ks1_pct": 30},
            "dataset": "PODES 2000",
        }
    ]
    assert "There is no program period NOPE." == problem(
        await http.get("/targeting/program-periods/NOPE"), 404
    )


async def test_criteria_evaluated_over_an_uploaded_table_propose_a_shortlist(http: httpx.AsyncClient) -> None:
    await registered(http)
    table = (
        "kecamatan_code,families,pra_ks_ks1_families,welfare_index\n"
        "33.74.01,1000,450,9.5\n33.74.02,2000,900,3.0\n33.74.03,1000,300,2.0\n"
        "33.74.04,800,100,1.0\n33.74.05,400,124,4.0\n"
    )
    url = f"{PERIOD}/criteria/1/evaluations"
    evaluated = await http.post(url, files={"table": ("podes.csv", table.encode(), "text/csv")})
    assert evaluated.status_code == 200, evaluated.text
    verdicts = {a["kecamatan_code"]: (a["shortlisted"], a["pra_ks_ks1_pct"]) for a in evaluated.json()}
    assert verdicts == {
        "33.74.01": (False, 45.0),  # the richest fifth is dropped
        "33.74.02": (True, 45.0),
        "33.74.03": (False, 30.0),
        "33.74.04": (False, 12.5),
        "33.74.05": (True, 31.0),
    }
    assert evaluated.json()[0]["reason"] == "among the richest 20 % of kecamatan"

    bad = table.replace("33.74.03,", "33.74.99,")
    detail = problem(await http.post(url, files={"table": ("podes.csv", bad.encode(), "text/csv")}), 422)
    assert "row 4: '33.74.99' is not a kecamatan code" in detail
    unpublished = await http.post(
        f"{PERIOD}/criteria/2/evaluations", files={"table": ("p.csv", table.encode())}
    )
    assert "(published: 1)" in problem(unpublished, 404)
    decreed = {"rule": "decreed-list", "dataset": "SK Walikota Kumuh 2016"}
    assert (await http.post(f"{PERIOD}/criteria", json=decreed)).status_code == 201
    refused = await http.post(f"{PERIOD}/criteria/2/evaluations", files={"table": ("p.csv", table.encode())})
    assert "computes no shortlist" in problem(refused, 422)


# --- kelurahan sasaran -------------------------------------------------------------------------------


async def test_the_sasaran_lifecycle_through_the_api(http: httpx.AsyncClient) -> None:
    await registered(http)
    first = await nominated(http, MIROTO)
    assert first.status_code == 201 and len(first.json()["event_ids"]) == 1
    assert first.json()["stream_id"] == f"kelurahan-sasaran-KOTAKU-{MIROTO}"
    again = await nominated(http, MIROTO)
    assert again.status_code == 201
    assert again.json() == {**first.json(), "event_ids": []}  # nothing new recorded
    assert "already nominated" in problem(await nominated(http, MIROTO, population=5300), 409)
    problem(await nominated(http, MIROTO, poor_households=1301), 422)

    verify = {"verified": True, "criteria_version": 9, "reason": "Pra-KS + KS-I 42 %"}
    unpublished = await http.post(f"{sasaran(MIROTO)}/verification", json=verify, headers=CONSULTANT)
    assert "no targeting criteria version 9 (published: 1)" in problem(unpublished, 404)
    early = await http.post(
        f"{sasaran(MIROTO)}/confirmation", json={"letter": "Surat 1"}, headers=SEMARANG_OPERATOR
    )
    assert "is nominated; only a verified kelurahan can be confirmed" in problem(early, 409)

    verified = await http.post(
        f"{sasaran(MIROTO)}/verification", json={**verify, "criteria_version": 1}, headers=CONSULTANT
    )
    assert verified.status_code == 201 and verified.json()["version"] == 2
    row = (await http.get(sasaran(MIROTO))).json()
    assert (row["status"], row["criteria_version"], row["version"], row["city_code"]) == (
        "verified",
        1,
        2,
        "33.74",
    )
    assert (row["population"], row["households"], row["poor_households"]) == (5200, 1300, 420)
    twice = await http.post(f"{sasaran(MIROTO)}/verification", json={**verify, "criteria_version": 1})
    assert "is verified; only a nominated kelurahan can be verified" in problem(twice, 409)
    assert "already verified" in problem(await nominated(http, MIROTO), 409)
    audited = (await http.get("/targeting/audit", params={"actor": "konsultan.ani"})).json()["entries"]
    assert [(e["event_type"], e["stream_id"]) for e in audited] == [
        ("p2kp.targeting.kelurahan-verified.v1", f"kelurahan-sasaran-KOTAKU-{MIROTO}")
    ]  # the named verifier, and only the verification that succeeded

    # The pemda's confirmation is the city's prerogative: its operator may record it before alih kelola.
    letter = {"letter": "Surat Walikota 050/123/2016"}
    confirmed = await http.post(f"{sasaran(MIROTO)}/confirmation", json=letter, headers=SEMARANG_OPERATOR)
    assert confirmed.status_code == 201 and confirmed.json()["version"] == 3
    # ...but dropping is the program's decision, and nominating needs write authority over the city.
    problem(await http.post(f"{sasaran(MIROTO)}/drop", json={"reason": "x"}, headers=SEMARANG_OPERATOR), 403)
    body = {"kelurahan_code": METESEH, "indicators": FIGURES}
    refused = await http.post(f"{PERIOD}/kelurahan", json=body, headers=SEMARANG_OPERATOR)
    assert "alih kelola" in problem(refused, 403)

    dropped = await http.post(f"{sasaran(MIROTO)}/drop", json={"reason": "Merged"})
    assert dropped.status_code == 201 and dropped.json()["version"] == 4
    assert (await http.get(sasaran(MIROTO))).json()["status"] == "dropped"
    for path, payload in (
        ("drop", {"reason": "again"}),
        ("confirmation", letter),
        ("verification", {**verify, "criteria_version": 1}),
    ):
        assert "is dropped; only a" in problem(
            await http.post(f"{sasaran(MIROTO)}/{path}", json=payload), 409
        )
    assert "already dropped" in problem(await nominated(http, MIROTO), 409)


async def test_rejection_and_renomination_and_missing_things(http: httpx.AsyncClient) -> None:
    await registered(http)
    assert (await nominated(http, METESEH)).status_code == 201
    reject = {"verified": False, "criteria_version": 1, "reason": "Pra-KS + KS-I 12 %"}
    assert (await http.post(f"{sasaran(METESEH)}/verification", json=reject)).status_code == 201
    assert (await http.get(sasaran(METESEH))).json()["status"] == "rejected"
    assert "is rejected; only a verified" in problem(
        await http.post(f"{sasaran(METESEH)}/confirmation", json={"letter": "S"}), 409
    )
    renominated = await nominated(http, METESEH, poor_households=600)
    assert renominated.status_code == 201 and renominated.json()["version"] == 3
    row = (await http.get(sasaran(METESEH))).json()
    assert (row["status"], row["poor_households"], row["criteria_version"]) == ("nominated", 600, None)

    never = f"Kelurahan {ROWOSARI} has not been nominated in program period KOTAKU."
    assert problem(await http.get(sasaran(ROWOSARI)), 404) == never
    assert problem(await http.post(f"{sasaran(ROWOSARI)}/drop", json={"reason": "x"}), 404) == never
    nowhere = await http.post(
        "/targeting/program-periods/NOPE/kelurahan", json={"kelurahan_code": MIROTO, "indicators": FIGURES}
    )
    assert problem(nowhere, 404) == "There is no program period NOPE."
    problem(await http.post(f"{PERIOD}/kelurahan", json={"kelurahan_code": MIROTO}), 422)
    problem(await http.post(f"{sasaran(METESEH)}/verification", json={**reject, "reason": ""}), 422)
    problem(await http.post(f"{sasaran(METESEH)}/verification", json=reject, headers=FASKEL), 403)


async def test_lists_by_city_and_status_show_each_caller_only_its_area(http: httpx.AsyncClient) -> None:
    await registered(http)
    for code in (MIROTO, METESEH, ROWOSARI, SURABAYA):
        assert (await nominated(http, code)).status_code == 201
    verify = {"verified": True, "criteria_version": 1, "reason": "ok"}
    assert (await http.post(f"{sasaran(METESEH)}/verification", json=verify)).status_code == 201

    def codes(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [r["kelurahan_code"] for r in response.json()]

    listing = f"{PERIOD}/kelurahan"
    assert codes(await http.get(listing)) == [MIROTO, METESEH, ROWOSARI, SURABAYA]
    assert codes(await http.get(listing, params={"city": "33.74"})) == [MIROTO, METESEH, ROWOSARI]
    assert codes(await http.get(listing, params={"city": "35.78"})) == [SURABAYA]
    assert codes(await http.get(listing, params={"city": "33.74", "status": "verified"})) == [METESEH]
    assert codes(await http.get(listing, params={"status": "nominated"})) == [MIROTO, ROWOSARI, SURABAYA]
    assert codes(await http.get(listing, params={"city": "33.74.10"})) == [METESEH, ROWOSARI]

    assert codes(await http.get(listing, params={"city": "33.74"}, headers=FASKEL)) == [MIROTO]
    assert codes(await http.get(listing, headers=FASKEL)) == [MIROTO]
    assert codes(await http.get(listing, headers=SEMARANG_OPERATOR)) == [MIROTO, METESEH, ROWOSARI]
    assert codes(await http.get(listing, headers=CONSULTANT)) == [MIROTO, METESEH, ROWOSARI]
    assert codes(await http.get(listing, headers=SURABAYA_OPERATOR)) == [SURABAYA]
    assert "There is no region 33.74." == problem(
        await http.get(listing, params={"city": "33.74"}, headers=SURABAYA_OPERATOR), 404
    )

    assert (await http.get(sasaran(MIROTO), headers=FASKEL)).json()["status"] == "nominated"
    hidden = f"Kelurahan {METESEH} has not been nominated in program period KOTAKU."
    assert problem(await http.get(sasaran(METESEH), headers=FASKEL), 404) == hidden
    assert problem(await http.get(sasaran(METESEH), headers=SURABAYA_OPERATOR), 404) == hidden
    assert (
        problem(
            await http.post(
                f"{sasaran(METESEH)}/confirmation", json={"letter": "S"}, headers=SURABAYA_OPERATOR
            ),
            404,
        )
        == hidden
    )


async def test_an_indicator_table_that_is_not_a_table_is_a_422(http: httpx.AsyncClient) -> None:
    await registered(http)
    url = f"{PERIOD}/criteria/1/evaluations"
    assert "is empty" in problem(await http.post(url, files={"table": ("t.csv", b"")}), 422)
    assert "neither a .csv nor an .xlsx" in problem(
        await http.post(url, files={"table": ("t.pdf", b"%PDF")}), 422
    )
    assert "cannot be opened" in problem(await http.post(url, files={"table": ("t.xlsx", b"not a zip")}), 422)
    problem(await http.post(url), 422)  # no file at all


async def test_a_list_filtered_by_a_kelurahan_code_finds_that_kelurahan(http: httpx.AsyncClient) -> None:
    await registered(http)
    assert (await nominated(http, MIROTO)).status_code == 201
    for headers in (ADMIN, FASKEL):
        listed = await http.get(f"{PERIOD}/kelurahan", params={"city": MIROTO}, headers=headers)
        assert [r["kelurahan_code"] for r in listed.json()] == [MIROTO]


async def test_a_relay_woken_as_it_is_stopped_still_stops(platform: FastAPI) -> None:
    # Found as a bug: on 3.11 asyncio.wait_for returned the wake-up instead of raising the cancellation
    # that arrived in the same loop turn, the relay looped on, and ServiceRuntime.stop() never returned.
    runtime = platform.state.services["targeting"].state.runtime
    relay, relay_task = runtime.relay, runtime._tasks[0]
    await relay.leading.wait()
    for _ in range(1000):  # until the relay idles, waiting to be woken
        if relay._wake._waiters:
            break
        await asyncio.sleep(0)
    assert relay._wake._waiters
    relay.wake()  # a commit lands...
    relay_task.cancel()  # ...as the runtime stops
    done, _ = await asyncio.wait({relay_task}, timeout=5.0)
    if not done:  # leave a relay the fixture can stop
        relay_task.cancel()
        await asyncio.wait({relay_task}, timeout=5.0)
    assert done, "the relay swallowed its cancellation and kept running"
