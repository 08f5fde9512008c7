"""The handover service through the embedded platform: readiness computed from the other services'
events, the process and its illegal transitions, authority moving with the transfer, the city feed by
cursor, and the export's checksums."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.platform import quiesce
from shared.clock import today
from shared.security.authority import Holder, holder_of
from tests.harness.tokens import ADMIN, bearer
from tests.integration.test_targeting_api import problem
from tests.journeys import (
    cycle_to_renta,
    hand_over,
    handover_steps,
    post,
    registered_period,
    synced,
    targeted,
)

CITY, OTHER_CITY = "33.74", "35.78"
KEL, KEL2, SURABAYA_KEL = "33.74.10.1004", "33.74.10.1005", "35.78.01.1001"
YEAR = today().year - 1  # a cycle of last year: its BKM is in term today
H = f"/handover/cities/{CITY}/handover"
TODAY = today().isoformat()
CLIENT = bearer("integration_client", CITY)


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
        await registered_period(client)
        # The ledger allocates BLM by the period's parameters: wait until they have reached it.
        ledger = platform.state.services["ledger"].state.runtime.consumer("ledger.facts")
        await ledger.wait_for_stream("program-period-KOTAKU", 2)
        yield client


async def handover_knows(platform: FastAPI, accepted: dict[str, Any]) -> None:
    await synced(platform, accepted, consumer="handover.facts")


def criterion(card: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in card["criteria"] if c["criterion"] == name)


async def test_readiness_is_computed_from_the_services_events(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL2, households=3)
    await targeted(http, platform, KEL, households=3)
    gates = await cycle_to_renta(http, KEL, year=YEAR)
    await synced(platform, gates["renta"], consumer="ledger.facts")
    blm = f"/ledger/program-periods/KOTAKU/kelurahan/{KEL}/blm"
    await post(
        http,
        blm,
        {"year": YEAR, "total_rupiah": 100_000_000, "fiscal_category": "sedang", "apbn_reference": "DIPA"},
    )
    tranche = f"{blm}/{YEAR}/tranches/DDUB/1"
    day = f"{YEAR}-11-15"
    await post(http, f"{tranche}/request", {"requested_on": day, "document": "PP"})
    for level in ("faskel", "korkot", "satker"):
        await post(http, f"{tranche}/verification/{level}", {"approved": True, "on": day})
    await post(http, f"{tranche}/transfer", {"transferred_on": day, "reference": "SP2D"})
    received = await post(http, f"{tranche}/receipt", {"received_on": day})
    audit = {
        "year": YEAR,
        "auditor": "KAP",
        "opinion": "WTP",
        "findings": 0,
        "report": "LAI",
        "audited_on": TODAY,
    }
    audited = await post(http, f"/ledger/program-periods/KOTAKU/kelurahan/{KEL}/books/audits", audit)
    await handover_knows(platform, gates["elected"])
    await synced(platform, received, consumer="handover.facts")
    await synced(platform, audited, consumer="handover.facts")
    attestation = {
        "period_code": "KOTAKU",
        "criterion": "perda",
        "met": True,
        "evidence": "Perwal 7/2026",
        "attested_on": TODAY,
    }
    await post(http, f"/handover/cities/{CITY}/readiness/attestations", attestation)
    computed = {
        "period_code": "KOTAKU",
        "criterion": "bkm-active",
        "met": True,
        "evidence": "x",
        "attested_on": TODAY,
    }
    assert "not attested by hand" in problem(
        await http.post(f"/handover/cities/{CITY}/readiness/attestations", json=computed), 422
    )

    card = (await http.get(f"/handover/cities/{CITY}/readiness", params={"period": "KOTAKU"})).json()
    bkm = criterion(card, "bkm-active")
    assert (bkm["verdict"], bkm["value_pct"]) == ("not met", 50.0) and "1 of 2" in bkm["source"]
    ddub = criterion(card, "ddub-paid")  # 10 % of 100 million committed, its first 20 % tranche received
    assert (ddub["verdict"], ddub["value_pct"]) == ("not met", 20.0)
    lpj = criterion(card, "lpj-complete")  # received more than 90 days ago, no LPJ yet
    assert (lpj["verdict"], lpj["value_pct"]) == ("not met", 0.0)
    audits = criterion(card, "audits-done")
    assert audits["value_pct"] == (50.0 if today().year - 1 == YEAR else 0.0)
    assert criterion(card, "upk-health")["verdict"] == "unknown"  # no book closing yet
    assert (
        criterion(card, "perda")["verdict"] == "met" and "Perwal 7/2026" in criterion(card, "perda")["source"]
    )
    assert criterion(card, "tkpkd")["verdict"] == "unknown"
    # As of a day before any of it: nothing to judge, nothing attested.
    before = (
        await http.get(
            f"/handover/cities/{CITY}/readiness", params={"period": "KOTAKU", "as_of": f"{YEAR}-01-01"}
        )
    ).json()
    assert before["met"] == 0 and before["unknown"] >= 7
    # The assessment keeps the scorecard it started from.
    await post(http, f"{H}/assessment", {"period_code": "KOTAKU", "assessed_on": TODAY})
    kept = (await http.get(H)).json()
    assert (
        kept["stage"] == "assessed"
        and criterion({"criteria": kept["assessment"]}, "bkm-active")["value_pct"] == 50.0
    )


async def test_the_process_goes_in_order_and_moves_authority(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    steps = handover_steps(CITY, TODAY)
    (assess, assess_body, _), (agree, agree_body, _) = steps[0], steps[1]
    assert "it can be agreed only when assessed" in problem(await http.post(agree, json=agree_body), 409)
    await post(http, assess, assess_body)
    await post(http, agree, agree_body)
    await post(http, f"{H}/hold", {"reason": "menunggu Perwal", "held_on": TODAY})
    assert "on hold" in problem(await http.post(f"{H}/parallel-run", json={"on": TODAY}), 409)
    await post(http, f"{H}/resumption", {"on": TODAY})
    await post(http, f"{H}/parallel-run", {"on": TODAY})
    detail = problem(await http.post(f"{H}/completion", json={"on": TODAY}), 409)
    assert "the city's signature" in detail and "revolving-funds" in detail
    # The city signs for itself, before alih kelola too; a consultant cannot sign for it.
    assert (
        await http.post(
            f"{H}/parallel-run/signatures/city",
            json={"signed_on": TODAY},
            headers=bearer("regional_consultant", "33"),
        )
    ).status_code == 403
    moved = await hand_over_rest(http, steps[3:])
    state = (await http.get(H)).json()
    assert state["stage"] == "transferred" and all(i["transferred_on"] == TODAY for i in state["checklist"])
    runtime = platform.state.services["ledger"].state.runtime
    await runtime.consumer("ledger.authority").wait_for_stream(moved["stream_id"], moved["version"])
    assert await holder_of(runtime.engine, CITY) is Holder.CITY
    # Sustained: the city reports.
    report = {
        "period_label": f"{today().year}-S2",
        "document": "Laporan semester",
        "submitted_on": TODAY,
    }
    await post(http, f"{H}/reports", report, headers=bearer("city_operator", CITY))
    assert "already reported" in problem(
        await http.post(f"{H}/reports", json=report, headers=bearer("city_operator", CITY)), 409
    )
    assert (await http.get(H)).json()["stage"] == "sustained"
    # A rollback past the transfer returns authority to the national program.
    back = await post(
        http,
        f"{H}/rollback",
        {"to_stage": "parallel run", "reason": "DDUB belum dibayar", "rolled_back_on": TODAY},
    )
    await runtime.consumer("ledger.authority").wait_for_stream(moved["stream_id"], back["version"])
    assert await holder_of(runtime.engine, CITY) is Holder.NATIONAL
    again = (await http.get(H)).json()
    assert (
        again["stage"] == "parallel run"
        and again["signed_by"] == {}
        and "the city's signature" in " ".join(again["missing_for_transfer"])
    )


async def hand_over_rest(
    http: httpx.AsyncClient, steps: list[tuple[str, dict[str, Any], str]]
) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for path, body, who in steps:
        answer = await post(
            http, path, body, headers=ADMIN if who == "admin" else bearer("city_operator", CITY)
        )
    return answer


async def test_the_pull_feed_resumes_from_its_cursor_and_shows_one_city(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=2)
    await targeted(http, platform, SURABAYA_KEL, households=2)
    last = await hand_over(http, CITY)
    await synced(platform, last, consumer="handover.feed")
    feed = f"/handover/cities/{CITY}/feed"
    assert (await http.get(feed, headers=bearer("city_operator", CITY))).status_code == 403
    assert (await http.get(f"/handover/cities/{OTHER_CITY}/feed", headers=CLIENT)).status_code == 404
    events, cursor, pages = [], "0", 0
    while True:
        page = (await http.get(feed, params={"after": cursor, "limit": 5}, headers=CLIENT)).json()
        events += page["events"]
        cursor, pages = page["next_cursor"], pages + 1
        if page["at_end"]:
            break
    assert pages > 2 and len({e["id"] for e in events}) == len(events)
    assert {e["citycode"] for e in events} == {CITY}
    # Per aggregate, versions in order; every handover step is there.
    by_stream: dict[str, list[int]] = {}
    for e in events:
        by_stream.setdefault(e["streamid"], []).append(e["streamversion"])
    assert all(v == sorted(v) and len(set(v)) == len(v) for v in by_stream.values())
    assert by_stream[f"handover-{CITY}"] == list(range(1, last["version"] + 1))
    # Resuming from the cursor gives what came after, and nothing before.
    more = await post(
        http,
        f"{H}/reports",
        {"period_label": "2030-S1", "document": "L", "submitted_on": TODAY},
        headers=bearer("city_operator", CITY),
    )
    await synced(platform, more, consumer="handover.feed")
    resumed = (await http.get(feed, params={"after": cursor}, headers=CLIENT)).json()
    assert [e["type"] for e in resumed["events"]] == ["p2kp.handover.sustainability-reported.v1"]


async def test_the_export_has_every_file_with_its_checksum(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    await targeted(http, platform, KEL, households=2)
    last = await hand_over(http, CITY)
    # The export holds the feed and the handover's facts (target_kelurahan.csv): both caught up.
    await synced(platform, last, consumer="handover.feed")
    await quiesce(platform)
    response = await http.get(f"/handover/cities/{CITY}/export", headers=bearer("city_operator", CITY))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["city_code"] == CITY and manifest["feed_position"] > 0
    paths = {f["path"] for f in manifest["files"]}
    assert {
        "events/targeting.jsonl",
        "events/handover.jsonl",
        "target_kelurahan.csv",
        "target_kelurahan.jsonl",
    } <= paths
    for entry in manifest["files"]:
        data = archive.read(entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        lines = data.decode().splitlines()
        assert len(lines) == entry["rows"] + (1 if entry["path"].endswith(".csv") else 0)
    handed = [json.loads(x) for x in archive.read("events/handover.jsonl").decode().splitlines()]
    assert len(handed) == last["version"] and handed[-1]["type"] == "p2kp.handover.authority-transferred.v1"
    assert archive.read("target_kelurahan.csv").decode().splitlines()[1].startswith(f"KOTAKU,{KEL},{CITY}")
    assert (
        await http.get(f"/handover/cities/{CITY}/export", headers=bearer("city_operator", OTHER_CITY))
    ).status_code == 404
