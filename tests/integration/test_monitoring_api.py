"""Monitoring through the embedded platform: every figure projected from the services' events and
asked as of a day, each kelurahan's cycle against its expected schedule, a frozen report whose later
corrections show as differences, a rebuild that equals the live model and serves while it runs, and
exports of every table within the caller's scope."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from openpyxl import load_workbook
from sqlalchemy import event

from services.monitoring.generations import Generations, digest
from services.monitoring.measures import Measures
from services.monitoring.memo import Memo
from services.platform import quiesce
from shared.clock import today
from tests.harness.tokens import ADMIN, bearer
from tests.integration.test_ledger_api import tranche_through
from tests.integration.test_targeting_api import problem
from tests.journeys import (
    cycle_to_renta,
    eligible_ksm,
    hand_over,
    meeting,
    post,
    registered_period,
    targeted,
)

KEL, CITY = "33.74.10.1004", "33.74"
M = "/monitoring"
LEDGER = f"/ledger/program-periods/KOTAKU/kelurahan/{KEL}"
CYCLE = f"/institutions/program-periods/KOTAKU/kelurahan/{KEL}"


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
        await registered_period(client)
        # The ledger allocates BLM by the period's parameters: wait until they have reached it.
        ledger = platform.state.services["ledger"].state.runtime.consumer("ledger.facts")
        await ledger.wait_for_stream("program-period-KOTAKU", 2)
        yield client


def generations(platform: FastAPI) -> Generations:
    found: Generations = platform.state.services["monitoring"].state.generations
    return found


async def get(http: httpx.AsyncClient, url: str, **params: str) -> Any:
    response = await http.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def a_kelurahan_with_money(http: httpx.AsyncClient, platform: FastAPI) -> dict[str, Any]:
    """Targeted, its year-1 cycle done in 2021, BLM allocated, a loan that falls three instalments
    behind, and its books closed on 15 April 2022."""
    households = await targeted(http, platform, KEL, households=6)
    gates = await cycle_to_renta(http, KEL)
    await (
        platform.state.services["ledger"]
        .state.runtime.consumer("ledger.facts")
        .wait_for_stream(gates["renta"]["stream_id"], gates["renta"]["version"])
    )
    allocation = {
        "year": 2021,
        "total_rupiah": 100_000_000,
        "fiscal_category": "rendah",
        "apbn_reference": "DIPA",
    }
    await post(http, f"{LEDGER}/blm", allocation)
    await tranche_through(http, "APBN", 1, "2021-11-15")
    ksm = await eligible_ksm(http, KEL, households[:5])
    await (
        platform.state.services["ledger"]
        .state.runtime.consumer("ledger.facts")
        .wait_for_stream(ksm["stream_id"], ksm["version"])
    )
    loan = {
        "ksm_id": ksm["ksm_id"],
        "principal_rupiah": 5_000_000,
        "term_months": 10,
        "approved_on": "2021-11-25",
        "decision": "SK 7",
    }
    loan_id = (await post(http, f"{LEDGER}/loans", loan))["loan_id"]
    await post(http, f"/ledger/loans/{loan_id}/disbursement", {"disbursed_on": "2021-12-01"})
    await post(http, f"{LEDGER}/books/closing", {"as_of": "2022-04-15"})
    return {"ksm": ksm, "loan_id": loan_id}


async def test_every_figure_comes_from_the_events_and_is_asked_as_of_a_day(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await a_kelurahan_with_money(http, platform)
    await hand_over(http, CITY)
    await quiesce(platform)

    now = await get(http, f"{M}/overview")
    [semarang] = now["by_progress"]
    assert (semarang["city_code"], semarang["name"], semarang["targets"]) == (CITY, "Kota Semarang", 1)
    assert semarang["steps_done_pct"] == 100.0 and semarang["handover_stage"] == "transferred"
    assert semarang["blm_allocated"] == 100_000_000 and semarang["blm_received"] == 19_000_000
    assert semarang["passed_to_ksm"] == 5_000_000 and semarang["ksm"] == {"ekonomi": 1}
    assert semarang["outstanding"] == 5_000_000 and semarang["par_pct"] == 100.0

    # As of mid-2021: five of the eight year-1 steps, no BKM yet, no money.
    june = (await get(http, f"{M}/overview", as_of="2021-06-01"))["by_progress"][0]
    assert (june["steps_done_pct"], june["bkm_active"], june["blm_received"]) == (62.5, 0, 0)
    assert june["handover_stage"] == "not started"
    later = (await get(http, f"{M}/overview", as_of="2022-01-01"))["by_progress"][0]
    assert (later["bkm_active"], later["blm_received"], later["outstanding"]) == (
        1,
        19_000_000,
        0,
    )  # no closing yet

    city = await get(http, f"{M}/cities/{CITY}", as_of="2022-04-30")
    factors = city["factors"]
    assert factors["sosialisasi"]["coverage_pct"] == 100.0
    assert factors["sosialisasi"]["women_attendance_pct"] == 45.0  # the journeys' meetings: 18 of 40
    assert factors["kebijakan"]["tranches_on_time_pct"] == 100.0
    assert factors["ketaatan"]["lpj_on_time_pct"] == 0.0  # received 15 Nov, no LPJ by 30 April
    assert factors["sumber_daya"]["relawan_per_kelurahan"] == 6.0
    assert (
        city["barriers"]["tranches_waiting_transfer"] == [] and city["barriers"]["ddub_unpaid"] == 5_000_000
    )

    page = await get(http, f"{M}/kelurahan/{KEL}", as_of="2022-04-30")
    assert [s["step"] for s in page["steps"]][:3] == ["sosialisasi-awal", "rkm", "relawan"]
    assert page["bkm"]["status"] == "active" and page["ksm"] == {"ekonomi": 1}
    assert page["upk"]["par_pct"] == 100.0 and page["upk"]["par_band"] == "poor"
    assert [(t["source"], t["tranche"], t["amount"]) for t in page["tranches"]] == [("APBN", 1, 19_000_000)]
    assert (await get(http, f"{M}/portfolio", as_of="2022-04-01")) == []  # the books closed on 15 April
    [closing] = await get(http, f"{M}/portfolio", as_of="2022-05-01")
    assert closing["kelurahan_code"] == KEL and closing["outstanding"] == 5_000_000

    # The city page draws the readiness the handover started from (its assessment's scorecard).
    page = await http.get(f"{M}/dashboard/cities/{CITY}")
    assert page.status_code == 200 and "Kesiapan kota pada penilaian terakhir" in page.text
    assert "bkm-active 0%" in page.text  # its BKM (elected 2021) was out of term when assessed today
    status = (await get(http, f"{M}/projections"))[0]
    assert (
        status["lag"] == 0 and status["last_event_recorded_at"] is not None and status["applied_events"] > 50
    )


async def test_a_frozen_report_keeps_its_figures_and_shows_later_corrections(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=3)
    await cycle_to_renta(http, KEL)
    await post(
        http,
        f"{LEDGER}/blm",
        {"year": 2021, "total_rupiah": 100_000_000, "fiscal_category": "rendah", "apbn_reference": "DIPA"},
    )
    await quiesce(platform)
    assert "has not ended" in problem(
        await http.post(f"{M}/reports", json={"quarter": "2099-Q1", "scope": "national"}), 422
    )
    frozen = await post(http, f"{M}/reports", {"quarter": "2021-Q4", "scope": "national"})
    assert frozen["figures"]["blm_received"] == 0 and str(frozen["as_of"]) == "2021-12-31"
    assert "already frozen" in problem(
        await http.post(f"{M}/reports", json={"quarter": "2021-Q4", "scope": "national"}), 409
    )
    # A tranche received in November 2021 is recorded only now: the submitted report does not change,
    # the difference shows.
    await tranche_through(http, "APBN", 1, "2021-11-15")
    await quiesce(platform)
    report = await get(http, f"{M}/reports/2021-Q4/national")
    assert report["figures"]["blm_received"] == 0
    corrected = {c["figure"]: (c["submitted"], c["now"]) for c in report["corrections"]}
    assert corrected["blm_received"] == (0, 19_000_000)
    assert (
        await http.get(f"{M}/reports/2021-Q4/national", headers=bearer("city_operator", CITY))
    ).status_code == 404


async def test_a_rebuild_equals_the_live_model_and_serves_while_it_runs(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await a_kelurahan_with_money(http, platform)
    await quiesce(platform)
    g = generations(platform)
    before = await get(http, f"{M}/overview", as_of="2022-05-01")
    timeline = (await get(http, f"{M}/kelurahan/{KEL}", as_of="2022-05-01"))["timeline"]
    assert any(s["expected_on"] for s in timeline)
    live = g.facts
    rebuilding = asyncio.create_task(g.rebuild())
    during = await get(http, f"{M}/overview", as_of="2022-05-01")  # the old generation serves meanwhile
    state = await rebuilding
    assert state.switched and g.facts.generation == live.generation + 1 and state.applied > 50
    running = [t.get_name() for t in g.runtime._tasks if "monitoring.facts" in t.get_name() and not t.done()]
    assert running == [f"monitoring-monitoring.facts.g{g.facts.generation}"]  # the old consumer stopped
    async with g.runtime.engine.connect() as conn:
        rebuilt = await digest(conn, g.facts)
        assert rebuilt == await digest(conn, live)  # the rebuilt model equals the live one
    # ...every table of it, the schedule's inputs too (the cycles, the periods and their parameters).
    assert {"cycles", "periods", "parameters", "steps", "targets"} <= set(rebuilt)
    assert during == before == await get(http, f"{M}/overview", as_of="2022-05-01")
    assert timeline == (await get(http, f"{M}/kelurahan/{KEL}", as_of="2022-05-01"))["timeline"]
    # New events go on into the new generation.
    audit = {
        "year": 2021,
        "auditor": "KAP",
        "opinion": "WTP",
        "findings": 0,
        "report": "LAI",
        "audited_on": "2022-03-01",
    }
    audited = await post(http, f"{LEDGER}/books/audits", audit)
    await g.live().wait_for_stream(audited["stream_id"], audited["version"])
    city = await get(http, f"{M}/cities/{CITY}", as_of="2022-05-01")
    assert city["factors"]["ketaatan"]["audited_pct"] == 100.0
    assert "already running" not in (await http.get(f"{M}/projections")).text


async def test_exports_and_reads_keep_to_the_callers_scope(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=2)
    await targeted(http, platform, "35.78.01.1001", households=2)
    await quiesce(platform)
    mine = await http.get(f"{M}/exports/cities.csv", headers=bearer("city_operator", CITY))
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    rows = mine.text.splitlines()
    assert rows[0].startswith("city_code,name,targets") and len(rows) == 2 and rows[1].startswith(CITY)
    everyone = await http.get(f"{M}/exports/cities.xlsx")
    sheet = load_workbook(io.BytesIO(everyone.content)).active
    assert sheet is not None and sorted(r[0] for r in sheet.iter_rows(min_row=2, values_only=True)) == [
        CITY,
        "35.78",
    ]
    assert (await http.get(f"{M}/cities/35.78", headers=bearer("city_operator", CITY))).status_code == 404
    assert (
        await http.get(f"{M}/kelurahan/{KEL}", headers=bearer("facilitator", "33.74.10.1005"))
    ).status_code == 404
    narrowed = await http.get(f"{M}/overview", params={"within": "33"}, headers=bearer("city_operator", CITY))
    assert [c["city_code"] for c in narrowed.json()["by_progress"]] == [CITY]
    assert "before them" in problem(await http.get(f"{M}/overview", params={"as_of": "1900-01-01"}), 422)
    assert "per city" in problem(await http.get(f"{M}/exports/kelurahan.csv"), 422)


# --- the cycle against its schedule ---------------------------------------------------------------------


def by_step(page: dict[str, Any]) -> dict[tuple[str, int | None], dict[str, Any]]:
    return {(s["step"], s["year"]): s for s in page["timeline"]}


def step(expected: str | None, done: str | None, status: str, late: int = 0) -> dict[str, Any]:
    return {"expected_on": expected, "done_on": done, "status": status, "late_days": late}


def judged(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("expected_on", "done_on", "status", "late_days")}


async def test_the_kelurahan_timeline_judges_each_step_against_its_expected_day_as_of_a_day(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    # The journeys' cycle: sosialisasi awal on 11 January 2021 (day 0), each year-1 step on or before
    # its day (the period's default schedule) but the PJM, expected on day 270 (8 October), held on
    # 20 October; the Renta of year 1 on 1 November.
    await targeted(http, platform, KEL, households=3)
    await cycle_to_renta(http, KEL)
    await quiesce(platform)

    october = await get(http, f"{M}/kelurahan/{KEL}", as_of="2021-10-15")
    steps = {k: judged(v) for k, v in by_step(october).items()}
    # The kelurahan counts as a target from its cycle's first step (its verification was recorded
    # today, after the fact): the sosialisasi awal was expected 30 days after it.
    assert steps[("sosialisasi-awal", None)] == step("2021-02-10", "2021-01-11", "done")
    assert steps[("bkm-election", None)] == step("2021-07-10", "2021-07-05", "done")
    assert steps[("pjm", None)] == step("2021-10-08", None, "late", 7)
    assert steps[("renta", 1)] == step("2021-11-07", None, "due")  # not yet due
    assert october["cycle"] == {
        "period_code": "KOTAKU",
        "targeted_on": "2021-01-11",
        "parameters_version": 1,
        "ended": False,
        "late_steps": 1,
        "overdue_steps": 1,
    }

    december = await get(http, f"{M}/kelurahan/{KEL}", as_of="2022-12-01")
    steps = {k: judged(v) for k, v in by_step(december).items()}
    assert steps[("pjm", None)] == step("2021-10-08", "2021-10-20", "done late", 12)
    assert steps[("renta", 1)] == step("2021-11-07", "2021-11-01", "done")
    # Year 2's Renta and review, expected 300 and 665 days after the start, are 24 days late.
    assert steps[("renta", 2)] == step("2022-11-07", None, "late", 24)
    assert steps[("review-partisipatif", 2)] == step("2022-11-07", None, "late", 24)
    # What is expected within a year is listed, not yet due; the re-election of year 4 (11 March
    # 2024) is not listed yet.
    assert steps[("renta", 3)] == step("2023-11-07", None, "due")
    assert ("bkm-reelection", None) not in steps and ("renta", 4) not in steps
    assert (december["cycle"]["late_steps"], december["cycle"]["overdue_steps"]) == (3, 2)

    # Before it became a target nothing was expected on a day, so nothing was late.
    before = await get(http, f"{M}/kelurahan/{KEL}", as_of="2020-12-01")
    assert before["cycle"]["targeted_on"] is None and before["cycle"]["late_steps"] == 0
    assert {s["status"] for s in before["timeline"]} == {"due"}
    assert {s["expected_on"] for s in before["timeline"]} == {None}

    # The institutions service judges the cycle by the same rule: the same steps, days and lateness
    # (but for the sosialisasi awal's expected day: its anchor is the verification's recording).
    cycle = await get(http, f"{CYCLE}/cycle", as_of="2022-12-01")
    theirs = {
        (i["step"], i["year"]): step(i["expected_on"], i["done_on"], i["progress"], i["late_days"])
        for i in cycle["schedule"]
    }
    ours = {k: v for k, v in steps.items()}
    assert (
        theirs.pop(("sosialisasi-awal", None))["done_on"] == ours.pop(("sosialisasi-awal", None))["done_on"]
    )
    assert ours == theirs
    assert cycle["late_steps"] == december["cycle"]["late_steps"]

    # The city counts the steps overdue in its targets.
    city = await get(http, f"{M}/cities/{CITY}", as_of="2022-12-01")
    assert (city["barriers"]["overdue_steps"], city["barriers"]["kelurahan_overdue"]) == (2, 1)
    [row] = city["kelurahan"]
    assert (row["late_steps"], row["overdue_steps"]) == (3, 2)
    on_time = await get(http, f"{M}/cities/{CITY}", as_of="2021-09-01")
    assert on_time["barriers"]["overdue_steps"] == 0 and on_time["kelurahan"][0]["late_steps"] == 0


async def test_after_an_rkm_rejection_the_steps_not_done_are_not_needed(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=2)
    await post(http, f"{CYCLE}/cycle/sosialisasi-awal", {"meeting": meeting("2021-01-11")})
    await post(http, f"{CYCLE}/cycle/rkm", {"meeting": meeting("2021-02-08", 2), "decision": "rejected"})
    await quiesce(platform)
    page = await get(http, f"{M}/kelurahan/{KEL}", as_of="2021-12-31")
    steps = by_step(page)
    assert judged(steps[("rkm", None)]) == step("2021-02-10", "2021-02-08", "done")
    assert judged(steps[("pjm", None)]) == step("2021-10-08", None, "not needed")
    assert page["cycle"]["ended"] is True and page["cycle"]["overdue_steps"] == 0
    # Before the meeting the cycle was still open.
    assert (await get(http, f"{M}/kelurahan/{KEL}", as_of="2021-02-01"))["cycle"]["ended"] is False


# --- exports of every table -------------------------------------------------------------------------------


async def exported(http: httpx.AsyncClient, table: str, **params: str) -> list[dict[str, str]]:
    """The table's CSV and XLSX, which must agree; the CSV's rows."""
    response = await http.get(f"{M}/exports/{table}.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f"p2kp-{table}-" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    book = await http.get(f"{M}/exports/{table}.xlsx", params=params)
    assert book.status_code == 200, book.text
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None and sheet.title == table
    header, *cells = list(sheet.iter_rows(values_only=True))
    assert list(header) == (list(rows[0]) if rows else ["empty"])

    def same(written: str, cell: Any) -> bool:
        if cell is None or isinstance(cell, bool | str):
            return written == ("" if cell is None else str(cell))
        if isinstance(cell, int | float):  # a whole float reads back as an int
            return float(written) == cell
        return bool(written == cell.date().isoformat())  # a day reads back as a datetime

    assert len(cells) == len(rows)
    for cell_row, row in zip(cells, rows, strict=True):
        assert all(same(row[c], v) for c, v in zip(header, cell_row, strict=True)), (row, cell_row)
    return rows


async def test_every_table_of_the_pages_is_exported_within_the_callers_scope(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await a_kelurahan_with_money(http, platform)
    await targeted(http, platform, "35.78.01.1001", households=2)
    await quiesce(platform)
    on = {"as_of": "2022-05-01", "within": CITY}
    page = await get(http, f"{M}/kelurahan/{KEL}", as_of="2022-05-01")
    city = await get(http, f"{M}/cities/{CITY}", as_of="2022-05-01")

    factors = await exported(http, "factors", **on)
    assert list(factors[0]) == ["city_code", "factor", "measure", "value"]
    assert {
        "city_code": CITY,
        "factor": "sosialisasi",
        "measure": "coverage_pct",
        "value": "100.0",
    } in factors
    assert len(factors) == sum(len(m) for m in city["factors"].values())

    barriers = {r["barrier"]: r for r in await exported(http, "barriers", **on)}
    assert barriers["ddub_unpaid"]["value"] == "5000000" == str(city["barriers"]["ddub_unpaid"])
    assert barriers["overdue_steps"]["value"] == str(city["barriers"]["overdue_steps"])
    assert barriers["handover_not_started"]["value"] == "True"

    timeline = await exported(http, "timeline", **on)
    assert list(timeline[0]) == [
        "kelurahan_code",
        "period_code",
        "step",
        "year",
        "expected_on",
        "done_on",
        "status",
        "late_days",
    ]
    assert {r["kelurahan_code"] for r in timeline} == {KEL} and len(timeline) == len(page["timeline"])
    [pjm] = [r for r in timeline if r["step"] == "pjm"]
    assert (pjm["expected_on"], pjm["done_on"], pjm["status"], pjm["late_days"]) == (
        "2021-10-08",
        "2021-10-20",
        "done late",
        "12",
    )
    # One kelurahan's timeline: its page's.
    assert await exported(http, "timeline", as_of="2022-05-01", within=KEL) == timeline

    blm = await exported(http, "blm", **on)
    assert [(r["source"], int(r["amount"])) for r in blm] == [(b["source"], b["amount"]) for b in page["blm"]]
    assert sum(int(r["amount"]) for r in blm) == 100_000_000
    [tranche] = await exported(http, "tranches", **on)
    assert (tranche["kelurahan_code"], tranche["source"], tranche["tranche"], tranche["amount"]) == (
        KEL,
        "APBN",
        "1",
        "19000000",
    )
    assert tranche["received_on"] == "2021-11-15" and tranche["lpj_accepted_on"] == ""
    assert await exported(http, "ksm", **on) == [{"kelurahan_code": KEL, "type": "ekonomi", "ksm": "1"}]
    [closing] = await exported(http, "par-trend", **on)
    assert (closing["as_of"], closing["outstanding"], closing["par_pct"]) == (
        "2022-04-15",
        "5000000",
        "100.0",
    )
    # As of a day before anything of it, the tables are as empty as the page.
    assert await exported(http, "ksm", as_of="2021-01-01", within=CITY) == []

    # Scope: Surabaya's operator is not told Semarang's tables exist; Semarang's gets its own city's
    # without asking; a facilitator's city export is its kelurahan's; the city's own tables are the city
    # page's, which a facilitator does not see.
    surabaya, semarang = bearer("city_operator", "35.78"), bearer("city_operator", CITY)
    for table in ("factors", "barriers", "timeline", "blm", "tranches", "ksm", "par-trend"):
        for fmt in ("csv", "xlsx"):
            refused = await http.get(f"{M}/exports/{table}.{fmt}", params=on, headers=surabaya)
            assert refused.status_code == 404, (table, refused.text)
    mine = await http.get(f"{M}/exports/blm.csv", params={"as_of": "2022-05-01"}, headers=semarang)
    assert mine.status_code == 200 and KEL in mine.text
    theirs = await http.get(f"{M}/exports/timeline.csv", params={"as_of": "2022-05-01"}, headers=surabaya)
    assert theirs.status_code == 200 and KEL not in theirs.text and CITY not in theirs.text
    facilitator = bearer("facilitator", "33.74.10.1005")
    narrowed = await http.get(f"{M}/exports/tranches.csv", params=on, headers=facilitator)
    assert narrowed.status_code == 200 and KEL not in narrowed.text
    assert (await http.get(f"{M}/exports/factors.csv", params=on, headers=facilitator)).status_code == 404
    assert "per city or kelurahan" in problem(await http.get(f"{M}/exports/timeline.csv"), 422)
    assert "per city" in problem(await http.get(f"{M}/exports/factors.csv", params={"within": "33"}), 422)


async def test_remembered_figures_are_never_older_than_the_facts(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    """The dashboard keeps figures it computed (a national overview is a dozen aggregates), keyed by the
    events the facts have applied: asked again unchanged, they come from memory; after one more event
    they are computed again and show it."""
    await targeted(http, platform, KEL, households=2)
    await quiesce(platform)
    memo = platform.state.services["monitoring"].state.figures_memo = Memo()

    first = await get(http, f"{M}/overview")
    assert await get(http, f"{M}/overview") == first
    assert (memo.misses, memo.hits) == (1, 1)
    assert first["targets"] == 1 and first["bkm_active"] == 0
    # Its JSON is kept too, encoded once as FastAPI would encode the figures, and sent to each reader.
    [kept] = memo._kept.values()
    assert kept._body is not None and json.loads(kept._body) == jsonable_encoder(kept.figures)
    assert (await http.get(f"{M}/overview")).content == kept._body

    # One more event (a sosialisasi awal) applied by the facts: the same question is computed again.
    await post(http, f"{CYCLE}/cycle/sosialisasi-awal", {"meeting": meeting("2021-01-11")})
    await quiesce(platform)
    again = await get(http, f"{M}/overview")
    assert memo.misses == 2
    assert again["cycles_started"] == first["cycles_started"] + 1

    # Twenty readers asking at once share one computation.
    together = await asyncio.gather(*(get(http, f"{M}/portfolio") for _ in range(20)))
    assert all(answer == together[0] for answer in together) and memo.misses == 3


class HeldMemo(Memo):
    """A memo whose computations say they started, then wait to be let go."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = asyncio.Event(), asyncio.Event()

    async def _compute(self, *args: Any) -> Any:
        self.started.set()
        await self.release.wait()
        return await super()._compute(*args)


async def test_a_reader_who_goes_away_does_not_take_the_shared_computation_with_it(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=2)
    await quiesce(platform)
    memo, found = HeldMemo(), generations(platform)
    on = today()
    leaving = asyncio.create_task(memo.figures(found, on, None, "overview", None))
    await memo.started.wait()
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    staying = asyncio.create_task(memo.figures(found, on, None, "overview", None))
    memo.release.set()
    figures = await staying
    assert (memo.misses, memo.hits) == (1, 1) and figures["targets"] == 1
    assert await get(http, f"{M}/overview") == json.loads(json.dumps(figures, default=str))


async def test_a_page_reads_what_its_parts_share_once(http: httpx.AsyncClient, platform: FastAPI) -> None:
    """A city page's parts (its figures, factors, barriers and kelurahan rows) need the same steps,
    tranches, latest closings and stages: each is read once per page, not once per part; and a
    province's figures name its cities, which an index answers (``LIKE '33.%'`` read whole tables)."""
    await a_kelurahan_with_money(http, platform)
    await quiesce(platform)
    found = generations(platform)
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    async with found.runtime.engine.connect() as conn:
        event.listen(conn.sync_connection, "before_cursor_execute", seen)  # this page's statements only
        page = await Measures(conn, found.facts, date(2022, 6, 30)).city(CITY)
        assert page["kelurahan"][0]["outstanding"] > 0  # the closing is there, and read
        twice = [s for s in set(sent) if sent.count(s) > 1]
        assert twice == [], twice
        sent.clear()
        portfolio = await Measures(conn, found.facts, date(2022, 6, 30)).portfolio("33")
        assert [r["kelurahan_code"] for r in portfolio] == [KEL]
        assert sent and not any("LIKE" in s.upper() for s in sent), sent
