"""What the load generator needs before it starts: targeted kelurahan with a published PS-2 list and
a disbursed loan each, made through the API as a field team would (the tests' journeys)."""

from __future__ import annotations

import httpx

from bench.load import Target
from tests.harness.tokens import bearer
from tests.journeys import (
    BLM_2021,
    Platform,
    cycle_to_renta,
    eligible_ksm,
    lend,
    post,
    registered_period,
    synced,
    targeted,
)

KELURAHAN = ("33.74.10.1004", "33.74.10.1005", "33.74.10.1006")


async def tranche_one(http: httpx.AsyncClient, blm: str, kelurahan: str, day: str) -> None:
    """The first APBN tranche, from request to receipt, each verification by its own role."""
    url = f"{blm}/tranches/APBN/1"
    await post(http, f"{url}/request", {"requested_on": day, "document": "PP-BLM APBN 1"})
    for level, who in (
        ("faskel", bearer("facilitator", kelurahan)),
        ("korkot", bearer("regional_consultant", "33")),
    ):
        await post(http, f"{url}/verification/{level}", {"approved": True, "on": day}, headers=who)
    await post(http, f"{url}/verification/satker", {"approved": True, "on": day})
    await post(http, f"{url}/transfer", {"transferred_on": day, "reference": "SP2D APBN 1"})
    await post(http, f"{url}/receipt", {"received_on": day})


async def prepare(
    http: httpx.AsyncClient,
    waiter: Platform | None = None,
    *,
    period: str = "KOTAKU",
    kelurahan: tuple[str, ...] = KELURAHAN,
) -> Target:
    """Register ``period`` (if new), then for each kelurahan: target it, run its cycle to the Renta,
    receive the first BLM tranche, make a KSM eligible and lend it Rp5,000,000. ``waiter`` is what
    cross-service steps wait on (the embedded app in-process; by default the client, over HTTP)."""
    waiter = waiter or http
    body = {"code": period, "name": f"Periode {period}", "starts_on": "2016-01-01", "ends_on": "2024-12-31"}
    await registered_period(http, body)
    await synced(waiter, {"stream_id": f"program-period-{period}", "version": 2}, "ledger.facts")
    loans = []
    for code in kelurahan:
        households = await targeted(http, waiter, code, households=6, period=period)
        await synced(waiter, (await cycle_to_renta(http, code, period=period))["renta"], "ledger.facts")
        ledger = f"/ledger/program-periods/{period}/kelurahan/{code}"
        await post(http, f"{ledger}/blm", BLM_2021)
        await tranche_one(http, f"{ledger}/blm/2021", code, "2021-11-15")
        ksm = await eligible_ksm(http, code, households[:5], period=period)
        await synced(waiter, ksm, "ledger.facts")
        loan_url = await lend(http, ledger, ksm["ksm_id"], decision="SK UPK 1")
        loans.append(loan_url)
    return Target(period=period, kelurahan=list(kelurahan), loans=loans)
