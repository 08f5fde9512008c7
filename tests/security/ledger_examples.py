"""Authorisation-matrix examples for the ledger's endpoints, and the records they need in each fixture
city: a BLM allocation, a disbursed loan with a repayment, a grant and a directly posted entry.

The loan and the grant are put in the ledger's store directly (not through the API, which would need a
KSM made eligible first): the matrix tests who may act on them, not the lending rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

import httpx
from fastapi import FastAPI

from services.ledger.accounts import Book
from services.ledger.grants import Grant
from services.ledger.handlers import execute
from services.ledger.loans import Loan
from shared.contracts.institutions import KsmType
from shared.contracts.ledger import EligibilityAtApproval, EntryKind
from shared.contracts.targeting import LoanRules
from shared.events import Actor
from tests.journeys import post
from tests.security.common import Request, kelurahan

B = "/program-periods/{code}/kelurahan/{kelurahan_code}"
T = f"{B}/blm/{{year}}/tranches/{{source}}/{{number}}"
LOANS: dict[str, str] = {}
REPAYMENTS: dict[str, str] = {}
GRANTS: dict[str, str] = {}
ENTRIES: dict[str, str] = {}
FIXTURE = Actor.system("matrix-fixture")


def b(city: str) -> str:
    return f"/program-periods/KOTAKU/kelurahan/{kelurahan(city)}"


def t(city: str) -> str:
    return f"{b(city)}/blm/2021/tranches/APBN/1"


async def set_up(http: httpx.AsyncClient, app: FastAPI, city: str) -> None:
    runtime = app.state.services["ledger"].state.runtime
    await runtime.consumer("ledger.facts").wait_for_stream("program-period-KOTAKU", 2)
    allocation = {
        "year": 2021,
        "total_rupiah": 100_000_000,
        "fiscal_category": "rendah",
        "apbn_reference": "DIPA",
    }
    await post(http, f"/ledger{b(city)}/blm", allocation)
    store, book, ksm = runtime.store, kelurahan(city), uuid.uuid4()

    def lend(loan: Loan, _: object) -> None:
        eligible = EligibilityAtApproval(
            eligible=True,
            members=5,
            women_pct=40,
            savings_months=3,
            joint_liability_signed_on=None,
            published_event=uuid.uuid4(),
        )
        loan.approve(
            period_code="KOTAKU",
            kelurahan_code=book,
            ksm_id=ksm,
            principal=1_000_000,
            term_months=4,
            approved_on=date(2021, 11, 1),
            decision="SK",
            eligibility=eligible,
            unmet=[],
            loan_cycle=1,
            rules=LoanRules(),
            parameters_version=1,
        )
        loan.disburse(date(2021, 11, 2))
        booked = loan.repay(265_000, date(2021, 12, 2), "matrix-fixture-1")
        assert booked is not None
        REPAYMENTS[city] = str(booked.repayment_id)

    loan = Loan(uuid.uuid4())
    await execute(store, FIXTURE, loan, lend)
    LOANS[city] = str(loan.loan_id)
    grant = Grant(uuid.uuid4())
    await execute(
        store,
        FIXTURE,
        grant,
        lambda g, _: g.approve(
            period_code="KOTAKU",
            kelurahan_code=book,
            ksm_id=uuid.uuid4(),
            ksm_type=KsmType.LINGKUNGAN,
            proposal="P",
            purpose="Drainase",
            amount=1_000_000,
            approved_on=date(2021, 11, 1),
        ),
    )
    GRANTS[city] = str(grant.grant_id)
    entry = Book(book)
    await execute(
        store,
        FIXTURE,
        entry,
        lambda x, _: x.post("KOTAKU", EntryKind.CAPITAL, 500_000, date(2021, 11, 1), "Modal"),
    )
    ENTRIES[city] = str(next(iter(entry.entries)))


def _post(path: str, body: dict[str, object]) -> Callable[[str, int], Request]:
    return lambda city, n: Request("POST", path.format(b=b(city), t=t(city), k=kelurahan(city)), body)


VERIFY = {"approved": False, "on": "2021-11-10", "reason": "kurang"}
EXAMPLES = {
    ("ledger", "POST", f"{B}/blm"): _post(
        "{b}/blm",
        {"year": 2022, "total_rupiah": 1_000_000, "fiscal_category": "sedang", "apbn_reference": "DIPA"},
    ),
    ("ledger", "GET", f"{B}/blm/{{year}}"): lambda city, n: Request("GET", f"{b(city)}/blm/2021"),
    ("ledger", "POST", f"{T}/request"): _post(
        "{t}/request", {"requested_on": "2021-11-01", "document": "PP"}
    ),
    ("ledger", "POST", f"{T}/verification/faskel"): _post("{t}/verification/faskel", VERIFY),
    ("ledger", "POST", f"{T}/verification/korkot"): _post("{t}/verification/korkot", VERIFY),
    ("ledger", "POST", f"{T}/verification/satker"): _post("{t}/verification/satker", VERIFY),
    ("ledger", "POST", f"{T}/transfer"): _post(
        "{t}/transfer", {"transferred_on": "2021-11-01", "reference": "SP2D"}
    ),
    ("ledger", "POST", f"{T}/receipt"): _post("{t}/receipt", {"received_on": "2021-11-01"}),
    ("ledger", "POST", f"{T}/lpj"): _post("{t}/lpj", {"submitted_on": "2021-11-01", "document": "LPJ"}),
    ("ledger", "POST", f"{T}/lpj/acceptance"): _post("{t}/lpj/acceptance", {"accepted_on": "2021-11-01"}),
    ("ledger", "POST", f"{B}/blm/{{year}}/swadaya"): _post(
        "{b}/blm/2021/swadaya", {"amount_rupiah": 1, "received_on": "2021-11-01"}
    ),
    ("ledger", "POST", f"{B}/blm/{{year}}/revolving-fund"): _post(
        "{b}/blm/2021/revolving-fund", {"source": "APBN", "amount_rupiah": 1, "capitalised_on": "2021-11-01"}
    ),
    ("ledger", "POST", f"{B}/books/entries"): _post(
        "{b}/books/entries",
        {"kind": "other-income", "amount_rupiah": 1_000, "posted_on": "2021-11-01", "memo": "x"},
    ),
    ("ledger", "POST", f"{B}/books/entries/{{entry_id}}/reversal"): lambda city, n: Request(
        "POST",
        f"{b(city)}/books/entries/{ENTRIES[city]}/reversal",
        {"reversed_on": "2021-11-02", "reason": "x"},
    ),
    ("ledger", "POST", f"{B}/books/closing"): _post("{b}/books/closing", {"as_of": "2021-12-31"}),
    ("ledger", "POST", f"{B}/books/audits"): _post(
        "{b}/books/audits",
        {
            "year": 2021,
            "auditor": "KAP",
            "opinion": "WTP",
            "findings": 0,
            "report": "LAI",
            "audited_on": "2022-02-01",
        },
    ),
    ("ledger", "GET", "/kelurahan/{kelurahan_code}/books/trial-balance"): lambda city, n: Request(
        "GET", f"/kelurahan/{kelurahan(city)}/books/trial-balance"
    ),
    ("ledger", "GET", "/kelurahan/{kelurahan_code}/books/accounts/{account}"): lambda city, n: Request(
        "GET", f"/kelurahan/{kelurahan(city)}/books/accounts/bank"
    ),
    ("ledger", "GET", "/kelurahan/{kelurahan_code}/indicators"): lambda city, n: Request(
        "GET", f"/kelurahan/{kelurahan(city)}/indicators"
    ),
    ("ledger", "GET", "/kelurahan/{kelurahan_code}/loans"): lambda city, n: Request(
        "GET", f"/kelurahan/{kelurahan(city)}/loans"
    ),
    ("ledger", "POST", f"{B}/loans"): lambda city, n: Request(
        "POST",
        f"{b(city)}/loans",
        {
            "ksm_id": str(uuid.UUID(int=n)),
            "principal_rupiah": 1,
            "term_months": 3,
            "approved_on": "2021-11-01",
            "decision": "x",
        },
    ),
    ("ledger", "GET", "/loans/{loan_id}"): lambda city, n: Request("GET", f"/loans/{LOANS[city]}"),
    ("ledger", "POST", "/loans/{loan_id}/disbursement"): lambda city, n: Request(
        "POST", f"/loans/{LOANS[city]}/disbursement", {"disbursed_on": "2021-11-02"}
    ),
    ("ledger", "POST", "/loans/{loan_id}/repayments"): lambda city, n: Request(
        "POST",
        f"/loans/{LOANS[city]}/repayments",
        {"idempotency_key": f"matrix-{n:06d}", "amount_rupiah": 10, "paid_on": "2021-12-03"},
    ),
    ("ledger", "POST", "/loans/{loan_id}/prepayment"): lambda city, n: Request(
        "POST",
        f"/loans/{LOANS[city]}/prepayment",
        {"idempotency_key": f"matrix-{n:06d}", "paid_on": "2021-12-04"},
    ),
    ("ledger", "POST", "/loans/{loan_id}/repayments/{repayment_id}/reversal"): lambda city, n: Request(
        "POST",
        f"/loans/{LOANS[city]}/repayments/{REPAYMENTS[city]}/reversal",
        {"reversed_on": "2021-12-05", "reason": "x"},
    ),
    ("ledger", "POST", "/loans/{loan_id}/rescheduling"): lambda city, n: Request(
        "POST",
        f"/loans/{LOANS[city]}/rescheduling",
        {"term_months": 6, "rescheduled_on": "2021-12-06", "approval": "x"},
    ),
    ("ledger", "POST", "/loans/{loan_id}/write-off"): lambda city, n: Request(
        "POST",
        f"/loans/{LOANS[city]}/write-off",
        {"written_off_on": "2021-12-07", "approval": "x", "reason": "x"},
    ),
    ("ledger", "POST", f"{B}/grants"): lambda city, n: Request(
        "POST",
        f"{b(city)}/grants",
        {
            "ksm_id": str(uuid.UUID(int=n)),
            "proposal": "P",
            "purpose": "x",
            "amount_rupiah": 1,
            "approved_on": "2021-11-01",
        },
    ),
    ("ledger", "GET", "/grants/{grant_id}"): lambda city, n: Request("GET", f"/grants/{GRANTS[city]}"),
    ("ledger", "POST", "/grants/{grant_id}/disbursement"): lambda city, n: Request(
        "POST", f"/grants/{GRANTS[city]}/disbursement", {"disbursed_on": "2021-11-02"}
    ),
    ("ledger", "POST", "/grants/{grant_id}/lpj"): lambda city, n: Request(
        "POST", f"/grants/{GRANTS[city]}/lpj", {"document": "LPJ", "accepted_on": "2021-11-03"}
    ),
}
