"""The dashboard's remembered figures, region by region, and the warmer that keeps the first pages
computed: an event in one city leaves another city's figures remembered, a warm page is never served
older than the facts, and the warmer stands aside while the projection catches up."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pydantic_core
import pytest
from fastapi import FastAPI

from services.monitoring.app import MonitoringSettings, build
from services.monitoring.facts import READS
from services.monitoring.generations import Generations
from services.monitoring.measures import Measures
from services.monitoring.memo import (
    SPACING,
    Memo,
    Parts,
    Warmer,
    applied_in,
    read_changes,
    warm_pages,
)
from services.platform import quiesce
from shared.clock import today
from shared.transport.embedded import EmbeddedBus
from tests.harness.tokens import ADMIN
from tests.journeys import meeting, post, registered_period, targeted

SEMARANG, SURABAYA = "33.74.10.1004", "35.78.01.1001"
M = "/monitoring"


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Two cities in two provinces, each with one targeted kelurahan, every consumer caught up."""
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
        await registered_period(client)
        for kelurahan in (SEMARANG, SURABAYA):
            await targeted(client, platform, kelurahan, households=2)
        await quiesce(platform)
        yield client


def monitoring(platform: FastAPI) -> Any:
    return platform.state.services["monitoring"].state


def generations(platform: FastAPI) -> Generations:
    found: Generations = monitoring(platform).generations
    return found


async def get(http: httpx.AsyncClient, url: str) -> Any:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    return response.json()


async def sosialisasi_in_semarang(http: httpx.AsyncClient, platform: FastAPI) -> None:
    base = f"/institutions/program-periods/KOTAKU/kelurahan/{SEMARANG}"
    await post(http, f"{base}/cycle/sosialisasi-awal", {"meeting": meeting("2021-01-11")})
    await quiesce(platform)


def test_every_event_the_facts_read_changes_a_city_or_the_whole_program() -> None:
    """The memo trusts ``changes``: an event type that changed facts but counted for no region would
    leave its region's figures remembered, old. Each read type names its kelurahan or city, or is one
    of the program's own (periods, parameters), which every region's figures count."""
    program_wide = {
        kind.__name__ for kind in READS if not {"kelurahan_code", "city_code"} & set(kind.model_fields)
    }
    assert program_wide == {"ProgramPeriodRegistered", "ProgramParametersSet"}


def test_a_regions_figures_count_its_cities_changes_and_the_programs() -> None:
    changes = {"": 2, "33.74": 5, "33.71": 7, "35.78": 11}
    assert applied_in(changes, None) == 25
    assert applied_in(changes, "33") == 2 + 5 + 7
    assert applied_in(changes, "35") == 2 + 11
    assert applied_in(changes, "33.74") == applied_in(changes, "33.74.10") == 2 + 5
    assert applied_in(changes, "33.74.10.1004") == 2 + 5
    assert applied_in(changes, "36") == applied_in(changes, "36.01") == 2  # no facts yet: the program's


async def test_an_event_in_one_city_leaves_the_other_citys_figures_remembered(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    memo = monitoring(platform).figures_memo = Memo()
    pages = [f"{M}/cities/33.74", f"{M}/cities/35.78", f"{M}/overview?within=35", f"{M}/overview"]
    before = {page: await get(http, page) for page in pages}
    assert (memo.misses, memo.hits) == (4, 0)

    await sosialisasi_in_semarang(http, platform)  # a Semarang (province 33) event only
    assert await get(http, f"{M}/cities/35.78") == before[f"{M}/cities/35.78"]
    assert await get(http, f"{M}/overview?within=35") == before[f"{M}/overview?within=35"]
    assert (memo.misses, memo.hits) == (4, 2)  # Surabaya's and East Java's: from memory
    semarang, national = await get(http, f"{M}/cities/33.74"), await get(http, f"{M}/overview")
    assert memo.misses == 6  # Semarang's and the country's: computed again, and they show it
    assert (
        semarang["summary"]["cycles_started"] == before[f"{M}/cities/33.74"]["summary"]["cycles_started"] + 1
    )
    assert national["cycles_started"] == before[f"{M}/overview"]["cycles_started"] + 1

    async with generations(platform).runtime.engine.connect() as conn:
        changes = await read_changes(conn, generations(platform).facts)
    assert set(changes) == {"", "33.74", "35.78"} and changes[""] > 0  # the period and its parameters

    # The operators see how the readers were answered.
    metrics = (await http.get(f"{M}/metrics")).text
    answered = dict(
        re.findall(r'^dashboard_figures_total\{answer="(\w+)",service="monitoring"\} (\S+)$', metrics, re.M)
    )
    assert answered == {"remembered": "2.0", "computed": "6.0", "warmed": "0.0"}, metrics


async def test_the_countrys_pages_are_composed_of_each_citys_and_equal_a_whole_computation(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    """The national and provincial overview and portfolio are their cities' parts put together: after an
    event in one city only that city's parts are computed again (a national overview computed whole
    takes a dozen aggregates over every row of the country). Put together, they are what computing the
    whole region gives."""
    memo = monitoring(platform).figures_memo = Memo(whole_share=1.0)  # never the whole again, here
    pages = {
        f"{M}/overview": ("overview", None),
        f"{M}/overview?within=33": ("overview", "33"),
        f"{M}/portfolio": ("portfolio", None),
        f"{M}/portfolio?within=35": ("portfolio", "35"),
    }

    async def computed_whole() -> dict[str, Any]:
        found = generations(platform)
        async with found.runtime.engine.connect() as conn:
            return {
                page: json.loads(
                    pydantic_core.to_json(await getattr(Measures(conn, found.facts, today()), what)(region))
                )
                for page, (what, region) in pages.items()
            }

    first = {page: await get(http, page) for page in pages}  # the first of a day: the parts computed whole
    assert memo.parts_computed == 0 and first == await computed_whole()

    await sosialisasi_in_semarang(http, platform)
    composed = {page: await get(http, page) for page in pages}
    # Semarang's figures and its UPK, once each; Surabaya's kept; East Java's portfolio remembered whole.
    assert memo.parts_computed == 2
    assert composed == await computed_whole()
    assert composed[f"{M}/overview"]["cycles_started"] == 1 and composed[f"{M}/overview"]["cities"] == 2


async def test_a_generation_older_than_the_changes_counts_still_shows_every_city(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    """A generation created before the changes were counted gets the table empty: its cities are found
    by computing a region whole once, never by the changes alone. A province computed whole does not
    stand for the country."""
    found = generations(platform)
    async with found.runtime.engine.begin() as conn:
        await conn.execute(found.facts.changes.delete())
    memo = monitoring(platform).figures_memo = Memo(whole_share=1.0)
    java = await get(http, f"{M}/overview?within=33")
    national = await get(http, f"{M}/overview")
    assert (java["cities"], national["cities"]) == (1, 2)
    await sosialisasi_in_semarang(http, platform)  # Semarang is counted from now on; Surabaya is not
    national = await get(http, f"{M}/overview")
    assert national["cities"] == 2 and national["cycles_started"] == 1 and memo.parts_computed == 1


def test_a_part_of_older_facts_never_replaces_a_later_one() -> None:
    """Two compositions at once: the one that read the changes first may finish last. Its part of a city
    is of older facts and must not replace the other's."""
    parts = Parts()
    later, earlier = (1, 7, "day", None, "cities", "33.74"), (1, 6, "day", None, "cities", "33.74")
    parts.keep("33.74", later, ["after the event"])
    parts.keep("33.74", earlier, ["before the event"])
    assert parts.cities["33.74"] == (later, ["after the event"])
    parts.keep("33.74", (2, 0, "day", None, "cities", "33.74"), ["a new generation"])
    assert parts.cities["33.74"][1] == ["a new generation"]


async def test_the_warmer_keeps_the_first_pages_computed_and_never_serves_them_old(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    state = monitoring(platform)
    memo = state.figures_memo = Memo()
    now = [0.0]  # the warmer's clock: pages computed a moment ago wait their turn (the next test)
    warmer = state.figures_warmer = Warmer(state, clock=lambda: now[0])
    await warmer.look()  # the first look only notes how far the facts are
    assert warmer.status.state == "standing aside" and memo.warmed == 0
    await warmer.look()
    expected = warm_pages(today(), ["33.74", "35.78"])
    assert len(expected) == 8  # national overview and portfolio, two provinces' both, two cities
    assert (warmer.status.state, warmer.status.pages, warmer.status.computed) == ("warm", 8, 8)
    assert set(memo._warm) == set(expected)
    assert 'dashboard_warm_pages{service="monitoring"} 8.0' in (await http.get(f"{M}/metrics")).text
    status = (await get(http, f"{M}/projections"))[0]["figures"]
    assert status["state"] == "warm" and status["applied"] == warmer.status.applied

    # A reader finds the pages computed, the same figures a fresh computation gives.
    fresh = Memo()
    for page in (f"{M}/cities/33.74", f"{M}/overview", f"{M}/portfolio?within=35"):
        response = await http.get(page)
        assert response.status_code == 200
        monitoring(platform).figures_memo = fresh
        assert (await http.get(page)).content == response.content
        monitoring(platform).figures_memo = memo
    assert (memo.misses, memo.hits) == (0, 3)

    # After a Semarang event, its warm pages are not served: the reader's is computed again.
    await sosialisasi_in_semarang(http, platform)
    semarang = await get(http, f"{M}/cities/33.74")
    assert memo.misses == 1 and semarang["summary"]["cycles_started"] == 1
    await get(http, f"{M}/cities/35.78")
    assert memo.hits == 4
    # The next look computes what changed: the country's two pages and Central Java's (Semarang's page
    # a reader has just computed; Surabaya's and East Java's have not changed).
    warmed = memo.warmed
    now[0] += 3600
    await warmer.look()
    assert memo.warmed - warmed == warmer.status.computed == 4

    # A look that finds a catch-up under way (more events than ``busy`` since the last) computes nothing.
    warmer.busy = 0
    await targeted(http, platform, "33.74.10.1005", households=1)
    await quiesce(platform)
    await warmer.look()
    assert warmer.status.state == "standing aside" and memo.warmed - warmed == 4


async def test_a_page_that_changes_again_soon_after_it_was_computed_waits_its_turn(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    """While events arrive everywhere, the warmer would compute the national pages at every look: a
    page is computed again no sooner than ``SPACING`` times as long as it took. Meanwhile a reader
    gets it computed, never old."""
    state = monitoring(platform)
    memo = state.figures_memo = Memo()
    now = [0.0]
    warmer = Warmer(state, clock=lambda: now[0])
    await warmer.look()
    await warmer.look()
    assert (warmer.status.state, warmer.status.computed) == ("warm", 8)

    await sosialisasi_in_semarang(http, platform)
    await warmer.look()  # five pages changed (the country's two, Central Java's two, Semarang's)
    assert (warmer.status.state, warmer.status.computed) == ("pacing", 0)
    semarang = await get(http, f"{M}/cities/33.74")
    assert memo.misses == 1 and semarang["summary"]["cycles_started"] == 1

    now[0] += SPACING * max(kept.took for _key, kept in memo._warm.values())
    await warmer.look()
    assert (warmer.status.state, warmer.status.computed) == ("warm", 4)  # Semarang's: the reader's
    await warmer.look()
    assert warmer.status.rounds == 3  # nothing left old: the next look has nothing to do


@pytest.mark.parametrize(
    ("role", "warm_seconds", "warmer"),
    [("all", 2.0, True), ("api", 2.0, True), ("consumers", 2.0, False), ("api", 0.0, False)],
)
def test_a_warmer_runs_where_the_dashboard_is_served(
    tmp_path: Path, role: str, warm_seconds: float, warmer: bool
) -> None:
    settings = MonitoringSettings(data_dir=tmp_path, role=role, P2KP_MONITORING_WARM_SECONDS=warm_seconds)
    app = build(settings, bus=EmbeddedBus(f"sqlite+aiosqlite:///{tmp_path / 'bus.sqlite'}"))
    found = getattr(app.state, "figures_warmer", None)
    assert (found is not None) == warmer
    assert (found in app.state.runtime.followers) == warmer


def test_yesterdays_warm_pages_are_let_go() -> None:
    memo = Memo()
    memo._warm = {page: ((), None) for page in warm_pages(date(2026, 1, 1), ["33.74"])}  # type: ignore[misc]
    memo.keep_warm(warm_pages(date(2026, 1, 2), ["33.74"]))
    assert memo._warm == {}
