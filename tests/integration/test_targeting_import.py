"""Bulk nomination from the spreadsheets the office works in (CSV and XLSX): every row checked first,
a per-row report, nothing half-imported, and the same sheet twice changes nothing."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import Workbook

from services.platform import build_embedded
from shared.settings import ServiceSettings
from tests.harness.tokens import ADMIN, bearer

PROBLEM = "application/problem+json"
PERIOD = "/targeting/program-periods/KOTAKU"
IMPORTS = f"{PERIOD}/kelurahan/imports"
HEADER = "kelurahan_code,population,households,poor_households,source"
MIROTO, METESEH, ROWOSARI, MANGUNHARJO = "33.74.01.1001", "33.74.10.1001", "33.74.10.1002", "33.74.10.1003"
SURABAYA = "35.78.01.1001"
GOOD = [
    f"{MIROTO},5200,1300,420,BPS 2024",
    f"{METESEH},6100,1500,380,BPS 2024",
    f"{ROWOSARI},4100,1000,300,PPLS 2011",
]
BAD = [
    "33.74.01.9999,4000,900,100,BPS 2024",  # row 5: not in the official list
    f"{MANGUNHARJO},4000,900,901,BPS 2024",  # row 6: more poor households than households
    "33.74.10.1004,4000,900,,BPS 2024",  # row 7: a value missing
    f"{MIROTO},5200,1300,420,BPS 2024",  # row 8: row 2 again
    "33.74.01,90000,20000,5000,BPS 2024",  # row 9: a kecamatan
]
FIXED = [*GOOD, f"{MANGUNHARJO},4000,900,310,BPS 2024"]


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = build_embedded(ServiceSettings(data_dir=tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
            period = {
                "code": "KOTAKU",
                "name": "Kota Tanpa Kumuh",
                "starts_on": "2016-01-01",
                "ends_on": "2024-12-31",
            }
            assert (await client.post("/targeting/program-periods", json=period)).status_code == 201
            yield client
        await quiesce(app)


async def quiesce(app: FastAPI) -> None:
    """Let every relay publish and every consumer catch up before the platform stops, so no wake-up
    races the shutdown's cancellation (test_targeting_api.py shows the race)."""
    runtimes = [service.state.runtime for service in app.state.services.values()]

    async def quiet() -> bool:
        for runtime in runtimes:
            if await runtime.relay.backlog() or any([await c.lag() for c in runtime.consumers]):
                return False
        return True

    await runtimes[0].consumers[0].wait_until(quiet, timeout=30)


def csv(*rows: str, sep: str = ",") -> bytes:
    return "\n".join([HEADER, *rows]).replace(",", sep).encode() + b"\n"


async def upload(
    http: httpx.AsyncClient, content: bytes, filename: str = "sasaran.csv", **headers: str
) -> httpx.Response:
    return await http.post(IMPORTS, files={"sheet": (filename, content)}, headers=headers or None)


def report(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored(http: httpx.AsyncClient) -> dict[str, tuple[str, int | None, int | None]]:
    rows = (await http.get(f"{PERIOD}/kelurahan")).json()
    return {r["kelurahan_code"]: (r["status"], r["population"], r["poor_households"]) for r in rows}


async def events(http: httpx.AsyncClient) -> int:
    return len((await http.get("/targeting/audit")).json()["entries"])


def problem(response: httpx.Response, status: int = 422) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    detail: str = response.json()["detail"]
    return detail


async def test_a_sheet_with_bad_rows_imports_nothing_and_says_why_row_by_row(http: httpx.AsyncClient) -> None:
    before = await events(http)
    got = report(await upload(http, csv(*GOOD, *BAD)))
    assert (got["imported"], got["nominated"], got["unchanged"], got["rejected"]) == (False, 0, 0, 5)
    rows = {r["row"]: r for r in got["rows"]}
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8, 9]  # as the office sees them: the header is row 1
    assert [(rows[n]["kelurahan_code"], rows[n]["outcome"], rows[n]["reason"]) for n in (2, 3, 4)] == [
        (MIROTO, "accepted", ""),
        (METESEH, "accepted", ""),
        (ROWOSARI, "accepted", ""),
    ]
    assert all(rows[n]["outcome"] == "rejected" and rows[n]["refusal"] is None for n in (5, 6, 7, 8, 9))
    assert rows[5]["reason"].startswith("'33.74.01.9999' is not a kelurahan code in the official Kemendagri")
    assert "901 poor households is more than 900 households" in rows[6]["reason"]
    assert rows[7]["reason"] == "missing poor_households"
    assert rows[8]["reason"] == "the same kelurahan is already in row 2"
    assert (
        rows[9]["reason"] == "33.74.01 is Semarang Tengah, a kecamatan; a desa/kelurahan code is needed here."
    )
    # Nothing stored: neither the list nor a single event.
    assert await stored(http) == {} and await events(http) == before


async def test_the_fixed_sheet_imports_and_the_same_sheet_again_changes_nothing(
    http: httpx.AsyncClient,
) -> None:
    got = report(await upload(http, csv(*FIXED)))
    assert (got["imported"], got["nominated"], got["unchanged"], got["rejected"]) == (True, 4, 0, 0)
    assert [(r["row"], r["kelurahan_code"], r["outcome"]) for r in got["rows"]] == [
        (2, MIROTO, "nominated"),
        (3, METESEH, "nominated"),
        (4, ROWOSARI, "nominated"),
        (5, MANGUNHARJO, "nominated"),
    ]
    expected = {
        MIROTO: ("nominated", 5200, 420),
        METESEH: ("nominated", 6100, 380),
        ROWOSARI: ("nominated", 4100, 300),
        MANGUNHARJO: ("nominated", 4000, 310),
    }
    assert await stored(http) == expected
    after_first = await events(http)

    again = report(await upload(http, csv(*FIXED)))
    assert (again["imported"], again["nominated"], again["unchanged"], again["rejected"]) == (True, 0, 4, 0)
    assert {r["outcome"] for r in again["rows"]} == {"unchanged"}
    assert await stored(http) == expected and await events(http) == after_first

    # A sheet changing one kelurahan's figures is refused whole: the others are not touched either.
    changed = report(await upload(http, csv(*FIXED[:3], f"{MANGUNHARJO},4000,900,320,BPS 2025")))
    assert (changed["imported"], changed["rejected"]) == (False, 1)
    assert "is already nominated" in changed["rows"][3]["reason"]
    assert await stored(http) == expected and await events(http) == after_first


async def test_an_xlsx_sheet_with_numbers_as_floats_imports(http: httpx.AsyncClient) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Kelurahan_Code", "Population", "Households", "Poor_Households", "Source"])  # any case
    sheet.append([METESEH, 1200.0, 300.0, 120.0, "BPS 2024"])  # what Excel keeps for typed numbers
    sheet.append([ROWOSARI, 4100, 1000, 300, "PPLS 2011"])
    sheet.append([None, None, None, None, None])  # a blank line between blocks
    sheet.append([MANGUNHARJO, 4000.0, 900.0, 0.0, "BPS 2024"])
    content = io.BytesIO()
    book.save(content)

    got = report(await upload(http, content.getvalue(), "Sasaran KOTAKU.XLSX"))
    assert (got["imported"], got["nominated"], got["rejected"]) == (True, 3, 0), got
    assert [r["row"] for r in got["rows"]] == [2, 3, 5]  # the blank line keeps its number
    assert await stored(http) == {
        METESEH: ("nominated", 1200, 120),
        ROWOSARI: ("nominated", 4100, 300),
        MANGUNHARJO: ("nominated", 4000, 0),
    }
    # The same kelurahan in a CSV with the same figures are the same nominations.
    same = report(await upload(http, csv(f"{METESEH},1200,300,120,BPS 2024")))
    assert (same["imported"], same["unchanged"], same["nominated"]) == (True, 1, 0)

    fractional = Workbook()
    assert fractional.active is not None
    fractional.active.append(HEADER.split(","))
    fractional.active.append([MIROTO, 5200.5, 1300, 420, "BPS 2024"])  # not a count
    content = io.BytesIO()
    fractional.save(content)
    refused = report(await upload(http, content.getvalue(), "x.xlsx"))
    assert refused["imported"] is False and "population" in refused["rows"][0]["reason"]


async def test_rows_outside_the_callers_area_are_refused_and_nothing_is_imported(
    http: httpx.AsyncClient,
) -> None:
    consultant = bearer("regional_consultant", "33")  # Jawa Tengah: Semarang, never Surabaya
    sheet = csv(*GOOD, f"{SURABAYA},7000,1800,500,BPS 2024")
    got = report(await upload(http, sheet, **consultant))
    assert (got["imported"], got["rejected"]) == (False, 1)
    outside = got["rows"][3]
    assert (outside["kelurahan_code"], outside["outcome"], outside["refusal"]) == (
        SURABAYA,
        "rejected",
        "hidden",
    )
    assert outside["reason"] == f"{SURABAYA} is not in your area."
    assert [r["outcome"] for r in got["rows"][:3]] == ["accepted"] * 3
    assert await stored(http) == {}

    # A city's operator may not nominate before alih kelola: refused on authority, not hidden.
    operator = report(await upload(http, csv(*GOOD[:1]), **bearer("city_operator", "33.74")))
    assert operator["imported"] is False and operator["rows"][0]["refusal"] == "forbidden"
    assert "alih kelola" in operator["rows"][0]["reason"]
    assert problem(await upload(http, csv(*GOOD), **bearer("facilitator", MIROTO)), 403)

    mine = report(await upload(http, csv(*GOOD), **consultant))
    assert (mine["imported"], mine["nominated"]) == (True, 3)
    assert set(await stored(http)) == {MIROTO, METESEH, ROWOSARI}


async def test_what_is_not_a_readable_sheet_is_a_422(http: httpx.AsyncClient) -> None:
    assert "neither a .csv nor an .xlsx" in problem(await upload(http, csv(*GOOD), "sasaran.pdf"))
    assert "'sasaran.csv' is empty" in problem(await upload(http, b""))
    assert "cannot be opened" in problem(await upload(http, csv(*GOOD), "sasaran.xlsx"))
    assert "There is no program period NOPE." == problem(
        await http.post(
            "/targeting/program-periods/NOPE/kelurahan/imports", files={"sheet": ("s.csv", csv(*GOOD))}
        ),
        404,
    )
    problem(await http.post(IMPORTS))  # no file at all
    assert await stored(http) == {}


async def test_a_semicolon_separated_csv_from_indonesian_excel_imports(http: httpx.AsyncClient) -> None:
    sheet = "\ufeff" + csv(*GOOD, sep=";").decode()  # Excel's UTF-8 CSV starts with a byte-order mark
    sheet += f"{MANGUNHARJO};4000;900;310;BPS, Susenas 2024\n"  # a comma inside a field
    got = report(await upload(http, sheet.encode(), "Sasaran.CSV"))
    assert (got["imported"], got["nominated"]) == (True, 4), got
    assert await stored(http) == {
        MIROTO: ("nominated", 5200, 420),
        METESEH: ("nominated", 6100, 380),
        ROWOSARI: ("nominated", 4100, 300),
        MANGUNHARJO: ("nominated", 4000, 310),
    }
    # Excel's "CSV" on Windows: CRLF and cp1252 (the en dash is not UTF-8).
    windows = [*GOOD, "33.74.10.1004,3000,700,200,Pendataan Kelurahan \u2013 2024"]
    content = (HEADER + "\r\n" + "\r\n".join(windows) + "\r\n").replace(",", ";").encode("cp1252")
    again = report(await upload(http, content))
    assert (again["imported"], again["unchanged"], again["nominated"]) == (True, 3, 1), again
    assert (await stored(http))["33.74.10.1004"] == ("nominated", 3000, 200)


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        (
            b"kelurahan_code\n33.74.01.1001\n",
            [(2, "missing population, households, poor_households, source")],
        ),
        (b"hello world", []),
    ],
)
async def test_a_csv_the_sniffer_cannot_read_is_reported_not_a_server_error(
    http: httpx.AsyncClient, content: bytes, rows: list[tuple[int, str]]
) -> None:
    # Found as a bug: csv.Error ("Could not determine delimiter") escaped as a 500.
    got = report(await upload(http, content))
    assert got["imported"] is False and [(r["row"], r["reason"]) for r in got["rows"]] == rows
    assert await stored(http) == {}
