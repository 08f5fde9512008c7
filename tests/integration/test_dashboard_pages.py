"""The dashboard's pages through the embedded platform: a kelurahan of Kota Semarang driven from its
targeting through its cycle, its BLM, a loan gone late and two book closings to its city's handover;
every page shows the figures the JSON API gives, in Bahasa Indonesia and in English, with how fresh
they are, and a city operator of another city is not told the city exists."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.monitoring import dashboard
from services.monitoring.i18n import LANGUAGES, Lang, Words
from services.monitoring.measures import Measures
from services.platform import quiesce
from tests.harness.tokens import ADMIN, bearer
from tests.integration.test_ledger_api import BASE, BLM, KEL, ledger_knows, tranche_through
from tests.journeys import cycle_to_renta, eligible_ksm, hand_over, post, registered_period, targeted

CITY = "33.74"
M = "/monitoring"


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
        await registered_period(client)
        yield client


async def drive_a_kelurahan(http: httpx.AsyncClient, platform: FastAPI) -> None:
    """KEL targeted, its year-1 cycle done in 2021, 100 million of BLM with the first APBN tranche
    received, a loan to a KSM never repaid and closed twice, then Kota Semarang handed over."""
    households = await targeted(http, platform, KEL, households=6)
    await ledger_knows(platform, (await cycle_to_renta(http, KEL, year=2021))["renta"])
    allocation = {
        "year": 2021,
        "total_rupiah": 100_000_000,
        "fiscal_category": "rendah",
        "apbn_reference": "DIPA",
    }
    await post(http, f"{BASE}/blm", allocation)
    await tranche_through(http, "APBN", 1, "2021-11-15")
    fund = {"source": "APBN", "amount_rupiah": 15_000_000, "capitalised_on": "2021-11-16"}
    await post(http, f"{BLM}/revolving-fund", fund)
    ksm = await eligible_ksm(http, KEL, households[:5])
    await ledger_knows(platform, ksm)
    loan = {
        "ksm_id": ksm["ksm_id"],
        "principal_rupiah": 5_000_000,
        "term_months": 10,
        "approved_on": "2021-11-25",
        "decision": "SK UPK 7",
    }
    loan_id = (await post(http, f"{BASE}/loans", loan))["loan_id"]
    await post(http, f"/ledger/loans/{loan_id}/disbursement", {"disbursed_on": "2021-12-01"})
    for day in ("2022-01-31", "2022-04-30"):  # one instalment late, then three: PAR 0 %, then 100 %
        await post(http, f"{BASE}/books/closing", {"as_of": day})
    await hand_over(http, CITY)
    await quiesce(platform)


async def json_of(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await http.get(M + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def page(http: httpx.AsyncClient, path: str, lang: Lang, **params: str) -> str:
    response = await http.get(f"{M}/dashboard{path}", params={"lang": lang, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert f'<html lang="{lang}">' in text
    # Every page: the switch to the other language, and how fresh its data is.
    other = "en" if lang == "id" else "id"
    assert f'hreflang="{other}"' in text
    assert shown(text, "last_event") != Words(lang)("fresh.none") and shown(text, "lag") == "0"
    return text


def shown(text: str, figure: str, attribute: str = "data-figure") -> str:
    """The text of the element marked with ``figure`` (tags inside it dropped)."""
    found = re.search(rf'{attribute}="{re.escape(figure)}"[^>]*>(.*?)</(dd|td|p)>', text, re.S)
    assert found, f"no {figure} on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def timeline_item(text: str, step: str, year: int | None) -> tuple[str, int, str]:
    """A step of the kelurahan page's timeline: its status, its days late and its words."""
    found = re.search(
        rf'<li class="[^"]*" data-step="{step}" data-year="{year or ""}" data-status="([^"]+)" '
        r'data-late-days="(\d+)">(.*?)</li>',
        text,
        re.S,
    )
    assert found, f"no {step} {year} in the timeline"
    words = html.unescape(re.sub(r"<[^>]+>", " ", found.group(3)))
    return found.group(1), int(found.group(2)), " ".join(words.split())


def row(text: str, attribute: str, code: str) -> str:
    found = re.search(rf'<tr {attribute}="{re.escape(code)}">(.*?)</tr>', text, re.S)
    assert found, f"no row for {code}"
    return html.unescape(found.group(1))


async def test_every_page_shows_the_json_apis_figures_in_both_languages(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await drive_a_kelurahan(http, platform)
    overview = await json_of(http, "/overview")
    city = await json_of(http, f"/cities/{CITY}")
    kelurahan = await json_of(http, f"/kelurahan/{KEL}")
    portfolio = await json_of(http, "/portfolio")
    handovers = await json_of(http, "/handovers")
    assert overview["blm_allocated"] == 100_000_000 and overview["targets"] == 1
    assert kelurahan["upk"]["par_pct"] == 100.0 and city["summary"]["handover_stage"] == "transferred"

    for lang in LANGUAGES:
        t = Words(lang)
        text = await page(http, "", lang)
        for name in ("blm_allocated", "blm_received", "passed_to_ksm", "outstanding"):
            assert shown(text, name) == t.rupiah(overview[name]), name
        for name in ("cities", "targets", "cycles_started", "bkm_active"):
            assert shown(text, name) == t.number(overview[name]), name
        assert shown(text, "par_pct") == t.percent(overview["par_pct"])
        assert shown(text, "blm_allocated") == {"id": "Rp 100.000.000", "en": "Rp 100,000,000"}[lang]
        semarang = row(text, "data-city", CITY)
        assert t.percent(overview["by_progress"][0]["progress_pct"]) in semarang
        assert t.label("stage", "transferred") in semarang
        assert f'href="/monitoring/dashboard/cities/{CITY}' in text
        assert "<svg" in text and t("chart.funnel") in text and t("chart.disbursement") in text

        text = await page(http, f"/cities/{CITY}", lang)
        summary = city["summary"]
        assert shown(text, "blm_received") == t.rupiah(summary["blm_received"])
        assert shown(text, "steps_done_pct") == t.percent(summary["steps_done_pct"]) == t.percent(100.0)
        for factor, measures in city["factors"].items():
            assert t(f"factor.{factor}") in text
            for name, value in measures.items():
                want = t.percent(value) if name.endswith("_pct") else None
                got = shown(text, f"{factor}.{name}", "data-measure")
                assert want is None or got == want, (factor, name)
        sosialisasi = city["factors"]["sosialisasi"]
        assert shown(text, "sosialisasi.poor_per_meeting", "data-measure") == t.number(
            sosialisasi["poor_per_meeting"], 1
        )
        assert shown(text, "ddub_unpaid") == t.rupiah(city["barriers"]["ddub_unpaid"])
        assert shown(text, "handover_not_started") == t("no")
        assert shown(text, "overdue_steps") == t.number(city["barriers"]["overdue_steps"])
        assert shown(text, "kelurahan_overdue") == t.number(city["barriers"]["kelurahan_overdue"])
        [kel_row] = city["kelurahan"]
        cells = row(text, "data-kelurahan", KEL)
        assert t.rupiah(kel_row["outstanding"]) in cells and t.percent(kel_row["par_pct"]) in cells
        assert f'href="/monitoring/dashboard/kelurahan/{KEL}' in text

        text = await page(http, f"/kelurahan/{KEL}", lang)
        for step in kelurahan["steps"]:
            assert t.day(step["done_on"]) in text and t.label("step", step["step"]) in text
        # The timeline: each step with its expected day and how late it is or was, as the JSON says.
        assert len(re.findall(r'<li class="[^"]*" data-step=', text)) == len(kelurahan["timeline"])
        for item in kelurahan["timeline"]:
            status, late, words = timeline_item(text, item["step"], item["year"])
            assert (status, late) == (item["status"], item["late_days"])
            assert t.day(item["expected_on"]) in words and t.label("step", item["step"]) in words
        assert "done late" in timeline_item(text, "pjm", None)[0]
        assert t("progress.done late", n="12") in timeline_item(text, "pjm", None)[2]
        assert shown(text, "overdue_steps") == t.number(kelurahan["cycle"]["overdue_steps"])
        assert shown(text, "late_steps") == t.number(kelurahan["cycle"]["late_steps"])
        assert shown(text, "bkm_status") == t.label("bkm", kelurahan["bkm"]["status"])
        assert shown(text, "loans_disbursed") == t.rupiah(kelurahan["loans_disbursed"]) == t.rupiah(5_000_000)
        assert shown(text, "grants_disbursed") == t.rupiah(kelurahan["grants_disbursed"])
        assert shown(text, "ksm_ekonomi") == t.number(kelurahan["ksm"]["ekonomi"])
        assert shown(text, "par_pct") == t.percent(kelurahan["upk"]["par_pct"])
        assert t.label("band", kelurahan["upk"]["par_band"]) in text
        assert shown(text, "handover_stage") == t.label("stage", kelurahan["handover_stage"])
        for tranche in kelurahan["tranches"]:
            assert t.rupiah(tranche["amount"]) in text
        assert "<polyline" in text  # the PAR trend through the two closings
        assert t.day("2022-01-31") in text and t.day("2022-04-30") in text

        text = await page(http, "/portfolio", lang)
        [upk] = portfolio
        cells = row(text, "data-kelurahan", KEL)
        for name in ("lar", "par", "rr", "ccr", "roi"):
            assert t.percent(upk[f"{name}_pct"]) in cells
        assert t.rupiah(upk["outstanding"]) in cells and t.label("band", upk["par_band"]) in cells

        text = await page(http, "/handovers", lang)
        [stage] = [h for h in handovers if h["city_code"] == CITY]
        assert t.label("stage", stage["stage"]) in row(text, "data-city", CITY)


async def test_as_of_a_past_day_the_pages_show_that_days_figures(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await drive_a_kelurahan(http, platform)
    before_receipt = await json_of(http, "/overview", as_of="2021-11-14")
    text = await page(http, "", "id", as_of="2021-11-14")
    assert shown(text, "blm_received") == "Rp 0" == Words("id").rupiah(before_receipt["blm_received"])
    assert "14 November 2021" in text and 'value="2021-11-14"' in text
    # Links keep the day and the language the reader chose.
    english = await page(http, f"/cities/{CITY}", "en", as_of="2021-11-14")
    assert f'href="/monitoring/dashboard/kelurahan/{KEL}?as_of=2021-11-14&amp;lang=en"' in english
    assert 'href="/monitoring/exports/kelurahan.csv?as_of=2021-11-14&amp;within=33.74"' in english


def export_links(text: str) -> dict[str, str]:
    return {
        name: html.unescape(link)
        for link, name in re.findall(r'href="([^"]+)"[^>]*data-export="([^"]+)"', text)
    }


async def test_the_pages_exports_are_the_callers_tables(http: httpx.AsyncClient, platform: FastAPI) -> None:
    await drive_a_kelurahan(http, platform)
    text = await page(http, f"/cities/{CITY}", "id")
    link = export_links(text)["kelurahan.csv"]
    csv = await http.get(link)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert KEL in csv.text
    # Every table of the city and kelurahan pages has its two exports, of the page's day and region.
    city = export_links(await page(http, f"/cities/{CITY}", "en", as_of="2022-05-01"))
    kelurahan = export_links(await page(http, f"/kelurahan/{KEL}", "id", as_of="2022-05-01"))
    tables = {name.split(".")[0] for name in (*city, *kelurahan)}
    assert tables == {
        "kelurahan",
        "factors",
        "barriers",
        "timeline",
        "ksm",
        "blm",
        "tranches",
        "par-trend",
        "portfolio",
    }
    for name, link in (*city.items(), *kelurahan.items()):
        assert "as_of=2022-05-01" in link and (f"within={CITY}" in link or f"within={KEL}" in link), link
        answer = await http.get(link)
        assert answer.status_code == 200, (name, answer.text)
        if name.endswith(".csv"):
            assert answer.headers["content-type"].startswith("text/csv") and CITY in answer.text, name
        else:
            assert answer.content[:2] == b"PK", name
    overview = await page(http, "", "en")
    xlsx = html.unescape(re.findall(r'href="([^"]+)"[^>]*data-export="portfolio.xlsx"', overview)[0])
    assert (await http.get(xlsx)).content[:2] == b"PK"  # a zip: the workbook


async def test_a_city_operator_of_another_city_is_not_told_this_city_exists(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await drive_a_kelurahan(http, platform)
    surabaya, semarang = bearer("city_operator", "35.78"), bearer("city_operator", CITY)
    for path in (f"/cities/{CITY}", f"/kelurahan/{KEL}"):
        refused = await http.get(f"{M}/dashboard{path}", headers=surabaya)
        assert refused.status_code == 404, refused.text
        assert (await http.get(f"{M}/dashboard{path}", headers=semarang)).status_code == 200
    # The overview of the other city's operator is its own city's: nothing of Semarang.
    own = await http.get(f"{M}/dashboard", headers=surabaya)
    assert own.status_code == 200 and CITY not in own.text
    assert (await http.get(f"{M}/dashboard", params={"within": CITY}, headers=surabaya)).status_code == 404


async def test_the_session_cookie_of_the_sign_in_page_opens_the_dashboard(platform: FastAPI) -> None:
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp") as browser:
        assert (await browser.get(f"{M}/dashboard")).status_code == 401
        accounts = platform.state.accounts
        from shared.security.principal import Principal

        await accounts.create(
            "pmu.test", "rahasia-sekali", Principal.of("pmu.test", "national_monitor"), "PMU"
        )
        signed_in = await browser.post("/login", data={"username": "pmu.test", "password": "rahasia-sekali"})
        assert signed_in.status_code == 303
        text = (await browser.get(f"{M}/dashboard")).text
        assert Words("id")("overview.title") in text


async def test_a_long_portfolio_comes_a_page_at_a_time(
    http: httpx.AsyncClient, platform: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A national portfolio is every UPK of the country: the page shows a page of it with the way to the
    others, the JSON API takes a limit and an offset and says how many there are in all."""
    await drive_a_kelurahan(http, platform)
    [upk] = await json_of(http, "/portfolio")
    # Three UPK: the real one and two more of its shape (the pages' mechanics, not the figures).
    codes = [KEL, f"{KEL[:-4]}9998", f"{KEL[:-4]}9999"]
    many = [{**upk, "kelurahan_code": code} for code in codes]

    async def portfolio(self: Measures, within: str | None = None) -> list[dict[str, Any]]:
        return many

    monkeypatch.setattr(Measures, "portfolio", portfolio)
    monkeypatch.setattr(dashboard, "PAGE_ROWS", 2)

    answer = await http.get(f"{M}/portfolio", params={"limit": "2", "offset": "1", "as_of": "2026-01-01"})
    assert answer.status_code == 200 and answer.headers["x-total-count"] == "3"
    assert [r["kelurahan_code"] for r in answer.json()] == codes[1:]
    assert (await http.get(f"{M}/portfolio", params={"limit": "0"})).status_code == 422

    for lang in LANGUAGES:
        t = Words(lang)
        first = await page(http, "/portfolio", lang, as_of="2026-01-01")
        assert shown(first, "rows", "data-pager") == t("pager.rows", first="1", last="2", total="3")
        assert [code for code in codes if f'data-kelurahan="{code}"' in first] == codes[:2]
        assert 'rel="prev"' not in first and 'rel="next"' in first and "page=2" in first
        second = await page(http, "/portfolio", lang, as_of="2026-01-01", page="2")
        assert shown(second, "rows", "data-pager") == t("pager.rows", first="3", last="3", total="3")
        assert [code for code in codes if f'data-kelurahan="{code}"' in second] == codes[2:]
        assert 'rel="prev"' in second and 'rel="next"' not in second
