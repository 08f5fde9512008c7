"""Ledger HTTP API, part one: BLM allocations and tranches, the books, the UPK indicators."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger import handlers
from services.ledger.accounts import CHART, Book, balance, kind_of
from services.ledger.blm import BlmAllocation, Stage
from services.ledger.indicators import Indicators
from shared.clock import today
from shared.contracts.ledger import ACCOUNT, AuditOpinion, EntryKind, Level, Source
from shared.contracts.targeting import KELURAHAN_CODE, PERIOD_CODE, FiscalCategory
from shared.dependencies import StoreDep
from shared.errors import InvalidInput
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import read, write
from shared.security.principal import Role

router = APIRouter()
Endpoint = Callable[..., Any]

PROGRAM = frozenset({Role.NATIONAL_ADMIN, Role.REGIONAL_CONSULTANT, Role.CITY_OPERATOR})
UPK = PROGRAM | {Role.FACILITATOR, Role.BKM_OFFICER}
READ_BOOKS = read("ledger.books.read")
ALLOCATE = write("ledger.blm.allocate", PROGRAM)
REQUEST = write("ledger.tranche.request", UPK)
VERIFY = {
    Level.FASKEL: write("ledger.tranche.verify-faskel", frozenset({Role.NATIONAL_ADMIN, Role.FACILITATOR})),
    # After alih kelola the city's operators take the korkot's place (the consultants then only read).
    Level.KORKOT: write("ledger.tranche.verify-korkot", PROGRAM),
    Level.SATKER: write("ledger.tranche.verify-satker", PROGRAM),
}
TRANSFER = write("ledger.tranche.transfer", PROGRAM)
RECEIVE = write("ledger.tranche.receive", UPK)
ACCEPT_LPJ = write("ledger.lpj.accept", PROGRAM | {Role.FACILITATOR})
BOOKKEEPING = write("ledger.books.post", UPK)
AUDITING = write("ledger.audit.record", PROGRAM | {Role.BKM_OFFICER})

PeriodCode = Annotated[str, Path(pattern=PERIOD_CODE, examples=["KOTAKU"])]
KelurahanCode = Annotated[str, Path(pattern=KELURAHAN_CODE, examples=["33.74.10.1004"])]
Year = Annotated[int, Path(ge=1990, le=2100)]
BASE = "/program-periods/{code}/kelurahan/{kelurahan_code}"
BLM = f"{BASE}/blm/{{year}}"
TRANCHE = f"{BLM}/tranches/{{source}}/{{number}}"
Amount = Annotated[int, Field(gt=0, le=1_000_000_000_000, description="whole rupiah")]
AsOf = Annotated[date | None, Query(description="as of the end of this day (default today)")]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def hidden(kelurahan_code: str) -> str:
    return f"There are no books of kelurahan {kelurahan_code}."


async def allowed(guard: Guard, kelurahan_code: str) -> None:
    await guard.check(kelurahan_code, hidden=hidden(kelurahan_code))


def command(path: str, summary: str, tag: str) -> Callable[[Endpoint], Endpoint]:
    return router.post(
        path, status_code=status.HTTP_201_CREATED, response_model=Accepted, tags=[tag], summary=summary
    )


# --- BLM -----------------------------------------------------------------------------------------------


class Allocate(Input):
    year: int = Field(ge=1990, le=2100)
    total_rupiah: Amount = Field(description="the BLM: APBN and the city's DDUB share together")
    fiscal_category: FiscalCategory = Field(
        description="the city's fiscal category (IFKD), which sets its DDUB %"
    )
    apbn_reference: str = Field(
        min_length=1, max_length=200, description="the loan or budget (DIPA) reference"
    )
    swadaya_rupiah: int = Field(default=0, ge=0, le=1_000_000_000_000, description="the community's pledge")


@command(f"{BASE}/blm", "Allocate a year's BLM, split by funding source", "BLM")
async def allocate(
    body: Allocate,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(ALLOCATE),
) -> Accepted:
    await allowed(guard, kelurahan_code)

    async def decide(allocation: BlmAllocation, conn: AsyncConnection) -> None:
        version, parameters = await handlers.parameters(conn, code)
        allocation.allocate(
            body.total_rupiah,
            body.fiscal_category,
            body.apbn_reference,
            body.swadaya_rupiah,
            parameters.blm,
            version,
        )

    return Accepted.of(
        await handlers.execute(store, guard.actor, BlmAllocation(code, kelurahan_code, body.year), decide)
    )


class TrancheOut(BaseModel):
    source: Source
    number: int
    amount_rupiah: int
    stage: Stage
    verified_by: list[Level]
    lpj: str | None
    returned_reason: str | None
    dates: dict[str, date]
    blocked_by: list[str] = Field(description="the gates missing for a request, in words (empty: none)")


class SourceOut(BaseModel):
    source: Source
    amount_rupiah: int
    reference: str | None
    received_rupiah: int
    capitalised_rupiah: int


class AllocationOut(BaseModel):
    period_code: str
    kelurahan_code: str
    year: int
    fiscal_category: FiscalCategory
    ddub_pct: int
    total_rupiah: int
    sources: list[SourceOut]
    tranches: list[TrancheOut]
    version: int


@router.get(BLM, response_model=AllocationOut, tags=["BLM"], summary="A year's BLM: sources, tranches, gates")
async def get_allocation(
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    guard: Guard = Guarded(READ_BOOKS),
) -> AllocationOut:
    await allowed(guard, kelurahan_code)
    allocation = await handlers.get_allocation(store, code, kelurahan_code, year)
    a = allocation.allocated
    assert a is not None
    async with store.engine.connect() as conn:
        gates = await handlers.gates(conn, code, kelurahan_code, today())
    return AllocationOut(
        period_code=code,
        kelurahan_code=kelurahan_code,
        year=year,
        fiscal_category=a.fiscal_category,
        ddub_pct=a.ddub_pct,
        total_rupiah=sum(s.amount_rupiah for s in a.sources if s.source is not Source.SWADAYA),
        sources=[
            SourceOut(
                source=s.source,
                amount_rupiah=s.amount_rupiah,
                reference=s.reference,
                received_rupiah=allocation.received.get(s.source, 0),
                capitalised_rupiah=allocation.capitalised.get(s.source, 0),
            )
            for s in a.sources
        ],
        tranches=[
            TrancheOut(
                source=t.source,
                number=t.number,
                amount_rupiah=t.amount,
                stage=t.stage,
                verified_by=t.verified,
                lpj=t.lpj,
                returned_reason=t.returned_reason,
                dates=t.dates,
                blocked_by=allocation.blocked_by(t.source, t.number, gates)
                if t.stage in (Stage.NOT_REQUESTED, Stage.RETURNED)
                else [],
            )
            for t in allocation.tranches.values()
        ],
        version=allocation.version,
    )


class RequestTranche(Input):
    requested_on: date
    document: str = Field(min_length=1, max_length=200, description="the payment request (PP-BLM)")


class Verification(Input):
    approved: bool = Field(description="false: the files are returned, with the reason")
    on: date
    reason: str | None = Field(
        default=None, min_length=1, max_length=500, description="required when returned"
    )


class Transfer(Input):
    transferred_on: date
    reference: str = Field(min_length=1, max_length=200, description="the transfer order (SP2D)")


class Receipt(Input):
    received_on: date


class SubmitLpj(Input):
    submitted_on: date
    document: str = Field(min_length=1, max_length=200)


class AcceptLpj(Input):
    accepted_on: date


async def _on_allocation(
    store: StoreDep, guard: Guard, code: str, kelurahan_code: str, year: int, decide: Callable[..., object]
) -> Accepted:
    await allowed(guard, kelurahan_code)
    missing = f"There is no {year} BLM allocation for kelurahan {kelurahan_code} in {code}."
    allocation = BlmAllocation(code, kelurahan_code, year)
    return Accepted.of(await handlers.execute(store, guard.actor, allocation, decide, missing=missing))


@command(f"{TRANCHE}/request", "Request a tranche (blocked while a gate is missing)", "BLM")
async def request_tranche(
    body: RequestTranche,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    source: Source,
    number: Annotated[int, Path(ge=1, le=6)],
    guard: Guard = Guarded(REQUEST),
) -> Accepted:
    async def decide(allocation: BlmAllocation, conn: AsyncConnection) -> None:
        gates = await handlers.gates(conn, code, kelurahan_code, body.requested_on)
        allocation.request(source, number, body.requested_on, body.document, gates)

    return await _on_allocation(store, guard, code, kelurahan_code, year, decide)


def _verification_route(level: Level) -> None:
    async def verify(
        body: Verification,
        store: StoreDep,
        code: PeriodCode,
        kelurahan_code: KelurahanCode,
        year: Year,
        source: Source,
        number: Annotated[int, Path(ge=1, le=6)],
        guard: Guard = Guarded(VERIFY[level]),
    ) -> Accepted:
        if not body.approved and not body.reason:
            raise InvalidInput("Say why the files are returned (reason).")

        def decide(allocation: BlmAllocation, _: AsyncConnection) -> None:
            if body.approved:
                allocation.verify(source, number, level, body.on, guard.principal.subject)
            else:
                allocation.return_files(source, number, level, body.on, body.reason or "")

        return await _on_allocation(store, guard, code, kelurahan_code, year, decide)

    command(
        f"{TRANCHE}/verification/{level}",
        f"The {level} level verifies the tranche's files (or returns them)",
        "BLM",
    )(verify)


for _level in Level:
    _verification_route(_level)


@command(f"{TRANCHE}/transfer", "Record the transfer of a verified tranche", "BLM")
async def transfer_tranche(
    body: Transfer,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    source: Source,
    number: Annotated[int, Path(ge=1, le=6)],
    guard: Guard = Guarded(TRANSFER),
) -> Accepted:
    return await _on_allocation(
        store,
        guard,
        code,
        kelurahan_code,
        year,
        lambda a, _: a.transfer(source, number, body.transferred_on, body.reference),
    )


@command(f"{TRANCHE}/receipt", "The BKM received the tranche in its bank account", "BLM")
async def receive_tranche(
    body: Receipt,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    source: Source,
    number: Annotated[int, Path(ge=1, le=6)],
    guard: Guard = Guarded(RECEIVE),
) -> Accepted:
    return await _on_allocation(
        store, guard, code, kelurahan_code, year, lambda a, _: a.receive(source, number, body.received_on)
    )


@command(f"{TRANCHE}/lpj", "Submit the tranche's accountability report (LPJ)", "BLM")
async def submit_lpj(
    body: SubmitLpj,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    source: Source,
    number: Annotated[int, Path(ge=1, le=6)],
    guard: Guard = Guarded(RECEIVE),
) -> Accepted:
    return await _on_allocation(
        store,
        guard,
        code,
        kelurahan_code,
        year,
        lambda a, _: a.submit_lpj(source, number, body.submitted_on, body.document),
    )


@command(f"{TRANCHE}/lpj/acceptance", "Accept the tranche's LPJ: the next tranche's gate opens", "BLM")
async def accept_lpj(
    body: AcceptLpj,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    source: Source,
    number: Annotated[int, Path(ge=1, le=6)],
    guard: Guard = Guarded(ACCEPT_LPJ),
) -> Accepted:
    return await _on_allocation(
        store,
        guard,
        code,
        kelurahan_code,
        year,
        lambda a, _: a.accept_lpj(source, number, body.accepted_on, guard.principal.subject),
    )


class Swadaya(Input):
    amount_rupiah: Amount
    received_on: date


class Capitalise(Input):
    source: Source
    amount_rupiah: Amount
    capitalised_on: date


@command(f"{BLM}/swadaya", "Record community swadaya received", "BLM")
async def receive_swadaya(
    body: Swadaya,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    guard: Guard = Guarded(RECEIVE),
) -> Accepted:
    return await _on_allocation(
        store,
        guard,
        code,
        kelurahan_code,
        year,
        lambda a, _: a.receive_swadaya(body.amount_rupiah, body.received_on),
    )


@command(f"{BLM}/revolving-fund", "Put received BLM into the UPK's revolving fund", "BLM")
async def capitalise(
    body: Capitalise,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    year: Year,
    guard: Guard = Guarded(BOOKKEEPING),
) -> Accepted:
    return await _on_allocation(
        store,
        guard,
        code,
        kelurahan_code,
        year,
        lambda a, _: a.capitalise(body.source, body.amount_rupiah, body.capitalised_on),
    )


# --- the books ---------------------------------------------------------------------------------------------


class PostEntry(Input):
    kind: EntryKind = Field(description="operating-cost, other-income or capital")
    amount_rupiah: Amount
    posted_on: date
    memo: str = Field(min_length=1, max_length=300)


class Reverse(Input):
    reversed_on: date
    reason: str = Field(min_length=1, max_length=250)


class Closing(Input):
    as_of: date


@command(f"{BASE}/books/entries", "Post an operating cost, other income or other capital", "books")
async def post_entry(
    body: PostEntry,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(BOOKKEEPING),
) -> Accepted:
    await allowed(guard, kelurahan_code)

    async def decide(book: Book, conn: AsyncConnection) -> None:
        if body.kind is EntryKind.OPERATING_COST:
            await handlers.require_cash(conn, kelurahan_code, body.amount_rupiah, "the cost", body.posted_on)
        book.post(code, body.kind, body.amount_rupiah, body.posted_on, body.memo)

    return Accepted.of(await handlers.execute(store, guard.actor, Book(kelurahan_code), decide))


@command(f"{BASE}/books/entries/{{entry_id}}/reversal", "Reverse an entry posted to the books", "books")
async def reverse_entry(
    body: Reverse,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    entry_id: uuid.UUID,
    guard: Guard = Guarded(BOOKKEEPING),
) -> Accepted:
    await allowed(guard, kelurahan_code)
    return Accepted.of(
        await handlers.execute(
            store,
            guard.actor,
            Book(kelurahan_code),
            lambda book, _: book.reverse(code, entry_id, body.reversed_on, body.reason),
        )
    )


@command(
    f"{BASE}/books/closing",
    "Close the books on a day: the loan-loss reserve, then the UPK indicators",
    "books",
)
async def close_books(
    body: Closing,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(BOOKKEEPING),
) -> Accepted:
    await allowed(guard, kelurahan_code)
    if body.as_of > today():
        raise InvalidInput(f"{body.as_of} is in the future; the books are closed on a day that has come.")
    return Accepted.of(await handlers.close_books(store, guard.actor, code, kelurahan_code, body.as_of))


class Audit(Input):
    year: int = Field(ge=1990, le=2100, description="the book year audited")
    auditor: str = Field(min_length=1, max_length=200, examples=["KAP Basri & Rekan"])
    opinion: AuditOpinion
    findings: int = Field(ge=0, le=1000)
    report: str = Field(min_length=1, max_length=200)
    audited_on: date


@command(f"{BASE}/books/audits", "Record the independent audit of a year's books", "books")
async def record_audit(
    body: Audit,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(AUDITING),
) -> Accepted:
    await allowed(guard, kelurahan_code)
    return Accepted.of(
        await handlers.execute(
            store,
            guard.actor,
            Book(kelurahan_code),
            lambda book, _: book.record_audit(
                code, body.year, body.auditor, body.opinion, body.findings, body.report, body.audited_on
            ),
        )
    )


class BalanceOut(BaseModel):
    account: str
    name: str
    kind: str
    debit_rupiah: int
    credit_rupiah: int
    balance_rupiah: int


class TrialBalanceOut(BaseModel):
    book: str
    as_of: date
    accounts: list[BalanceOut]
    total_debit_rupiah: int
    total_credit_rupiah: int


def _account_out(account: str, debit: int, credit: int, balance: int) -> BalanceOut:
    return BalanceOut(
        account=account,
        name=CHART[account.split(":", 1)[0]][1],
        kind=str(kind_of(account)),
        debit_rupiah=debit,
        credit_rupiah=credit,
        balance_rupiah=balance,
    )


@router.get("/kelurahan/{kelurahan_code}/books/trial-balance", response_model=TrialBalanceOut, tags=["books"])
async def trial_balance(
    store: StoreDep, kelurahan_code: KelurahanCode, as_of: AsOf = None, guard: Guard = Guarded(READ_BOOKS)
) -> TrialBalanceOut:
    await allowed(guard, kelurahan_code)
    on = as_of or today()
    async with store.engine.connect() as conn:
        lines = await handlers.trial_balance(conn, kelurahan_code, on)
    return TrialBalanceOut(
        book=kelurahan_code,
        as_of=on,
        accounts=[_account_out(x.account, x.debit, x.credit, x.balance) for x in lines],
        total_debit_rupiah=sum(x.debit for x in lines),
        total_credit_rupiah=sum(x.credit for x in lines),
    )


class StatementLine(BaseModel):
    entry_id: uuid.UUID
    posted_on: date
    memo: str
    debit_rupiah: int
    credit_rupiah: int
    balance_rupiah: int
    reverses: uuid.UUID | None


class StatementOut(BaseModel):
    account: str
    name: str
    opening_balance_rupiah: int
    lines: list[StatementLine]
    closing_balance_rupiah: int


@router.get(
    "/kelurahan/{kelurahan_code}/books/accounts/{account}", response_model=StatementOut, tags=["books"]
)
async def account_statement(
    store: StoreDep,
    kelurahan_code: KelurahanCode,
    account: Annotated[str, Path(pattern=ACCOUNT, examples=["bank"])],
    since: date | None = Query(default=None, alias="from"),
    as_of: AsOf = None,
    guard: Guard = Guarded(READ_BOOKS),
) -> StatementOut:
    await allowed(guard, kelurahan_code)
    if account.split(":", 1)[0] not in CHART:
        raise InvalidInput(f"{account} is not an account of the chart: {', '.join(CHART)}.")
    if since is not None and since.year < 1990:
        raise InvalidInput(f"The books begin with the program; a statement from {since} is not kept.")
    async with store.engine.connect() as conn:
        opening, rows = await handlers.statement(conn, kelurahan_code, account, since, as_of or today())
    running, lines = opening, []
    for row in rows:
        debit, credit = int(row["debit"]), int(row["credit"])
        running += balance(account, debit, credit)
        lines.append(
            StatementLine(
                entry_id=row["entry_id"],
                posted_on=row["posted_on"],
                memo=row["memo"],
                debit_rupiah=debit,
                credit_rupiah=credit,
                balance_rupiah=running,
                reverses=row["reverses"],
            )
        )
    return StatementOut(
        account=account,
        name=CHART[account.split(":", 1)[0]][1],
        opening_balance_rupiah=opening,
        lines=lines,
        closing_balance_rupiah=running,
    )


class IndicatorOut(BaseModel):
    value_pct: float | None
    band: str | None


class IndicatorsOut(BaseModel):
    as_of: date
    active_ksm: int
    outstanding_rupiah: int
    lar: IndicatorOut = Field(description="KSM with >= 3 instalments in arrears / active KSM (POB 2013)")
    par: IndicatorOut = Field(
        description="outstanding with >= 3 instalments in arrears / outstanding (POB 2013)"
    )
    rr: IndicatorOut = Field(description="repayment rate: (outstanding - PAR outstanding) / outstanding")
    ccr: IndicatorOut = Field(description="cost coverage: income / costs, 1 January to the day")
    roi: IndicatorOut = Field(description="annualised net profit year to date / revolving-fund capital")
    par30: float | None
    par90: float | None


def _indicators_out(i: Indicators) -> IndicatorsOut:
    def one(x: Any) -> IndicatorOut:
        return IndicatorOut(value_pct=x.value_pct, band=str(x.band) if x.band else None)

    return IndicatorsOut(
        as_of=i.as_of,
        active_ksm=i.active_ksm,
        outstanding_rupiah=i.outstanding,
        lar=one(i.lar),
        par=one(i.par),
        rr=one(i.rr),
        ccr=one(i.ccr),
        roi=one(i.roi),
        par30=i.par30,
        par90=i.par90,
    )


@router.get("/kelurahan/{kelurahan_code}/indicators", response_model=IndicatorsOut, tags=["books"])
async def upk_indicators(
    store: StoreDep, kelurahan_code: KelurahanCode, as_of: AsOf = None, guard: Guard = Guarded(READ_BOOKS)
) -> IndicatorsOut:
    await allowed(guard, kelurahan_code)
    return _indicators_out(await handlers.upk_indicators(store, kelurahan_code, as_of or today()))
