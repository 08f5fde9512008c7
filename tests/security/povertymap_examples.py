"""Authorisation-matrix examples for the poverty-mapping endpoints, and the records they need."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.common import Request, kelurahan

PM = "/program-periods/{code}/kelurahan/{kelurahan_code}"
HOUSEHOLDS: dict[str, str] = {}  # city code -> the household the fixture surveyed there


def pm(city: str) -> str:
    return f"/program-periods/KOTAKU/kelurahan/{kelurahan(city)}"


def nik(city: str, n: int) -> str:
    """A valid NIK registered in kecamatan <city>.01, born 1 January 1990, serial from n."""
    return f"{city[:2]}{city[3:5]}01010190{n % 9998 + 1:04d}"


def survey_body(city: str, n: int) -> dict[str, Any]:
    return {
        "personal": {"head_name": f"Warga {n}", "nik": nik(city, n), "address": "Jl. Contoh 1"},
        "survey": {
            "criteria_version": 1,
            "criteria_met": [1],
            "members": 4,
            "poor": True,
            "surveyed_on": "2026-01-15",
        },
    }


def _household(city: str) -> str:
    return f"{pm(city)}/households/{HOUSEHOLDS[city]}"


EXAMPLES = {
    ("targeting", "POST", f"{PM}/poverty-criteria"): lambda city, n: Request(
        "POST",
        f"{pm(city)}/poverty-criteria",
        {"items": [f"Kriteria {n}"], "berita_acara": f"BA {n}", "agreed_on": "2026-01-10"},
    ),
    ("targeting", "GET", f"{PM}/poverty-criteria"): lambda city, n: Request(
        "GET", f"{pm(city)}/poverty-criteria"
    ),
    ("targeting", "POST", f"{PM}/households"): lambda city, n: Request(
        "POST", f"{pm(city)}/households", survey_body(city, n)
    ),
    ("targeting", "GET", f"{PM}/households"): lambda city, n: Request("GET", f"{pm(city)}/households"),
    ("targeting", "GET", f"{PM}/households/{{household_id}}"): lambda city, n: Request(
        "GET", _household(city)
    ),
    ("targeting", "GET", f"{PM}/households/{{household_id}}/personal-data"): lambda city, n: Request(
        "GET", f"{_household(city)}/personal-data"
    ),
    ("targeting", "DELETE", f"{PM}/households/{{household_id}}/personal-data"): lambda city, n: Request(
        "DELETE", f"{_household(city)}/personal-data", params={"basis": "recorded-in-error"}
    ),
    ("targeting", "GET", f"{PM}/ps2"): lambda city, n: Request("GET", f"{pm(city)}/ps2"),
    ("targeting", "POST", f"{PM}/ps2/members"): lambda city, n: Request(
        "POST", f"{pm(city)}/ps2/members", {"household_id": HOUSEHOLDS[city], "reason": f"kriteria 1 ({n})"}
    ),
    ("targeting", "POST", f"{PM}/ps2/members/{{household_id}}/removal"): lambda city, n: Request(
        "POST", f"{pm(city)}/ps2/members/{HOUSEHOLDS[city]}/removal", {"reason": f"pindah ({n})"}
    ),
    ("targeting", "POST", f"{PM}/ps2/publications"): lambda city, n: Request(
        "POST", f"{pm(city)}/ps2/publications", {"berita_acara": f"BA PS-2 {n}", "published_on": "2026-02-01"}
    ),
    ("targeting", "GET", f"{PM}/ps2/publications"): lambda city, n: Request(
        "GET", f"{pm(city)}/ps2/publications"
    ),
    ("targeting", "GET", f"{PM}/ps2/publications/{{version}}"): lambda city, n: Request(
        "GET", f"{pm(city)}/ps2/publications/1"
    ),
}


async def set_up(http: httpx.AsyncClient, city: str) -> None:
    """Verify the nominated kelurahan of ``city`` and give it criteria, a household and a PS-2 list."""
    t = "/targeting" + pm(city)
    steps: list[tuple[str, dict[str, Any]]] = [
        (f"{t}/verification", {"verified": True, "criteria_version": 1, "reason": "meets the criteria"}),
        (
            f"{t}/poverty-criteria",
            {"items": ["Lantai tanah"], "berita_acara": "BA 1", "agreed_on": "2026-01-10"},
        ),
    ]
    for url, body in steps:
        response = await http.post(url, json=body)
        assert response.status_code == 201, response.text
    body = survey_body(city, 0)
    body["personal"]["nik"] = f"{city[:2]}{city[3:5]}010202900001"  # born 2 Feb 1990: never an example's
    response = await http.post(f"{t}/households", json=body)
    assert response.status_code == 201, response.text
    HOUSEHOLDS[city] = response.json()["household_id"]
    for url, body in [
        (f"{t}/ps2/members", {"household_id": HOUSEHOLDS[city], "reason": "kriteria 1"}),
        (f"{t}/ps2/publications", {"berita_acara": "BA PS-2 1", "published_on": "2026-02-01"}),
    ]:
        response = await http.post(url, json=body)
        assert response.status_code == 201, response.text
