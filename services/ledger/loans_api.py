"""Ledger HTTP API, part two: revolving loans and grants to KSM."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger import handlers
from services.ledger.api import (
    BASE,
    PROGRAM,
    READ_BOOKS,
    UPK,
    Amount,
    AsOf,
    Input,
    KelurahanCode,
    PeriodCode,
    allowed,
)
from services.ledger.grants import Grant
from services.ledger.loans import Loan, Status
from services.ledger.readmodels import PERIODS
from shared.clock import today
from shared.contracts.ledger import EligibilityAtApproval
from shared.contracts.targeting import LoanRules
from shared.dependencies import StoreDep
from shared.errors import Conflict, InvalidInput
from shared.events import RecordedEvent
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import write
from shared.security.principal import Role

router = APIRouter()

LEND = write("ledger.loan.record", UPK)
APPROVE_EXCEPTION = write("ledger.loan.restructure", PROGRAM | {Role.BKM_OFFICER})  # rescheduling, write-off
GRANT = write("ledger.grant.record", UPK)
LoanId = Annotated[uuid.UUID, Path()]
GrantId = Annotated[uuid.UUID, Path()]
CREATED = status.HTTP_201_CREATED


# --- loans ---------------------------------------------------------------------------------------------


class ApproveLoan(Input):
    ksm_id: uuid.UUID
    principal_rupiah: Amount
    term_months: int = Field(ge=1, le=60)
    approved_on: date
    decision: str = Field(min_length=1, max_length=200, description="the UPK/BKM decision's reference")


class LoanCreated(Accepted):
    loan_id: uuid.UUID


class InstalmentOut(BaseModel):
    number: int
    due_on: date
    principal_rupiah: int
    fee_rupiah: int
    paid_principal_rupiah: int
    paid_fee_rupiah: int


class LoanOut(BaseModel):
    loan_id: uuid.UUID
    ksm_id: uuid.UUID
    period_code: str
    kelurahan_code: str
    status: Status
    principal_rupiah: int
    term_months: int
    fee_bps_per_month: int
    loan_cycle: int
    eligibility_at_approval: EligibilityAtApproval
    as_of: date
    outstanding_rupiah: int
    written_off_rupiah: int
    payoff_rupiah: int = Field(description="what closes the loan on the day: fees due and all principal")
    instalments_overdue: int
    days_overdue: int
    collectibility: int = Field(description="Kol-1 (lancar) to Kol-5 (macet)")
    reserve_rupiah: int
    schedule: list[InstalmentOut]
    version: int


def _loan_out(loan: Loan, on: date, rules: LoanRules) -> LoanOut:
    a = loan.approved
    assert a is not None
    then = loan.as_of(on)
    position = loan.position(on, rules)
    return LoanOut(
        loan_id=loan.loan_id,
        ksm_id=a.ksm_id,
        period_code=a.period_code,
        kelurahan_code=a.kelurahan_code,
        status=then.status,
        principal_rupiah=a.principal_rupiah,
        term_months=a.term_months,
        fee_bps_per_month=a.fee_bps_per_month,
        loan_cycle=a.loan_cycle,
        eligibility_at_approval=a.eligibility,
        as_of=on,
        outstanding_rupiah=position.outstanding,
        written_off_rupiah=then.written_off,
        payoff_rupiah=then.payoff(on) if then.status is Status.DISBURSED else 0,
        instalments_overdue=position.instalments_overdue,
        days_overdue=position.days_overdue,
        collectibility=position.kol,
        reserve_rupiah=position.reserve,
        schedule=[
            InstalmentOut(
                number=d.number,
                due_on=d.due_on,
                principal_rupiah=d.principal,
                fee_rupiah=d.fee,
                paid_principal_rupiah=d.paid_principal,
                paid_fee_rupiah=d.paid_fee,
            )
            for d in then.schedule
        ],
        version=loan.version,
    )


@router.post(f"{BASE}/loans", status_code=CREATED, response_model=LoanCreated, tags=["loans"])
async def approve_loan(
    body: ApproveLoan,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(LEND),
) -> LoanCreated:
    """Approve a loan to an eligible KSM ekonomi; its published eligibility is stored with the decision."""
    await allowed(guard, kelurahan_code)
    loan = Loan(uuid.uuid4())

    async def decide(aggregate: Loan, conn: AsyncConnection) -> None:
        fact = await handlers.ksm_fact(conn, body.ksm_id, kelurahan_code)
        if fact.period_code != code:
            raise Conflict(f"KSM {body.ksm_id} belongs to program period {fact.period_code}, not {code}.")
        eligibility, unmet = handlers.eligibility_at_approval(fact)
        version, parameters = await handlers.parameters(conn, fact.period_code)
        aggregate.approve(
            period_code=fact.period_code,
            kelurahan_code=kelurahan_code,
            ksm_id=body.ksm_id,
            principal=body.principal_rupiah,
            term_months=body.term_months,
            approved_on=body.approved_on,
            decision=body.decision,
            eligibility=eligibility,
            unmet=unmet,
            loan_cycle=await handlers.loan_cycle(conn, body.ksm_id),
            rules=parameters.loans,
            parameters_version=version,
        )

    recorded = await handlers.execute(store, guard.actor, loan, decide)
    return LoanCreated(loan_id=loan.loan_id, **Accepted.of(recorded).model_dump())


async def _loan_in_scope(store: StoreDep, guard: Guard, loan_id: uuid.UUID) -> Loan:
    loan = await handlers.get_loan(store, loan_id)
    await guard.check(loan.book, hidden=handlers.loan_missing(loan_id))
    return loan


@router.get(
    "/loans/{loan_id}", response_model=LoanOut, tags=["loans"], summary="A loan, its schedule and arrears"
)
async def get_loan(
    store: StoreDep, loan_id: LoanId, as_of: AsOf = None, guard: Guard = Guarded(READ_BOOKS)
) -> LoanOut:
    loan = await _loan_in_scope(store, guard, loan_id)
    assert loan.approved is not None
    async with store.engine.connect() as conn:
        _, parameters = await PERIODS.parameters_of(
            conn, loan.approved.period_code, loan.approved.parameters_version
        )
    return _loan_out(loan, as_of or today(), parameters.loans)


async def _on_loan(
    store: StoreDep, guard: Guard, loan_id: uuid.UUID, decide: Callable[[Loan, AsyncConnection], object]
) -> list[RecordedEvent]:
    await _loan_in_scope(store, guard, loan_id)
    return await handlers.execute(
        store, guard.actor, Loan(loan_id), decide, missing=handlers.loan_missing(loan_id)
    )


class Disburse(Input):
    disbursed_on: date


@router.post("/loans/{loan_id}/disbursement", status_code=CREATED, response_model=Accepted, tags=["loans"])
async def disburse_loan(
    body: Disburse, store: StoreDep, loan_id: LoanId, guard: Guard = Guarded(LEND)
) -> Accepted:
    """Pay the loan out from the BKM's bank account; its instalment schedule is generated."""

    async def decide(loan: Loan, conn: AsyncConnection) -> None:
        await handlers.require_cash(conn, loan.book, loan.principal, "the loan", body.disbursed_on)
        loan.disburse(body.disbursed_on)

    return Accepted.of(await _on_loan(store, guard, loan_id, decide))


class Repay(Input):
    idempotency_key: str = Field(
        min_length=8,
        max_length=100,
        description="chosen by the client once per repayment; a retry sends it again",
    )
    amount_rupiah: Amount
    paid_on: date


class RepaymentOut(Accepted):
    repayment_id: uuid.UUID
    fee_rupiah: int
    principal_overdue_rupiah: int
    principal_current_rupiah: int
    replayed: bool = Field(description="true: this key was booked before; nothing new was booked")


async def _repay(
    store: StoreDep,
    guard: Guard,
    loan_id: uuid.UUID,
    key: str,
    paid_on: date,
    amount: int | None,
    response: Response,
) -> RepaymentOut:
    """``amount`` None: the payoff on ``paid_on`` (a prepayment)."""
    if paid_on > today():
        raise InvalidInput(f"The payment date {paid_on} is in the future.")

    def decide(loan: Loan, _: AsyncConnection) -> None:
        if amount is not None:
            loan.repay(amount, paid_on, key)
        elif key in loan.by_key:  # a retried prepayment: the amount it booked, so nothing books twice
            loan.repay(loan.repayments[loan.by_key[key]].amount_rupiah, paid_on, key)
        else:
            loan.repay(loan.payoff(paid_on), paid_on, key)

    recorded = await _on_loan(store, guard, loan_id, decide)
    loan = await handlers.get_loan(store, loan_id)
    booked = loan.repayments[loan.by_key[key]]
    if not recorded:
        response.status_code = status.HTTP_200_OK
        if amount is None and booked.paid_on != paid_on:
            raise InvalidInput(f"Idempotency key {key!r} was used for a payment on {booked.paid_on}.")
    event_ids = [str(e.event_id) for e in recorded]
    return RepaymentOut(
        stream_id=loan.stream,
        version=recorded[-1].stream_version if recorded else loan.version,
        event_ids=event_ids,
        repayment_id=booked.repayment_id,
        fee_rupiah=booked.allocation.fee_rupiah,
        principal_overdue_rupiah=booked.allocation.principal_overdue_rupiah,
        principal_current_rupiah=booked.allocation.principal_current_rupiah,
        replayed=not recorded,
    )


@router.post("/loans/{loan_id}/repayments", status_code=CREATED, response_model=RepaymentOut, tags=["loans"])
async def repay(
    body: Repay, response: Response, store: StoreDep, loan_id: LoanId, guard: Guard = Guarded(LEND)
) -> RepaymentOut:
    """Book a repayment: fee first, then overdue principal, then current. A retried request (same
    idempotency key, amount and date) books nothing and answers 200 with the first booking."""
    return await _repay(
        store, guard, loan_id, body.idempotency_key, body.paid_on, body.amount_rupiah, response
    )


class Prepay(Input):
    idempotency_key: str = Field(min_length=8, max_length=100)
    paid_on: date


@router.post("/loans/{loan_id}/prepayment", status_code=CREATED, response_model=RepaymentOut, tags=["loans"])
async def prepay(
    body: Prepay, response: Response, store: StoreDep, loan_id: LoanId, guard: Guard = Guarded(LEND)
) -> RepaymentOut:
    """Pay the loan off early: fees due by the day and all principal; fees not yet due are not charged."""
    return await _repay(store, guard, loan_id, body.idempotency_key, body.paid_on, None, response)


class ReverseRepayment(Input):
    reversed_on: date
    reason: str = Field(min_length=1, max_length=250)


@router.post(
    "/loans/{loan_id}/repayments/{repayment_id}/reversal",
    status_code=CREATED,
    response_model=Accepted,
    tags=["loans"],
)
async def reverse_repayment(
    body: ReverseRepayment,
    store: StoreDep,
    loan_id: LoanId,
    repayment_id: uuid.UUID,
    guard: Guard = Guarded(LEND),
) -> Accepted:
    return Accepted.of(
        await _on_loan(
            store,
            guard,
            loan_id,
            lambda loan, _: loan.reverse_repayment(repayment_id, body.reversed_on, body.reason),
        )
    )


class Reschedule(Input):
    term_months: int = Field(ge=1, le=60)
    rescheduled_on: date
    approval: str = Field(min_length=1, max_length=200, description="the decision approving it")


@router.post("/loans/{loan_id}/rescheduling", status_code=CREATED, response_model=Accepted, tags=["loans"])
async def reschedule(
    body: Reschedule, store: StoreDep, loan_id: LoanId, guard: Guard = Guarded(APPROVE_EXCEPTION)
) -> Accepted:
    async def decide(loan: Loan, conn: AsyncConnection) -> None:
        assert loan.approved is not None
        _, parameters = await PERIODS.parameters_of(
            conn, loan.approved.period_code, loan.approved.parameters_version
        )
        loan.reschedule(body.term_months, body.rescheduled_on, body.approval, parameters.loans)

    return Accepted.of(await _on_loan(store, guard, loan_id, decide))


class WriteOff(Input):
    written_off_on: date
    approval: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=250)


@router.post("/loans/{loan_id}/write-off", status_code=CREATED, response_model=Accepted, tags=["loans"])
async def write_off(
    body: WriteOff, store: StoreDep, loan_id: LoanId, guard: Guard = Guarded(APPROVE_EXCEPTION)
) -> Accepted:
    return Accepted.of(
        await _on_loan(
            store,
            guard,
            loan_id,
            lambda loan, _: loan.write_off(body.written_off_on, body.approval, body.reason),
        )
    )


class PortfolioLoan(BaseModel):
    loan_id: uuid.UUID
    ksm_id: uuid.UUID
    status: Status
    principal_rupiah: int
    outstanding_rupiah: int
    instalments_overdue: int
    days_overdue: int
    collectibility: int
    reserve_rupiah: int


@router.get("/kelurahan/{kelurahan_code}/loans", response_model=list[PortfolioLoan], tags=["loans"])
async def portfolio(
    store: StoreDep, kelurahan_code: KelurahanCode, as_of: AsOf = None, guard: Guard = Guarded(READ_BOOKS)
) -> list[PortfolioLoan]:
    """The UPK's loans with their arrears and collectibility as of a day."""
    await allowed(guard, kelurahan_code)
    on = as_of or today()
    async with store.engine.connect() as conn:
        found = await handlers.portfolio(store, conn, kelurahan_code, on)
    return [
        PortfolioLoan(
            loan_id=loan.loan_id,
            ksm_id=p.ksm_id,
            status=loan.as_of(on).status,
            principal_rupiah=loan.principal,
            outstanding_rupiah=p.outstanding,
            instalments_overdue=p.instalments_overdue,
            days_overdue=p.days_overdue,
            collectibility=p.kol,
            reserve_rupiah=p.reserve,
        )
        for loan, p in found
        if loan.approved is not None and loan.approved.approved_on <= on
    ]


# --- grants --------------------------------------------------------------------------------------------


class ApproveGrant(Input):
    ksm_id: uuid.UUID
    proposal: str = Field(min_length=1, max_length=200, description="the approved proposal's reference")
    purpose: str = Field(min_length=1, max_length=500)
    amount_rupiah: Amount
    approved_on: date


class GrantCreated(Accepted):
    grant_id: uuid.UUID


class GrantOut(BaseModel):
    grant_id: uuid.UUID
    ksm_id: uuid.UUID
    kelurahan_code: str
    proposal: str
    purpose: str
    amount_rupiah: int
    approved_on: date
    disbursed_on: date | None
    lpj_accepted_on: date | None
    version: int


@router.post(f"{BASE}/grants", status_code=CREATED, response_model=GrantCreated, tags=["grants"])
async def approve_grant(
    body: ApproveGrant,
    store: StoreDep,
    code: PeriodCode,
    kelurahan_code: KelurahanCode,
    guard: Guard = Guarded(GRANT),
) -> GrantCreated:
    """Commit BLM to a KSM lingkungan or sosial against its approved proposal."""
    await allowed(guard, kelurahan_code)
    grant = Grant(uuid.uuid4())

    async def decide(aggregate: Grant, conn: AsyncConnection) -> None:
        fact = await handlers.ksm_fact(conn, body.ksm_id, kelurahan_code)
        aggregate.approve(
            period_code=code,
            kelurahan_code=kelurahan_code,
            ksm_id=body.ksm_id,
            ksm_type=fact.type,
            proposal=body.proposal,
            purpose=body.purpose,
            amount=body.amount_rupiah,
            approved_on=body.approved_on,
        )

    recorded = await handlers.execute(store, guard.actor, grant, decide)
    return GrantCreated(grant_id=grant.grant_id, **Accepted.of(recorded).model_dump())


async def _grant_in_scope(store: StoreDep, guard: Guard, grant_id: uuid.UUID) -> Grant:
    grant = await handlers.get_grant(store, grant_id)
    assert grant.approved is not None
    await guard.check(grant.approved.kelurahan_code, hidden=handlers.grant_missing(grant_id))
    return grant


@router.get("/grants/{grant_id}", response_model=GrantOut, tags=["grants"])
async def get_grant(store: StoreDep, grant_id: GrantId, guard: Guard = Guarded(READ_BOOKS)) -> GrantOut:
    grant = await _grant_in_scope(store, guard, grant_id)
    a = grant.approved
    assert a is not None
    return GrantOut(
        grant_id=grant_id,
        ksm_id=a.ksm_id,
        kelurahan_code=a.kelurahan_code,
        proposal=a.proposal,
        purpose=a.purpose,
        amount_rupiah=a.amount_rupiah,
        approved_on=a.approved_on,
        disbursed_on=grant.disbursed_on,
        lpj_accepted_on=grant.lpj_accepted_on,
        version=grant.version,
    )


class DisburseGrant(Input):
    disbursed_on: date


class GrantLpj(Input):
    document: str = Field(min_length=1, max_length=200)
    accepted_on: date


@router.post("/grants/{grant_id}/disbursement", status_code=CREATED, response_model=Accepted, tags=["grants"])
async def disburse_grant(
    body: DisburseGrant, store: StoreDep, grant_id: GrantId, guard: Guard = Guarded(GRANT)
) -> Accepted:
    await _grant_in_scope(store, guard, grant_id)

    async def decide(grant: Grant, conn: AsyncConnection) -> None:
        assert grant.approved is not None
        await handlers.require_cash(
            conn, grant.approved.kelurahan_code, grant.approved.amount_rupiah, "the grant", body.disbursed_on
        )
        grant.disburse(body.disbursed_on)

    return Accepted.of(await handlers.execute(store, guard.actor, Grant(grant_id), decide))


@router.post("/grants/{grant_id}/lpj", status_code=CREATED, response_model=Accepted, tags=["grants"])
async def accept_grant_lpj(
    body: GrantLpj, store: StoreDep, grant_id: GrantId, guard: Guard = Guarded(GRANT)
) -> Accepted:
    await _grant_in_scope(store, guard, grant_id)
    return Accepted.of(
        await handlers.execute(
            store,
            guard.actor,
            Grant(grant_id),
            lambda grant, _: grant.accept_lpj(body.document, body.accepted_on),
        )
    )
