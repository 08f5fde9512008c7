"""The fund ledger through the embedded platform's HTTP API: a kelurahan's BLM from allocation through
its gated tranches into the BKM's books, a grant, a revolving loan with an idempotent (retried)
repayment and a late one, the UPK indicators, and the 4xx a field officer gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.harness.tokens import ADMIN, bearer
from tests.integration.test_targeting_api import problem
from tests.journeys import (
    cycle_to_bkm,
    cycle_to_renta,
    eligible_ksm,
    lingkungan_ksm,
    meeting,
    paving_grant,
    post,
    registered_period,
    synced,
    targeted,
)

KEL = "33.74.10.1004"
BASE = f"/ledger/program-periods/KOTAKU/kelurahan/{KEL}"
BLM = f"{BASE}/blm/2021"
BOOKS = f"/ledger/kelurahan/{KEL}"
FASKEL, KORKOT = bearer("facilitator", KEL), bearer("regional_consultant", "33")


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://p2kp", headers=ADMIN) as client:
        await registered_period(client)
        # The ledger allocates BLM by the period's parameters: wait until they have reached it.
        ledger = platform.state.services["ledger"].state.runtime.consumer("ledger.facts")
        await ledger.wait_for_stream("program-period-KOTAKU", 2)
        yield client


async def ledger_knows(platform: FastAPI, accepted: dict[str, Any]) -> None:
    await synced(platform, accepted, consumer="ledger.facts")


async def tranche_through(http: httpx.AsyncClient, source: str, number: int, day: str) -> None:
    """Request, verify at the three levels, transfer and receive one tranche."""
    url = f"{BLM}/tranches/{source}/{number}"
    await post(http, f"{url}/request", {"requested_on": day, "document": f"PP-BLM {source} {number}"})
    await post(http, f"{url}/verification/faskel", {"approved": True, "on": day}, headers=FASKEL)
    await post(http, f"{url}/verification/korkot", {"approved": True, "on": day}, headers=KORKOT)
    await post(http, f"{url}/verification/satker", {"approved": True, "on": day})
    await post(http, f"{url}/transfer", {"transferred_on": day, "reference": f"SP2D {source} {number}"})
    await post(http, f"{url}/receipt", {"received_on": day})


async def trial_balance(http: httpx.AsyncClient, as_of: str | None = None) -> dict[str, Any]:
    response = await http.get(f"{BOOKS}/books/trial-balance", params={"as_of": as_of} if as_of else None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["total_debit_rupiah"] == body["total_credit_rupiah"]  # the books always balance
    return body


def balance_of(trial: dict[str, Any], account: str) -> int:
    return next((a["balance_rupiah"] for a in trial["accounts"] if a["account"] == account), 0)


async def test_blm_tranches_open_gate_by_gate(http: httpx.AsyncClient, platform: FastAPI) -> None:
    await targeted(http, platform, KEL, households=3)
    bkm = await cycle_to_bkm(http, KEL)
    allocation = {
        "year": 2021,
        "total_rupiah": 250_000_000,
        "fiscal_category": "sedang",
        "apbn_reference": "IBRD 8213-IND",
        "swadaya_rupiah": 5_000_000,
    }
    await post(http, f"{BASE}/blm", allocation)
    got = (await http.get(BLM)).json()
    assert got["ddub_pct"] == 10
    amounts = {s["source"]: s["amount_rupiah"] for s in got["sources"]}
    assert amounts == {"APBN": 225_000_000, "DDUB": 25_000_000, "SWADAYA": 5_000_000}
    apbn = [t for t in got["tranches"] if t["source"] == "APBN"]
    assert [t["amount_rupiah"] for t in apbn] == [45_000_000, 112_500_000, 67_500_000]
    # The BKM exists but there is no PJM or Renta yet: the first tranche says so.
    elected = (await http.get(f"{bkm['base']}/bkm")).json()
    assert elected["status"] in ("active", "expired")  # judged today; the gate is judged on the request date
    request = {"requested_on": "2021-09-01", "document": "PP-BLM 1"}
    await ledger_knows(platform, bkm["elected"])
    blocked = problem(await http.post(f"{BLM}/tranches/APBN/1/request", json=request), 409)
    assert "PJM" in blocked and "Renta" in blocked and "BKM" not in blocked

    await targeted_gates(http, platform, bkm["base"])
    await post(http, f"{BLM}/tranches/APBN/1/request", request)
    # Tranche 2 waits for tranche 1's LPJ.
    second = {"requested_on": "2021-12-01", "document": "PP-BLM 2"}
    assert "LPJ of APBN tranche 1" in problem(
        await http.post(f"{BLM}/tranches/APBN/2/request", json=second), 409
    )
    # Verification goes faskel, korkot, satker; a return sends the files back with the reason.
    url = f"{BLM}/tranches/APBN/1"
    assert "needs faskel next" in problem(
        await http.post(
            f"{url}/verification/korkot", json={"approved": True, "on": "2021-11-10"}, headers=KORKOT
        ),
        409,
    )
    assert (
        await http.post(
            f"{url}/verification/faskel", json={"approved": True, "on": "2021-11-10"}, headers=KORKOT
        )
    ).status_code == 403
    await post(
        http,
        f"{url}/verification/faskel",
        {"approved": False, "on": "2021-11-10", "reason": "kwitansi kurang"},
        headers=FASKEL,
    )
    state = next(
        t for t in (await http.get(BLM)).json()["tranches"] if t["source"] == "APBN" and t["number"] == 1
    )
    assert state["stage"] == "returned" and state["returned_reason"] == "kwitansi kurang"
    assert "transferred once verified" in problem(
        await http.post(f"{url}/transfer", json={"transferred_on": "2021-11-12", "reference": "SP2D"}), 409
    )
    await tranche_through(http, "APBN", 1, "2021-11-15")
    trial = await trial_balance(http)
    assert balance_of(trial, "bank") == 45_000_000 and balance_of(trial, "blm-received:APBN") == 45_000_000
    await post(http, f"{url}/lpj", {"submitted_on": "2021-11-30", "document": "LPJ 1"})
    await post(http, f"{url}/lpj/acceptance", {"accepted_on": "2021-12-01"}, headers=FASKEL)
    await post(http, f"{BLM}/tranches/APBN/2/request", second)
    # Swadaya comes as it comes, up to the pledge.
    await post(http, f"{BLM}/swadaya", {"amount_rupiah": 3_000_000, "received_on": "2021-11-20"})
    assert "was pledged" in problem(
        await http.post(f"{BLM}/swadaya", json={"amount_rupiah": 2_500_000, "received_on": "2021-11-21"}), 422
    )
    trial = await trial_balance(http, as_of="2021-11-16")
    assert balance_of(trial, "bank") == 45_000_000  # as of a day: the swadaya came later


async def targeted_gates(http: httpx.AsyncClient, platform: FastAPI, base: str) -> None:
    """Units, PJM and Renta for a cycle that has its BKM, and wait until the ledger knows."""
    people = (await http.get(f"{base}/bkm")).json()["members"]
    staff = [p["person_id"] for p in people[:3]]
    for unit in ("UPK", "UPL", "UPS"):
        await post(
            http,
            f"{base}/cycle/units",
            {"unit": unit, "formed_on": "2021-08-02", "sk_number": f"SK {unit}", "staff": staff},
        )
    await post(http, f"{base}/cycle/pjm", {"meeting": meeting("2021-10-20", 6), "document": "PJM"})
    renta = await post(
        http, f"{base}/cycle/renta", {"year": 1, "approved_on": "2021-11-01", "document": "Renta"}
    )
    await ledger_knows(platform, renta)


async def test_a_loan_from_eligibility_to_a_late_repayment(
    http: httpx.AsyncClient, platform: FastAPI
) -> None:
    households = await targeted(http, platform, KEL, households=8)
    await ledger_knows(platform, (await cycle_to_renta(http, KEL))["renta"])
    await post(
        http,
        f"{BASE}/blm",
        {
            "year": 2021,
            "total_rupiah": 100_000_000,
            "fiscal_category": "rendah",
            "apbn_reference": "DIPA 2021",
        },
    )
    await tranche_through(http, "APBN", 1, "2021-11-15")
    await post(
        http,
        f"{BLM}/revolving-fund",
        {"source": "APBN", "amount_rupiah": 15_000_000, "capitalised_on": "2021-11-16"},
    )

    # A KSM not yet eligible is refused with its reasons; once eligible, the loan is approved.
    ksm = await eligible_ksm(http, KEL, households[:5])
    await ledger_knows(platform, ksm)
    ksm_id = ksm["ksm_id"]
    loan = {
        "ksm_id": ksm_id,
        "principal_rupiah": 5_000_000,
        "term_months": 10,
        "approved_on": "2021-11-25",
        "decision": "SK UPK 7",
    }
    over = {**loan, "principal_rupiah": 5_000_001}
    assert "ceiling of Rp5,000,000" in problem(await http.post(f"{BASE}/loans", json=over), 422)
    assert "3 to 12 months" in problem(
        await http.post(f"{BASE}/loans", json={**loan, "term_months": 24}), 422
    )
    loan_id = (await post(http, f"{BASE}/loans", loan))["loan_id"]
    assert "one loan at a time" in problem(await http.post(f"{BASE}/loans", json=loan), 409)
    url = f"/ledger/loans/{loan_id}"
    await post(http, f"{url}/disbursement", {"disbursed_on": "2021-12-01"})
    state = (await http.get(url, params={"as_of": "2021-12-01"})).json()
    assert (
        state["eligibility_at_approval"]["eligible"] is True
        and state["eligibility_at_approval"]["members"] == 5
    )
    assert [(i["due_on"], i["principal_rupiah"], i["fee_rupiah"]) for i in state["schedule"][:2]] == [
        ("2022-01-01", 500_000, 75_000),
        ("2022-02-01", 500_000, 75_000),
    ]

    # The first instalment, and the same request retried (a timeout, say): booked once.
    pay = {"idempotency_key": "bkm-7-2022-01-a", "amount_rupiah": 575_000, "paid_on": "2022-01-01"}
    first = await http.post(f"{url}/repayments", json=pay)
    assert first.status_code == 201, first.text
    retried = await http.post(f"{url}/repayments", json=pay)
    assert retried.status_code == 200 and retried.json()["replayed"] is True
    assert retried.json()["repayment_id"] == first.json()["repayment_id"]
    reused = await http.post(f"{url}/repayments", json={**pay, "amount_rupiah": 100_000})
    assert "another repayment" in problem(reused, 409)
    trial = await trial_balance(http)
    assert balance_of(trial, "fee-income") == 75_000
    assert balance_of(trial, f"loans-receivable:{ksm_id}") == 4_500_000

    # Then nothing for three months: on 15 April, three instalments are overdue, 73 days.
    late = (await http.get(url, params={"as_of": "2022-04-15"})).json()
    assert (late["instalments_overdue"], late["days_overdue"], late["collectibility"]) == (3, 73, 2)
    assert late["reserve_rupiah"] == 4_500_000 * 5 // 100
    indicators = (await http.get(f"{BOOKS}/indicators", params={"as_of": "2022-04-15"})).json()
    assert (
        indicators["par"] == {"value_pct": 100.0, "band": "poor"} and indicators["lar"]["value_pct"] == 100.0
    )
    assert (
        indicators["rr"]["value_pct"] == 0.0 and indicators["par30"] == 100.0 and indicators["par90"] == 0.0
    )
    # A lump sum pays the three fees first, then the overdue principal, then current principal.
    lump = await post(
        http,
        f"{url}/repayments",
        {"idempotency_key": "bkm-7-2022-04-a", "amount_rupiah": 2_000_000, "paid_on": "2022-04-20"},
    )
    assert (lump["fee_rupiah"], lump["principal_overdue_rupiah"], lump["principal_current_rupiah"]) == (
        225_000,
        1_500_000,
        275_000,
    )
    assert (await http.get(url, params={"as_of": "2022-04-20"})).json()["instalments_overdue"] == 0
    too_much = {"idempotency_key": "bkm-7-2022-05-a", "amount_rupiah": 10_000_000, "paid_on": "2022-05-01"}
    assert "more than" in problem(await http.post(f"{url}/repayments", json=too_much), 422)

    # The books: a cost, the reserve, and the trial balance still balances; UPK indicators now.
    await post(
        http,
        f"{BASE}/books/entries",
        {"kind": "operating-cost", "amount_rupiah": 100_000, "posted_on": "2022-04-25", "memo": "ATK"},
    )
    closed = await post(http, f"{BASE}/books/closing", {"as_of": "2022-04-30"})
    assert len(closed["event_ids"]) == 2  # the reserve's entry, then the indicators recorded
    again = await http.post(f"{BASE}/books/closing", json={"as_of": "2022-04-30"})
    assert "already closed" not in problem(again, 409) and "close a later day" in again.json()["detail"]
    trial = await trial_balance(http)
    assert balance_of(trial, "loan-loss-reserve") == (4_500_000 - 1_775_000) * 1 // 100  # Kol-1: 1 %
    now = (await http.get(f"{BOOKS}/indicators", params={"as_of": "2022-04-30"})).json()
    assert now["par"]["band"] == "satisfactory" and now["outstanding_rupiah"] == 4_500_000 - 1_775_000
    # Income Jan-Apr: 75,000 + 225,000 fees; costs: 100,000 + the reserve's provision.
    provision = balance_of(trial, "provision-expense")
    assert now["ccr"]["value_pct"] == round(100 * 300_000 / (100_000 + provision), 1)
    # Prepaying closes the loan: principal and the fees due, no fee not yet due.
    payoff = (await http.get(url, params={"as_of": "2022-05-02"})).json()["payoff_rupiah"]
    assert payoff == 2_725_000 + 75_000  # May's fee is due on 1 May
    await post(http, f"{url}/prepayment", {"idempotency_key": "bkm-7-payoff", "paid_on": "2022-05-02"})
    closed = (await http.get(url, params={"as_of": "2022-05-02"})).json()
    assert closed["status"] == "repaid" and closed["outstanding_rupiah"] == 0
    # A second loan is now the KSM's loan cycle 2, with a higher per-member ceiling.
    second = await post(
        http, f"{BASE}/loans", {**loan, "principal_rupiah": 6_000_000, "approved_on": "2022-05-10"}
    )
    assert (await http.get(f"/ledger/loans/{second['loan_id']}")).json()["loan_cycle"] == 2


async def test_grants_and_the_ledger_s_refusals(http: httpx.AsyncClient, platform: FastAPI) -> None:
    households = await targeted(http, platform, KEL, households=8)
    await ledger_knows(platform, (await cycle_to_renta(http, KEL))["renta"])
    ksm = await eligible_ksm(http, KEL, households[:5])
    lingkungan = await lingkungan_ksm(http, KEL, households[5:8])
    await ledger_knows(platform, lingkungan)
    await ledger_knows(platform, ksm)
    grant = paving_grant(lingkungan["ksm_id"])
    assert "KSM ekonomi borrows" in problem(
        await http.post(f"{BASE}/grants", json={**grant, "ksm_id": ksm["ksm_id"]}), 409
    )
    grant_id = (await post(http, f"{BASE}/grants", grant))["grant_id"]
    # No money in the bank yet: the disbursement waits for the BLM.
    assert "bank balance is Rp0" in problem(
        await http.post(f"/ledger/grants/{grant_id}/disbursement", json={"disbursed_on": "2021-12-02"}), 409
    )
    await post(
        http,
        f"{BASE}/blm",
        {
            "year": 2021,
            "total_rupiah": 100_000_000,
            "fiscal_category": "tinggi",
            "apbn_reference": "DIPA 2021",
        },
    )
    await tranche_through(http, "APBN", 1, "2021-11-15")
    await post(http, f"/ledger/grants/{grant_id}/disbursement", {"disbursed_on": "2021-12-02"})
    assert (
        "has not been disbursed"
        not in (
            await http.post(
                f"/ledger/grants/{grant_id}/lpj", json={"document": "LPJ KSM", "accepted_on": "2022-01-10"}
            )
        ).text
    )
    got = (await http.get(f"/ledger/grants/{grant_id}")).json()
    assert got["disbursed_on"] == "2021-12-02" and got["lpj_accepted_on"] == "2022-01-10"
    trial = await trial_balance(http)
    assert (
        balance_of(trial, "grant-expense") == 10_000_000
        and balance_of(trial, f"grants-payable:{lingkungan['ksm_id']}") == 0
    )
    assert balance_of(trial, "bank") == 17_000_000 - 10_000_000  # 85 % APBN x 20 % first tranche
    statement = (await http.get(f"{BOOKS}/books/accounts/bank")).json()
    assert [line["debit_rupiah"] - line["credit_rupiah"] for line in statement["lines"]] == [
        17_000_000,
        -10_000_000,
    ]
    assert statement["closing_balance_rupiah"] == 7_000_000
    # A book entry reversed once; not twice.
    cost = await post(
        http,
        f"{BASE}/books/entries",
        {"kind": "operating-cost", "amount_rupiah": 200_000, "posted_on": "2022-01-05", "memo": "Rapat"},
    )
    book_events = (await http.get(f"{BOOKS}/books/accounts/operating-cost")).json()["lines"]
    entry_id = book_events[0]["entry_id"]
    await post(
        http,
        f"{BASE}/books/entries/{entry_id}/reversal",
        {"reversed_on": "2022-01-06", "reason": "salah catat"},
    )
    assert "already reversed" in problem(
        await http.post(
            f"{BASE}/books/entries/{entry_id}/reversal", json={"reversed_on": "2022-01-06", "reason": "lagi"}
        ),
        409,
    )
    assert cost["version"] == 1
    assert balance_of(await trial_balance(http), "operating-cost") == 0
    # Scope and role: another kelurahan's facilitator sees nothing, a monitor cannot lend.
    assert (
        await http.get(f"/ledger/grants/{grant_id}", headers=bearer("facilitator", "33.74.10.1005"))
    ).status_code == 404
    assert (
        await http.post(
            f"{BASE}/loans",
            json={
                "ksm_id": ksm["ksm_id"],
                "principal_rupiah": 1,
                "term_months": 3,
                "approved_on": "2022-01-01",
                "decision": "x",
            },
            headers=bearer("national_monitor"),
        )
    ).status_code == 403
    assert "There is no loan" in problem(
        await http.get("/ledger/loans/00000000-0000-4000-8000-000000000001"), 404
    )
