"""The dashboard in a real headless Chromium against `p2kp run`: sign in as the national analyst, open
the national overview, drill into Kota Semarang and one of its kelurahan, check the figures against the
JSON API, switch to English, download an export. Screenshots of each page are kept as artifacts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, expect

from services.monitoring.i18n import Words
from tests.harness.browser import artifacts_dir, save_screenshot
from tests.harness.processes import PlatformProcess
from tests.harness.tokens import ADMIN, bearer
from tests.journeys import cycle_to_renta, post, registered_period, synced, targeted

CITY, KEL = "33.74", "33.74.10.1004"
BLM = f"/ledger/program-periods/KOTAKU/kelurahan/{KEL}/blm"
ID, EN = Words("id"), Words("en")


async def applied(http: httpx.AsyncClient, consumer: str, stream_id: str, version: int) -> None:
    """The platform process waits, on its side, until ``consumer`` has applied the stream's version."""
    service = consumer.split(".")[0]
    response = await http.get(
        f"/{service}/consumers/{consumer}/streams/{stream_id}", params={"version": version}
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
async def seeded(embedded_platform: PlatformProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A kelurahan of Semarang through its year-1 cycle with its first BLM tranche received; the
    national admin's client to the process, for the JSON API's figures."""
    async with httpx.AsyncClient(base_url=embedded_platform.base, headers=ADMIN, timeout=30) as http:
        await registered_period(http)
        await targeted(http, http, KEL, households=3)  # the journeys wait on the server's checkpoints
        renta = (await cycle_to_renta(http, KEL, year=2021))["renta"]
        await synced(http, renta, consumer="ledger.facts")
        allocation = {
            "year": 2021,
            "total_rupiah": 120_000_000,
            "fiscal_category": "rendah",
            "apbn_reference": "DIPA",
        }
        await post(http, BLM, allocation)
        tranche = f"{BLM}/2021/tranches/APBN/1"
        await post(http, f"{tranche}/request", {"requested_on": "2021-11-15", "document": "PP-BLM 1"})
        verifiers = {
            "faskel": bearer("facilitator", KEL),
            "korkot": bearer("regional_consultant", "33"),
            "satker": ADMIN,
        }
        for level, who in verifiers.items():
            await post(
                http, f"{tranche}/verification/{level}", {"approved": True, "on": "2021-11-15"}, headers=who
            )
        await post(http, f"{tranche}/transfer", {"transferred_on": "2021-11-16", "reference": "SP2D 1"})
        received = await post(http, f"{tranche}/receipt", {"received_on": "2021-11-17"})
        # The dashboard's projection has everything once it has each topic's last event used here (a
        # topic is one ordered partition in embedded mode): the verification, the Renta, the receipt.
        facts = (await http.get("/monitoring/projections")).json()[0]["consumer"]
        await applied(http, facts, f"kelurahan-sasaran-KOTAKU-{KEL}", 2)
        await applied(http, facts, renta["stream_id"], renta["version"])
        await applied(http, facts, received["stream_id"], received["version"])
        yield http


def demo_password(platform: PlatformProcess, username: str) -> str:
    """The demo account's password, as `p2kp run` prints it on first start."""
    found = re.search(rf"^\s*{re.escape(username)} / (\S+)", platform.log.read_text(), re.M)
    assert found, platform.tail()
    return found.group(1)


async def snapshot(page: Page, name: str) -> None:
    assert (await save_screenshot(page, f"dashboard-{name}")).stat().st_size > 0


async def test_national_analyst_drills_from_the_overview_to_a_kelurahan_and_downloads_an_export(
    page: Page, embedded_platform: PlatformProcess, seeded: httpx.AsyncClient
) -> None:
    base = embedded_platform.base
    await page.goto(f"{base}/login")
    await page.get_by_label("Username").fill("analis.nasional")
    await page.get_by_label("Password").fill(demo_password(embedded_platform, "analis.nasional"))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base}/")

    # The national overview, in Bahasa Indonesia, with its data's freshness.
    response = await page.goto(f"{base}/monitoring/dashboard")
    assert response is not None and response.ok, embedded_platform.tail()
    await expect(page.locator("html")).to_have_attribute("lang", "id")
    await expect(page.get_by_role("heading", level=1)).to_have_text(ID("overview.title"))
    overview = (await seeded.get("/monitoring/overview")).json()
    await expect(page.locator('[data-figure="blm_received"]')).to_have_text(
        ID.rupiah(overview["blm_received"])
    )
    assert overview["blm_received"] > 0
    await expect(page.locator('[data-figure="lag"]')).to_have_text("0")
    await expect(page.locator("svg.chart").first).to_be_visible()
    await snapshot(page, "overview")

    # Kota Semarang, from the ranking.
    await page.locator(f'tr[data-city="{CITY}"]').get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Kota Semarang ({CITY})")
    city = (await seeded.get(f"/monitoring/cities/{CITY}")).json()
    summary = page.locator('[aria-labelledby="summary"]')
    await expect(summary.locator('[data-figure="blm_received"]')).to_have_text(
        ID.rupiah(city["summary"]["blm_received"])
    )
    await expect(summary.locator('[data-figure="steps_done_pct"]')).to_have_text(
        ID.percent(city["summary"]["steps_done_pct"])
    )
    await expect(page.locator('[data-measure="kebijakan.steps_done_pct"]')).to_have_text(
        ID.percent(city["factors"]["kebijakan"]["steps_done_pct"])
    )
    await snapshot(page, "city")

    # One of its kelurahan.
    await page.locator(f'tr[data-kelurahan="{KEL}"]').get_by_role("link").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(KEL)
    kelurahan = (await seeded.get(f"/monitoring/kelurahan/{KEL}")).json()
    await expect(page.locator('[data-figure="bkm_status"]')).to_have_text(
        ID.label("bkm", kelurahan["bkm"]["status"])
    )
    await expect(page.locator(".timeline li.done")).to_have_count(len(kelurahan["steps"]))
    # Its cycle against the schedule: the PJM, expected on 8 October 2021, was held 12 days late; the
    # steps past their day and not done are marked late, as the JSON API counts them.
    pjm = page.locator('.timeline li[data-step="pjm"]')
    await expect(pjm).to_have_attribute("data-status", "done late")
    await expect(pjm.locator(".progress")).to_have_text(ID("progress.done late", n=ID.number(12)))
    await expect(pjm.locator(".expected time")).to_have_text(ID.day("2021-10-08"))
    await expect(page.locator(".timeline li.late:not(.done)")).to_have_count(
        kelurahan["cycle"]["overdue_steps"]
    )
    await expect(page.locator('[data-figure="overdue_steps"]')).to_have_text(
        ID.number(kelurahan["cycle"]["overdue_steps"])
    )
    await snapshot(page, "kelurahan")

    # In English: the same figures, written the English way.
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator('[data-figure="bkm_status"]')).to_have_text(
        EN.label("bkm", kelurahan["bkm"]["status"])
    )
    await page.get_by_role("link", name=EN("nav.overview")).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(EN("overview.title"))
    await expect(page.locator('[data-figure="blm_received"]')).to_have_text(
        EN.rupiah(overview["blm_received"])
    )
    await snapshot(page, "overview-en")

    # An export, downloaded as the browser does it.
    async with page.expect_download() as started:
        await page.locator('a[data-export="cities.csv"]').click()
    download = await started.value
    assert re.fullmatch(r"p2kp-cities-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    saved = artifacts_dir() / "downloads" / download.suggested_filename
    await download.save_as(saved)
    header, *rows = saved.read_text().splitlines()
    assert header.startswith("city_code,") and any(r.startswith(f"{CITY},") for r in rows)
    assert str(overview["blm_received"]) in next(r for r in rows if r.startswith(f"{CITY},"))

    # The portfolio and handover pages, for the record.
    await page.get_by_role("link", name=EN("nav.portfolio")).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(EN("portfolio.title"))
    await snapshot(page, "portfolio-en")
    await page.get_by_role("link", name=EN("nav.handovers")).click()
    await expect(page.locator(f'tr[data-city="{CITY}"]')).to_contain_text(EN.label("stage", "not started"))
    await snapshot(page, "handovers-en")
