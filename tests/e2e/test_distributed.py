"""The platform as a national deployment runs it: every service its own OS process (the ledger split
into its api, relay and consumers processes) on the harness's real PostgreSQL and Kafka. One kelurahan
goes through its whole life over HTTP; half-way the ledger's three processes die by SIGKILL and come
back, and the end state is the one the commands imply: nothing lost, nothing booked twice."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.distributed import distributed_platform
from tests.harness.kafka import KafkaBroker
from tests.harness.postgres import PostgresServer
from tests.harness.tokens import ADMIN, bearer
from tests.integration.test_ledger_api import BASE, KEL, balance_of, tranche_through, trial_balance
from tests.journeys import (
    BLM_2021,
    cycle_to_renta,
    eligible_ksm,
    hand_over,
    lend,
    lingkungan_ksm,
    paving_grant,
    post,
    registered_period,
    synced,
    targeted,
)

CITY = "33.74"
LEDGER_PARTS = ("ledger-api", "ledger-relay", "ledger-consumers")


async def life_until_money(http: httpx.AsyncClient) -> dict[str, Any]:
    """Nomination to the first loan and a grant, as the ledger's and institutions' tests do it, but
    across processes: every cross-service step waits on the consumer's checkpoint over HTTP."""
    await registered_period(http)
    await synced(http, {"stream_id": "program-period-KOTAKU", "version": 2}, "ledger.facts")
    households = await targeted(http, http, KEL, households=8)
    await synced(http, (await cycle_to_renta(http, KEL))["renta"], "ledger.facts")
    await post(http, f"{BASE}/blm", BLM_2021)
    await tranche_through(http, "APBN", 1, "2021-11-15")
    ekonomi = await eligible_ksm(http, KEL, households[:5])
    lingkungan = await lingkungan_ksm(http, KEL, households[5:8])
    await synced(http, ekonomi, "ledger.facts")
    await synced(http, lingkungan, "ledger.facts")
    grant = paving_grant(lingkungan["ksm_id"])
    grant_id = (await post(http, f"{BASE}/grants", grant))["grant_id"]
    await post(http, f"/ledger/grants/{grant_id}/disbursement", {"disbursed_on": "2021-12-02"})
    loan = await lend(http, BASE, ekonomi["ksm_id"])
    return {"loan": loan, "ksm_id": ekonomi["ksm_id"]}


async def test_one_kelurahan_s_whole_life_across_processes_survives_a_sigkill(
    tmp_path: Path, postgres: PostgresServer, kafka: KafkaBroker
) -> None:
    with distributed_platform(tmp_path, postgres, kafka, split=("ledger",)) as platform:
        async with platform.client(headers=ADMIN) as http:
            money = await life_until_money(http)
            loan = money["loan"]
            first = {"idempotency_key": "e2e-2022-01", "amount_rupiah": 575_000, "paid_on": "2022-01-01"}

            # The ledger's relay dies first: its api still takes the repayment, into the outbox,
            # which nothing publishes (the api process runs no relay).
            platform.kill("ledger-relay")
            paid = await post(http, f"{loan}/repayments", first)
            metrics = (await http.get("/ledger/metrics")).text
            [backlog] = re.findall(r'^outbox_backlog\{service="ledger"\} (\S+)$', metrics, re.M)
            assert float(backlog) >= 1, metrics
            assert (await http.get("/ledger/ready")).json()["checks"] == {"database": "ok"}

            # Then the rest of the ledger, with no chance to clean up.
            for part in ("ledger-api", "ledger-consumers"):
                platform.kill(part)
            with pytest.raises(httpx.ConnectError):  # behind a load balancer: a 503
                await http.post(f"{loan}/repayments", json=first)
            for part in LEDGER_PARTS:
                platform.start(part, wait=False)
            for part in LEDGER_PARTS:
                platform.processes[part].wait_ready()

            # The client never heard whether its retry landed: the same key is booked once.
            retried = await http.post(f"{loan}/repayments", json=first)
            assert retried.status_code == 200 and retried.json()["replayed"] is True, retried.text
            assert retried.json()["repayment_id"] == paid["repayment_id"]
            # Then three months late, a lump sum: fees, then overdue principal, then current.
            lump = await post(
                http,
                f"{loan}/repayments",
                {"idempotency_key": "e2e-2022-04", "amount_rupiah": 2_000_000, "paid_on": "2022-04-20"},
            )
            assert (lump["fee_rupiah"], lump["principal_overdue_rupiah"]) == (225_000, 1_500_000)
            closed = await post(http, f"{BASE}/books/closing", {"as_of": "2022-04-30"})
            handed = await hand_over(http, CITY)

            # The ledger's books: every movement once.
            trial = await trial_balance(http)
            assert balance_of(trial, "fee-income") == 75_000 + 225_000
            assert balance_of(trial, f"loans-receivable:{money['ksm_id']}") == 5_000_000 - 500_000 - 1_775_000
            position = (await http.get(loan, params={"as_of": "2022-04-20"})).json()
            assert position["instalments_overdue"] == 0

            # Monitoring, in its own process, from Kafka: the figures the commands imply.
            await synced(http, closed, "monitoring.facts.g1")
            await synced(http, handed, "monitoring.facts.g1")
            overview = (await http.get("/monitoring/overview")).json()
            [semarang] = overview["by_progress"]
            assert semarang["city_code"] == CITY and semarang["handover_stage"] == "transferred"
            assert (semarang["blm_allocated"], semarang["blm_received"]) == (100_000_000, 19_000_000)
            assert semarang["passed_to_ksm"] == 10_000_000 + 5_000_000
            assert semarang["outstanding"] == 2_725_000
            assert semarang["ksm"] == {"ekonomi": 1, "lingkungan": 1}
            page = (await http.get(f"/monitoring/kelurahan/{KEL}", params={"as_of": "2022-04-30"})).json()
            assert page["bkm"]["status"] == "active" and page["upk"]["outstanding"] == 2_725_000
            # Then nothing left to apply on any topic (the status it reports; other consumers' events
            # may still be on their way for a moment).
            await _until(http, lambda s: s["lag"] == 0, prefix="/monitoring")

            # The pemkot feed: the city's events, each once, in order per aggregate.
            await synced(http, handed, "handover.feed")
            client = bearer("integration_client", CITY)
            events, cursor = [], "0"
            while True:
                page = (
                    await http.get(f"/handover/cities/{CITY}/feed", params={"after": cursor}, headers=client)
                ).json()
                events += page["events"]
                cursor = page["next_cursor"]
                if page["at_end"]:
                    break
            assert len({e["id"] for e in events}) == len(events)
            by_stream: dict[str, list[int]] = {}
            for e in events:
                by_stream.setdefault(e["streamid"], []).append(e["streamversion"])
            assert all(v == sorted(v) for v in by_stream.values())
            assert by_stream[f"handover-{CITY}"] == list(range(1, handed["version"] + 1))
            repayments = [e for e in events if e["type"] == "p2kp.ledger.repayment-received.v1"]
            assert len(repayments) == 2, platform.tails()


async def test_a_rebuild_runs_in_the_projections_process_and_the_api_follows(
    tmp_path: Path, postgres: PostgresServer, kafka: KafkaBroker
) -> None:
    with distributed_platform(tmp_path, postgres, kafka, split=("monitoring",)) as platform:
        async with platform.client(headers=ADMIN) as http:
            await registered_period(http)
            await targeted(http, http, KEL, households=2)
            projections = f"http://127.0.0.1:{platform.processes['monitoring-consumers'].port}"

            # The api process has no projection to rebuild: it says where the rebuild runs.
            refused = await http.post("/monitoring/projections/monitoring.facts/rebuild")
            assert refused.status_code == 409 and "projections process" in refused.json()["detail"]

            async with httpx.AsyncClient(base_url=projections, headers=ADMIN, timeout=30) as direct:
                started = await direct.post("/projections/monitoring.facts/rebuild")
                assert started.status_code == 202 and started.json()["generation"] == 2
                await _until(direct, lambda s: s["generation"] == 2 and s["rebuilding"]["switched"])
            # The api process follows the switch by itself (it checks every two seconds).
            status = await _until(http, lambda s: s["generation"] == 2, prefix="/monitoring")
            assert status["consumer"] == "monitoring.facts.g2" and status["lag"] is None

            # New events reach the new generation, and the api reads them from it.
            accepted = await post(
                http,
                "/targeting/program-periods/KOTAKU/kelurahan",
                {
                    "kelurahan_code": "33.74.10.1005",
                    "indicators": {
                        "population": 4100,
                        "households": 1000,
                        "poor_households": 300,
                        "source": "BPS",
                    },
                },
            )
            await synced(http, accepted, "monitoring.facts.g2")
            overview = (await http.get("/monitoring/overview")).json()
            [semarang] = overview["by_progress"]
            assert semarang["city_code"] == CITY and semarang["targets"] == 1  # nominated is not a target


async def _until(
    http: httpx.AsyncClient, done: Callable[[dict[str, Any]], bool], prefix: str = ""
) -> dict[str, Any]:
    """Ask the monitoring status until ``done`` holds (a status the process reports; 60 s at most)."""
    async with asyncio.timeout(60):
        while True:
            [status] = (await http.get(f"{prefix}/projections")).json()
            if done(status):
                return status  # type: ignore[no-any-return]
            await asyncio.sleep(0.2)
