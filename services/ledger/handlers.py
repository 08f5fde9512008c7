"""Ledger command handlers: one transaction each — read the facts the decision rests on, load the
aggregate, decide, append with the version read, and post the journal lines of every entry beside the
events. Queries over the books read those lines."""

from __future__ import annotations

import copy
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger import indicators
from services.ledger.accounts import COSTS, INCOME, Book, balance
from services.ledger.blm import BlmAllocation, Gates
from services.ledger.grants import Grant
from services.ledger.loans import Loan, Position
from services.ledger.readmodels import (
    PERIODS,
    institution_facts,
    journal_lines,
    ksm_facts,
    loans,
    record_entries,
    record_loan,
)
from shared.aggregate import CONFLICT_RETRIES, Aggregate, load, save
from shared.contracts.institutions import KsmLoanEligibilityChanged, KsmType
from shared.contracts.ledger import EligibilityAtApproval, IndicatorFigure, UpkIndicatorsRecorded
from shared.contracts.targeting import PeriodParameters
from shared.db import lock
from shared.errors import ConcurrencyConflict, Conflict, NotFound
from shared.events import Actor, RecordedEvent
from shared.eventstore import EventStore

A = TypeVar("A", bound=Aggregate)


async def execute(
    store: EventStore,
    actor: Actor,
    aggregate: A,
    decide: Callable[[A, AsyncConnection], object],
    *,
    missing: str | None = None,
) -> list[RecordedEvent]:
    """Load ``aggregate``, let ``decide`` (sync or async) act on it, append, post its entries.

    When another command changed the stream between our read and our append (two repayments of one
    loan at once, say), the whole decision is taken again on the new state, a few times, before the
    caller hears of the conflict: ``decide`` only reads and decides, so running it again is safe, and
    an idempotency key is checked against the state that is actually appended to."""
    blank = copy.deepcopy(aggregate)
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            async with store.transaction() as conn:
                await load(store, aggregate, missing=missing, conn=conn, lock_stream=True)
                if inspect.isawaitable(outcome := decide(aggregate, conn)):
                    await outcome
                recorded = await save(store, aggregate, actor, conn=conn)
                await record_entries(conn, recorded)
                if isinstance(aggregate, Loan) and recorded:
                    await record_loan(conn, aggregate, recorded[-1].recorded_at)
                return recorded
        except ConcurrencyConflict:
            if attempt == CONFLICT_RETRIES:
                raise
            aggregate.__dict__.update(copy.deepcopy(blank).__dict__)  # the caller's object, unloaded again
    raise AssertionError("unreachable")


async def parameters(conn: AsyncConnection, period_code: str) -> tuple[int, PeriodParameters]:
    return await PERIODS.parameters_of(conn, period_code)


# --- facts from the institutions service --------------------------------------------------------------------


async def gates(conn: AsyncConnection, period_code: str, kelurahan_code: str, on: date) -> Gates:
    row = (
        (
            await conn.execute(
                select(institution_facts).where(
                    institution_facts.c.period_code == period_code,
                    institution_facts.c.kelurahan_code == kelurahan_code,
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return Gates(bkm_in_term=False, pjm_approved=False, renta_approved=False)
    starts, ends = row["bkm_term_starts_on"], row["bkm_term_ends_on"]
    return Gates(
        bkm_in_term=starts is not None and starts <= on < ends,
        pjm_approved=row["pjm_approved_on"] is not None,
        renta_approved=bool(row["renta_years"]),
    )


@dataclass(frozen=True)
class KsmFact:
    ksm_id: uuid.UUID
    period_code: str
    kelurahan_code: str
    type: KsmType
    eligibility: KsmLoanEligibilityChanged | None
    eligibility_event_id: uuid.UUID | None


async def ksm_fact(conn: AsyncConnection, ksm_id: uuid.UUID, kelurahan_code: str) -> KsmFact:
    row = (await conn.execute(select(ksm_facts).where(ksm_facts.c.ksm_id == str(ksm_id)))).mappings().first()
    if row is None or row["kelurahan_code"] != kelurahan_code:
        raise Conflict(
            f"KSM {ksm_id} is not known to the ledger in kelurahan {kelurahan_code}: its registration has "
            "not reached the ledger from the institutions service. If it was registered just now, try again "
            "shortly."
        )
    published = row["eligibility"]
    return KsmFact(
        ksm_id=ksm_id,
        period_code=row["period_code"],
        kelurahan_code=row["kelurahan_code"],
        type=KsmType(row["type"]),
        eligibility=KsmLoanEligibilityChanged.model_validate(json.loads(published)) if published else None,
        eligibility_event_id=uuid.UUID(row["eligibility_event_id"]) if row["eligibility_event_id"] else None,
    )


def eligibility_at_approval(fact: KsmFact) -> tuple[EligibilityAtApproval, list[str]]:
    published = fact.eligibility
    if published is None or fact.eligibility_event_id is None:
        raise Conflict(
            f"KSM {fact.ksm_id} has no published loan eligibility: only a KSM ekonomi borrows, and its "
            "eligibility comes from the institutions service."
        )
    s = published.snapshot
    return (
        EligibilityAtApproval(
            eligible=published.eligible,
            members=s.members,
            women_pct=s.women_pct,
            savings_months=s.savings_months,
            joint_liability_signed_on=s.joint_liability_signed_on,
            published_event=fact.eligibility_event_id,
        ),
        list(published.unmet),
    )


async def loan_cycle(conn: AsyncConnection, ksm_id: uuid.UUID) -> int:
    """1 + the KSM's earlier loans; 409 while one is still running."""
    await lock(
        conn, f"ksm-loans:{ksm_id}"
    )  # two approvals for one KSM at once: one waits, then sees the other
    rows = (
        await conn.execute(select(loans.c.loan_id, loans.c.status).where(loans.c.ksm_id == str(ksm_id)))
    ).all()
    running = [loan_id for loan_id, status in rows if status in ("approved", "disbursed")]
    if running:
        raise Conflict(f"KSM {ksm_id} still has loan {running[0]} running; a KSM borrows one loan at a time.")
    return len(rows) + 1


# --- the books ----------------------------------------------------------------------------------------------


async def account_balance(conn: AsyncConnection, book: str, account: str, on: date | None = None) -> int:
    query = select(
        func.coalesce(func.sum(journal_lines.c.debit), 0), func.coalesce(func.sum(journal_lines.c.credit), 0)
    ).where(journal_lines.c.book == book, journal_lines.c.account == account)
    if on is not None:
        query = query.where(journal_lines.c.posted_on <= on)
    debit, credit = (await conn.execute(query)).one()
    return balance(account, int(debit), int(credit))


async def require_cash(conn: AsyncConnection, book: str, amount: int, what: str, on: date) -> None:
    """409 unless the bank holds ``amount`` both on ``on`` and now (money received later does not pay
    for a back-dated payment, and money since spent is not there to pay again)."""
    # Two payments out of one bank account check it one after the other (a name no stream has, so
    # it cannot cross the locks of close_books, which holds the book's stream).
    await lock(conn, f"book:{book}")
    cash = min(await account_balance(conn, book, "bank", on), await account_balance(conn, book, "bank"))
    if cash < amount:
        raise Conflict(
            f"The BKM's bank balance is Rp{cash:,} on {on}; {what} needs Rp{amount:,}. "
            "Record the money received first."
        )


@dataclass(frozen=True)
class BalanceLine:
    account: str
    debit: int
    credit: int
    balance: int


async def trial_balance(conn: AsyncConnection, book: str, on: date) -> list[BalanceLine]:
    rows = await conn.execute(
        select(journal_lines.c.account, func.sum(journal_lines.c.debit), func.sum(journal_lines.c.credit))
        .where(journal_lines.c.book == book, journal_lines.c.posted_on <= on)
        .group_by(journal_lines.c.account)
        .order_by(journal_lines.c.account)
    )
    return [BalanceLine(a, int(d), int(c), balance(a, int(d), int(c))) for a, d, c in rows]


async def statement(
    conn: AsyncConnection, book: str, account: str, since: date | None, on: date
) -> tuple[int, list[dict[str, Any]]]:
    """The account's opening balance before ``since`` and its lines from ``since`` to ``on``."""
    opening = 0
    if since is not None:
        opening = await account_balance(conn, book, account, date.fromordinal(since.toordinal() - 1))
    query = select(journal_lines).where(
        journal_lines.c.book == book, journal_lines.c.account == account, journal_lines.c.posted_on <= on
    )
    if since is not None:
        query = query.where(journal_lines.c.posted_on >= since)
    rows = (
        await conn.execute(
            query.order_by(journal_lines.c.posted_on, journal_lines.c.stream_id, journal_lines.c.line_no)
        )
    ).mappings()
    return opening, [dict(r) for r in rows]


async def year_to_date(conn: AsyncConnection, book: str, accounts: tuple[str, ...], on: date) -> int:
    query = select(
        func.coalesce(func.sum(journal_lines.c.debit), 0), func.coalesce(func.sum(journal_lines.c.credit), 0)
    ).where(
        journal_lines.c.book == book,
        journal_lines.c.account.in_(accounts),
        and_(journal_lines.c.posted_on >= date(on.year, 1, 1), journal_lines.c.posted_on <= on),
    )
    debit, credit = (await conn.execute(query)).one()
    return balance(accounts[0], int(debit), int(credit))


# --- the portfolio ------------------------------------------------------------------------------------------


async def portfolio(
    store: EventStore, conn: AsyncConnection, book: str, on: date
) -> list[tuple[Loan, Position]]:
    ids = (
        await conn.execute(select(loans.c.loan_id, loans.c.period_code).where(loans.c.kelurahan_code == book))
    ).all()
    found = []
    for loan_id, period_code in ids:
        loan = await load(store, Loan(uuid.UUID(loan_id)), conn=conn)
        _, rules = await PERIODS.parameters_of(
            conn, period_code, loan.approved.parameters_version if loan.approved else None
        )
        found.append((loan, loan.position(on, rules.loans)))
    return found


async def indicators_on(
    store: EventStore, conn: AsyncConnection, book: str, on: date
) -> indicators.Indicators:
    positions = [p for _, p in await portfolio(store, conn, book, on)]
    income = await year_to_date(conn, book, INCOME, on)
    costs = await year_to_date(conn, book, COSTS, on)
    capital = await account_balance(conn, book, "revolving-capital", on)
    return indicators.compute(on, positions, income, costs, capital)


async def upk_indicators(store: EventStore, book: str, on: date) -> indicators.Indicators:
    async with store.engine.connect() as conn:
        return await indicators_on(store, conn, book, on)


async def close_books(
    store: EventStore, actor: Actor, period_code: str, book: str, on: date
) -> list[RecordedEvent]:
    """A book closing on ``on``: the loan-loss reserve brought to what the portfolio needs, then the UPK's
    indicators recorded (with the reserve's provision among the costs). One transaction."""
    async with store.transaction() as conn:
        books = await load(store, Book(book), conn=conn)
        required = sum(p.reserve for _, p in await portfolio(store, conn, book, on))
        current = await account_balance(conn, book, "loan-loss-reserve")
        books.adjust_reserve(period_code, required, current, on)
        recorded = await save(store, books, actor, conn=conn)
        await record_entries(conn, recorded)
        books = await load(store, Book(book), conn=conn)
        figures = recorded_indicators(period_code, book, await indicators_on(store, conn, book, on))
        books.record_indicators(period_code, figures)
        return recorded + await save(store, books, actor, conn=conn)


def recorded_indicators(period_code: str, book: str, i: indicators.Indicators) -> UpkIndicatorsRecorded:
    def figure(x: indicators.Indicator) -> IndicatorFigure:
        return IndicatorFigure(value_pct=x.value_pct, band=str(x.band) if x.band else None)

    return UpkIndicatorsRecorded(
        period_code=period_code,
        kelurahan_code=book,
        as_of=i.as_of,
        active_ksm=i.active_ksm,
        outstanding_rupiah=i.outstanding,
        lar=figure(i.lar),
        par=figure(i.par),
        rr=figure(i.rr),
        ccr=figure(i.ccr),
        roi=figure(i.roi),
        par30_pct=i.par30,
        par90_pct=i.par90,
    )


# --- loaders that answer 404 --------------------------------------------------------------------------------


def loan_missing(loan_id: uuid.UUID) -> str:
    return f"There is no loan {loan_id}."


def grant_missing(grant_id: uuid.UUID) -> str:
    return f"There is no grant {grant_id}."


async def get_loan(store: EventStore, loan_id: uuid.UUID) -> Loan:
    return await load(store, Loan(loan_id), missing=loan_missing(loan_id))


async def get_grant(store: EventStore, grant_id: uuid.UUID) -> Grant:
    return await load(store, Grant(grant_id), missing=grant_missing(grant_id))


async def get_allocation(
    store: EventStore, period_code: str, kelurahan_code: str, year: int
) -> BlmAllocation:
    allocation = await load(store, BlmAllocation(period_code, kelurahan_code, year))
    if allocation.allocated is None:
        raise NotFound(f"There is no {year} BLM allocation for kelurahan {kelurahan_code} in {period_code}.")
    return allocation
