"""Authorisation-matrix examples for the institutions endpoints, and the records they need: in each
fixture city a kelurahan with its cycle up to a constituted BKM, a person and a KSM."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from services.institutions.readmodels import ps2_members
from tests.journeys import cycle_to_bkm, meeting, post
from tests.security.common import Request, kelurahan
from tests.security.povertymap_examples import HOUSEHOLDS

C = "/program-periods/{code}/kelurahan/{kelurahan_code}"
PEOPLE: dict[str, str] = {}  # city -> a BKM member the fixture registered there
KSMS: dict[str, str] = {}  # city -> the fixture's KSM there
KSM_HOUSEHOLDS: dict[str, list[str]] = {}


def c(city: str) -> str:
    return f"/program-periods/KOTAKU/kelurahan/{kelurahan(city)}"


def _meeting(n: int) -> dict[str, Any]:
    return meeting("2022-02-01", n)


def _ksm(city: str) -> str:
    return f"/ksm/{KSMS[city]}"


async def set_up(http: httpx.AsyncClient, app: FastAPI, city: str) -> None:
    """After ``povertymap_examples.set_up``: two more PS-2 households, the cycle to a BKM, a KSM."""
    t = f"/targeting{c(city)}"
    households = [HOUSEHOLDS[city]]
    for n in (2, 3):
        survey = {
            "personal": {
                "head_name": f"Warga {n}",
                "nik": f"{city[:2]}{city[3:5]}01020290000{n}",
                "address": "Jl. 2",
            },
            "survey": {
                "criteria_version": 1,
                "criteria_met": [1],
                "members": 3,
                "poor": True,
                "surveyed_on": "2026-01-15",
            },
        }
        household = (await post(http, f"{t}/households", survey))["household_id"]
        await post(http, f"{t}/ps2/members", {"household_id": household, "reason": "kriteria 1"})
        households.append(household)
    consumer = app.state.services["institutions"].state.runtime.consumer("institutions.targeting")

    async def synced() -> bool:
        async with consumer.engine.connect() as conn:
            on_list = await conn.execute(
                select(func.count()).where(
                    ps2_members.c.kelurahan_code == kelurahan(city), ps2_members.c.on_list.is_(True)
                )
            )
            return bool(on_list.scalar_one() == 3)

    await consumer.wait_until(synced)
    bkm = await cycle_to_bkm(http, kelurahan(city))
    PEOPLE[city] = bkm["members"][0]
    module = {"code": "PB", "title": "Pinjaman bergulir", "jpl": 8, "audience": ["ksm", "bkm"]}
    assert (
        await http.post("/institutions/program-periods/KOTAKU/training-modules", json=module)
    ).status_code in (201, 409)
    members = [{"household_id": h, "woman": True} for h in households]
    body = {"name": "KSM Matrix", "type": "ekonomi", "registered_on": "2021-09-01", "members": members}
    KSMS[city] = (await post(http, f"/institutions{c(city)}/ksm", body))["ksm_id"]
    KSM_HOUSEHOLDS[city] = households


def _step(path: str, body: Any) -> Any:
    return lambda city, n: Request("POST", f"{c(city)}/{path}", body(city, n))


EXAMPLES = {
    ("institutions", "GET", f"{C}/cycle"): lambda city, n: Request("GET", f"{c(city)}/cycle"),
    ("institutions", "GET", "/program-periods/{code}/cycles"): lambda city, n: Request(
        "GET", "/program-periods/KOTAKU/cycles", params={"city": city}
    ),
    ("institutions", "POST", f"{C}/cycle/sosialisasi-awal"): _step(
        "cycle/sosialisasi-awal", lambda city, n: {"meeting": _meeting(n)}
    ),
    ("institutions", "POST", f"{C}/cycle/rkm"): _step(
        "cycle/rkm",
        lambda city, n: {"meeting": _meeting(n), "decision": "accepted", "request_letter": f"S {n}"},
    ),
    ("institutions", "POST", f"{C}/cycle/relawan"): _step(
        "cycle/relawan", lambda city, n: {"registered_on": "2022-02-01", "person_ids": [PEOPLE[city]]}
    ),
    ("institutions", "POST", f"{C}/cycle/refleksi-kemiskinan"): _step(
        "cycle/refleksi-kemiskinan", lambda city, n: {"meeting": _meeting(n)}
    ),
    ("institutions", "POST", f"{C}/cycle/pemetaan-swadaya"): _step(
        "cycle/pemetaan-swadaya", lambda city, n: {"meeting": _meeting(n), "ps2_version": 1}
    ),
    ("institutions", "POST", f"{C}/cycle/units"): _step(
        "cycle/units",
        lambda city, n: {
            "unit": "UPK",
            "formed_on": "2022-02-01",
            "sk_number": f"SK {n}",
            "staff": [PEOPLE[city]],
        },
    ),
    ("institutions", "POST", f"{C}/cycle/pjm"): _step(
        "cycle/pjm", lambda city, n: {"meeting": _meeting(n), "document": f"PJM {n}"}
    ),
    ("institutions", "POST", f"{C}/cycle/renta"): _step(
        "cycle/renta", lambda city, n: {"year": 1, "approved_on": "2022-02-01", "document": f"Renta {n}"}
    ),
    ("institutions", "POST", f"{C}/cycle/reviews"): _step(
        "cycle/reviews", lambda city, n: {"year": 2, "meeting": _meeting(n), "findings": "baik"}
    ),
    ("institutions", "GET", f"{C}/bkm"): lambda city, n: Request("GET", f"{c(city)}/bkm"),
    ("institutions", "POST", f"{C}/bkm/utusan"): _step(
        "bkm/utusan",
        lambda city, n: {
            "election": 2,
            "rt_rw": f"RW {n % 900 + 10:03d}",
            "held_on": "2022-02-01",
            "voters": 10,
            "person_ids": [PEOPLE[city]],
        },
    ),
    ("institutions", "POST", f"{C}/bkm/elections"): _step(
        "bkm/elections",
        lambda city, n: {
            "election": 2,
            "meeting": _meeting(n),
            "ballots_cast": 1,
            "members": [{"person_id": PEOPLE[city], "votes": 1, "literate": True, "party_member": False}],
            "coordinator": PEOPLE[city],
            "anggaran_dasar": "AD",
        },
    ),
    ("institutions", "POST", f"{C}/bkm/replacements"): _step(
        "bkm/replacements",
        lambda city, n: {
            "leaving": PEOPLE[city],
            "joining": PEOPLE[city],
            "reason": "pindah",
            "replaced_on": "2022-02-01",
            "berita_acara": f"BA {n}",
        },
    ),
    ("institutions", "POST", f"{C}/bkm/coordinator"): _step(
        "bkm/coordinator", lambda city, n: {"person_id": PEOPLE[city], "chosen_on": "2022-02-01"}
    ),
    ("institutions", "POST", f"{C}/ksm"): _step(
        "ksm",
        lambda city, n: {
            "name": f"KSM {n}",
            "type": "sosial",
            "registered_on": "2022-02-01",
            "members": [{"household_id": h, "woman": False} for h in KSM_HOUSEHOLDS[city]],
        },
    ),
    ("institutions", "GET", f"{C}/ksm"): lambda city, n: Request("GET", f"{c(city)}/ksm"),
    ("institutions", "GET", "/ksm/{ksm_id}"): lambda city, n: Request("GET", _ksm(city)),
    ("institutions", "POST", "/ksm/{ksm_id}/members"): lambda city, n: Request(
        "POST",
        f"{_ksm(city)}/members",
        {"member": {"household_id": HOUSEHOLDS[city], "woman": True}, "joined_on": "2022-02-01"},
    ),
    ("institutions", "POST", "/ksm/{ksm_id}/members/{household_id}/departure"): lambda city, n: Request(
        "POST",
        f"{_ksm(city)}/members/{HOUSEHOLDS[city]}/departure",
        {"left_on": "2022-02-01", "reason": "pindah"},
    ),
    ("institutions", "POST", "/ksm/{ksm_id}/savings"): lambda city, n: Request(
        "POST",
        f"{_ksm(city)}/savings",
        {"month": f"{2022 + n // 12 % 4}-{n % 12 + 1:02d}", "amount_rupiah": 100_000},
    ),
    ("institutions", "POST", "/ksm/{ksm_id}/joint-liability"): lambda city, n: Request(
        "POST",
        f"{_ksm(city)}/joint-liability",
        {"signed_on": "2022-02-01", "document": f"TR {n}", "signatories": 3},
    ),
    ("institutions", "POST", "/ksm/{ksm_id}/trainings"): lambda city, n: Request(
        "POST", f"{_ksm(city)}/trainings", {"module_code": "PB", "completed_on": "2022-02-01"}
    ),
    ("institutions", "POST", "/kelurahan/{kelurahan_code}/people"): lambda city, n: Request(
        "POST", f"/kelurahan/{kelurahan(city)}/people", {"name": f"Warga {n}", "woman": n % 2 == 0}
    ),
    ("institutions", "GET", "/people/{person_id}"): lambda city, n: Request("GET", f"/people/{PEOPLE[city]}"),
    ("institutions", "DELETE", "/people/{person_id}/personal-data"): lambda city, n: Request(
        "DELETE", f"/people/{PEOPLE[city]}/personal-data"
    ),
    ("institutions", "POST", "/program-periods/{code}/training-modules"): lambda city, n: Request(
        "POST",
        "/program-periods/KOTAKU/training-modules",
        {"code": f"M{n}", "title": f"Modul {n}", "jpl": 4, "audience": ["relawan"]},
    ),
    ("institutions", "GET", "/program-periods/{code}/training-modules"): lambda city, n: Request(
        "GET", "/program-periods/KOTAKU/training-modules"
    ),
    ("institutions", "POST", f"{C}/trainings"): _step(
        "trainings",
        lambda city, n: {
            "module_code": "PB",
            "delivered_on": "2022-02-01",
            "trainer_role": "faskel",
            "participants": [{"person_id": PEOPLE[city], "role": "bkm"}],
        },
    ),
}
