"""Walks through the platform's HTTP API that several test modules need: a kelurahan targeted with a
published PS-2 list, and its community cycle up to a constituted BKM. Each step asserts its answer, and
cross-service steps wait on the consuming projection's checkpoint, never on time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from shared.clock import today
from tests.harness.tokens import ADMIN, bearer

KOTAKU = {"code": "KOTAKU", "name": "Kota Tanpa Kumuh", "starts_on": "2016-01-01", "ends_on": "2024-12-31"}


def meeting(held_on: str, n: int = 1, *, women: int = 18) -> dict[str, Any]:
    return {
        "held_on": held_on,
        "place": "Balai Kelurahan",
        "facilitator": "faskel.ani",
        "attendance": {"men": 22, "women": women, "poor_households": 15},
        "berita_acara": f"BA/{n:03d}/{held_on[:4]}",
    }


async def post(
    http: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    want: int = 201,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await http.post(url, json=body, headers=headers)
    assert response.status_code == want, f"{url}: {response.status_code} {response.text}"
    answer: dict[str, Any] = response.json() if response.content else {}
    return answer


# The embedded platform (waited on in-process), or a client of separate processes (waited on through
# each service's GET /consumers/{name}/streams/{id}?version=, which waits on the server).
Platform = FastAPI | httpx.AsyncClient


async def synced(
    platform: Platform, accepted: dict[str, Any], consumer: str = "institutions.targeting"
) -> None:
    """Wait until ``consumer`` has applied the stream version a command answered with."""
    service = consumer.split(".")[0]
    stream, version = accepted["stream_id"], accepted["version"]
    if isinstance(platform, FastAPI):
        runtime = platform.state.services[service].state.runtime
        await runtime.consumer(consumer).wait_for_stream(stream, version)
        return
    url = f"/{service}/consumers/{consumer}/streams/{stream}"
    for _ in range(6):  # each request waits up to 10 s on the server
        answer = await platform.get(url, params={"version": version, "wait_seconds": 10}, headers=ADMIN)
        if answer.status_code == 200:
            return
        assert answer.status_code in (409, 503), f"{url}: {answer.status_code} {answer.text}"
        if answer.status_code == 503:  # its database is coming back (a restart): as Retry-After says
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{consumer} did not apply {stream} v{version} within a minute")


def nik(kelurahan: str, n: int) -> str:
    """A valid-format NIK registered in the kelurahan's kecamatan (synthetic: born 1 January 1990), its
    serial unique per kelurahan of the kecamatan and household number."""
    serial = (int(kelurahan[-4:]) % 100) * 100 + n + 1
    return f"{kelurahan[:2]}{kelurahan[3:5]}{kelurahan[6:8]}010190{serial:04d}"


async def targeted(
    http: httpx.AsyncClient,
    platform: Platform,
    kelurahan: str,
    households: int = 6,
    *,
    period: str = "KOTAKU",
) -> list[str]:
    """Nominate and verify ``kelurahan``, survey ``households`` poor households onto a published PS-2
    list, and wait until the institutions service has all of it. Returns the household ids."""
    base = f"/targeting/program-periods/{period}/kelurahan/{kelurahan}"
    figures = {"population": 5200, "households": 1300, "poor_households": 420, "source": "BPS 2024"}
    await post(
        http,
        f"/targeting/program-periods/{period}/kelurahan",
        {"kelurahan_code": kelurahan, "indicators": figures},
    )
    await post(http, f"{base}/verification", {"verified": True, "criteria_version": 1, "reason": "meets"})
    await post(
        http,
        f"{base}/poverty-criteria",
        {"items": ["Lantai tanah"], "berita_acara": "BA K", "agreed_on": "2020-10-01"},
    )
    ids = []
    for n in range(households):
        survey = {
            "personal": {"head_name": f"Warga {n}", "nik": nik(kelurahan, n), "address": "Jl. Contoh 1"},
            "survey": {
                "criteria_version": 1,
                "criteria_met": [1],
                "members": 4,
                "poor": True,
                "surveyed_on": "2020-10-15",
            },
        }
        household = (await post(http, f"{base}/households", survey))["household_id"]
        await post(http, f"{base}/ps2/members", {"household_id": household, "reason": "kriteria 1"})
        ids.append(household)
    published = await post(
        http, f"{base}/ps2/publications", {"berita_acara": "BA PS-2", "published_on": "2020-11-01"}
    )
    await synced(platform, published)
    return ids


async def register_people(http: httpx.AsyncClient, kelurahan: str, count: int, women: int) -> list[str]:
    """``count`` people in the kelurahan's register, the first ``women`` of them women."""
    return [
        (
            await post(
                http,
                f"/institutions/kelurahan/{kelurahan}/people",
                {"name": f"Warga {i}", "woman": i < women},
            )
        )["person_id"]
        for i in range(count)
    ]


async def cycle_to_bkm(
    http: httpx.AsyncClient, kelurahan: str, *, period: str = "KOTAKU", year: int = 2021
) -> dict[str, Any]:
    """Run the cycle of a targeted kelurahan from the sosialisasi awal to a constituted BKM of 9 members
    (3 of them women). Returns the cycle's base URL, the utusan and the BKM members."""
    base = f"/institutions/program-periods/{period}/kelurahan/{kelurahan}"
    await post(http, f"{base}/cycle/sosialisasi-awal", {"meeting": meeting(f"{year}-01-11", 1)})
    await post(
        http,
        f"{base}/cycle/rkm",
        {
            "meeting": meeting(f"{year}-02-08", 2),
            "decision": "accepted",
            "request_letter": f"Surat 01/{year}",
        },
    )
    people = await register_people(http, kelurahan, 12, women=4)
    await post(http, f"{base}/cycle/relawan", {"registered_on": f"{year}-02-20", "person_ids": people[:6]})
    await post(http, f"{base}/cycle/refleksi-kemiskinan", {"meeting": meeting(f"{year}-03-25", 3)})
    await post(
        http, f"{base}/cycle/pemetaan-swadaya", {"meeting": meeting(f"{year}-05-10", 4), "ps2_version": 1}
    )
    for rw in range(3):
        await post(
            http,
            f"{base}/bkm/utusan",
            {
                "election": 1,
                "rt_rw": f"RW 0{rw + 1}",
                "held_on": f"{year}-06-01",
                "voters": 80,
                "person_ids": people[rw * 4 : rw * 4 + 4],
            },
        )
    # Members: three of the four women and six men; people[3] (a woman) stays an utusan only.
    members = [people[i] for i in (0, 1, 2, 4, 5, 6, 7, 8, 9)]
    election = {
        "election": 1,
        "meeting": meeting(f"{year}-07-05", 5),
        "ballots_cast": 12,
        "members": [{"person_id": p, "votes": 7, "literate": True, "party_member": False} for p in members],
        "coordinator": members[0],
        "anggaran_dasar": "AD/ART BKM 2021",
    }
    elected = await post(http, f"{base}/bkm/elections", election)
    return {"base": base, "people": people, "members": members, "elected": elected}


async def registered_period(http: httpx.AsyncClient, period: dict[str, str] = KOTAKU) -> None:
    """A program period with its first targeting-criteria version."""
    await post(http, "/targeting/program-periods", period)
    criteria = {"rule": "kecamatan-welfare", "dataset": "PODES 2000"}
    await post(http, f"/targeting/program-periods/{period['code']}/criteria", criteria)


async def cycle_to_renta(
    http: httpx.AsyncClient, kelurahan: str, *, period: str = "KOTAKU", year: int = 2021
) -> dict[str, Any]:
    """``cycle_to_bkm``, then the units, the PJM and the Renta of year 1: the first tranche's gates."""
    bkm = await cycle_to_bkm(http, kelurahan, period=period, year=year)
    base, staff = bkm["base"], bkm["people"][9:12]
    for unit in ("UPK", "UPL", "UPS"):
        body = {"unit": unit, "formed_on": f"{year}-08-02", "sk_number": f"SK {unit}", "staff": staff}
        await post(http, f"{base}/cycle/units", body)
    await post(http, f"{base}/cycle/pjm", {"meeting": meeting(f"{year}-10-20", 6), "document": f"PJM {year}"})
    bkm["renta"] = await post(
        http, f"{base}/cycle/renta", {"year": 1, "approved_on": f"{year}-11-01", "document": f"Renta {year}"}
    )
    return bkm


LOAN_MODULES = (("PB", "Pinjaman bergulir"), ("KWU", "Kewirausahaan"), ("PERT", "Ekonomi rumah tangga"))


async def eligible_ksm(
    http: httpx.AsyncClient,
    kelurahan: str,
    households: list[str],
    *,
    period: str = "KOTAKU",
    year: int = 2021,
) -> dict[str, Any]:
    """A KSM ekonomi of ``households`` (the first two women) made eligible for loans: three months of
    savings, the joint-liability statement, the three loan trainings. Returns its last command's answer
    with its ``ksm_id``."""
    base = f"/institutions/program-periods/{period}"
    for code, title in LOAN_MODULES:
        module = {"code": code, "title": title, "jpl": 8, "audience": ["ksm"]}
        response = await http.post(f"{base}/training-modules", json=module)
        assert response.status_code in (201, 409), response.text  # the catalogue is the period's
    members = [{"household_id": h, "woman": i < 2} for i, h in enumerate(households)]
    body = {
        "name": "KSM Usaha Bersama",
        "type": "ekonomi",
        "registered_on": f"{year}-09-01",
        "members": members,
    }
    ksm_id = (await post(http, f"{base}/kelurahan/{kelurahan}/ksm", body))["ksm_id"]
    ksm = f"/institutions/ksm/{ksm_id}"
    for month in (f"{year}-09", f"{year}-10", f"{year}-11"):
        await post(http, f"{ksm}/savings", {"month": month, "amount_rupiah": 250_000})
    statement = {"signed_on": f"{year}-11-05", "document": "TR 1", "signatories": len(households)}
    await post(http, f"{ksm}/joint-liability", statement)
    last: dict[str, Any] = {}
    for code, _ in LOAN_MODULES:
        last = await post(http, f"{ksm}/trainings", {"module_code": code, "completed_on": f"{year}-11-20"})
    return {**last, "ksm_id": ksm_id}


async def lingkungan_ksm(
    http: httpx.AsyncClient, kelurahan: str, households: list[str], *, period: str = "KOTAKU"
) -> dict[str, Any]:
    """A KSM lingkungan (a grant's recipient) of ``households``; its registration's answer."""
    body = {
        "name": "KSM Jalan Lingkungan",
        "type": "lingkungan",
        "registered_on": "2021-09-01",
        "members": [{"household_id": h, "woman": False} for h in households],
    }
    return await post(http, f"/institutions/program-periods/{period}/kelurahan/{kelurahan}/ksm", body)


def paving_grant(ksm_id: str) -> dict[str, Any]:
    """A Rp10,000,000 grant proposal for paving, approved 1 December 2021."""
    return {
        "ksm_id": ksm_id,
        "proposal": "Proposal 3",
        "purpose": "Paving jalan RW 02",
        "amount_rupiah": 10_000_000,
        "approved_on": "2021-12-01",
    }


# A year-1 BLM of Rp100,000,000 for a kelurahan of a fiscally weak city (DDUB 5 %).
BLM_2021 = {"year": 2021, "total_rupiah": 100_000_000, "fiscal_category": "rendah", "apbn_reference": "DIPA"}


async def lend(http: httpx.AsyncClient, ledger: str, ksm_id: str, decision: str = "SK UPK 7") -> str:
    """Approve (25 November 2021) and disburse (1 December) a Rp5,000,000 loan over 10 months to an
    eligible KSM; ``ledger`` is the kelurahan's ledger URL. Returns the loan's URL."""
    loan = {
        "ksm_id": ksm_id,
        "principal_rupiah": 5_000_000,
        "term_months": 10,
        "approved_on": "2021-11-25",
        "decision": decision,
    }
    url = f"/ledger/loans/{(await post(http, f'{ledger}/loans', loan))['loan_id']}"
    await post(http, f"{url}/disbursement", {"disbursed_on": "2021-12-01"})
    return url


def handover_steps(city: str, on: str) -> list[tuple[str, dict[str, Any], str]]:
    """The requests that take ``city`` from nothing to transferred, on day ``on``: (path, body, who),
    who being "admin" or "city" (a city operator of ``city``)."""
    h = f"/handover/cities/{city}/handover"
    items = ("data", "infrastructure-assets", "revolving-funds", "institutions", "audit-responsibility")
    perwal = {"kind": "Perwal", "reference": f"Perwal {city} No. 12/2026", "signed_on": on}
    return [
        (f"{h}/assessment", {"period_code": "KOTAKU", "assessed_on": on}, "admin"),
        (f"{h}/agreement", {"instruments": [perwal], "ddub_commitment_pct": 10, "agreed_on": on}, "admin"),
        (f"{h}/parallel-run", {"on": on}, "admin"),
        (f"{h}/parallel-run/signatures/consultants", {"signed_on": on}, "admin"),
        (f"{h}/parallel-run/signatures/city", {"signed_on": on}, "city"),
        *(
            (
                f"{h}/items",
                {
                    "item": i,
                    "handed_by": "Korkot",
                    "received_by": "Bappeda",
                    "document": f"BAST {i}",
                    "transferred_on": on,
                },
                "admin",
            )
            for i in items
        ),
        (f"{h}/completion", {"on": on}, "admin"),
    ]


async def hand_over(
    http: httpx.AsyncClient, city: str, admin: dict[str, str] | None = None
) -> dict[str, Any]:
    """Walk ``city``'s handover to the transfer of write authority; the completion's answer."""
    who = {"admin": admin or ADMIN, "city": bearer("city_operator", city)}
    answer: dict[str, Any] = {}
    for path, body, by in handover_steps(city, today().isoformat()):
        answer = await post(http, path, body, headers=who[by])
    return answer
