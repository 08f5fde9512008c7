"""BLM allocations and tranches, grants and the BKM's own entries without a database: the DDUB share by
fiscal category, the tranche split, the gates of each tranche, the verification chain, LPJ, swadaya and
capitalisation; grants to KSM lingkungan/sosial; direct postings, reserve adjustments and reversals
(reference §2.3, §2.5, §5.4)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import pytest
from pydantic import ValidationError

from services.ledger.accounts import Book, Kind, balance, entry, kind_of, reversal
from services.ledger.blm import BlmAllocation, Gates, Stage, split
from services.ledger.grants import Grant
from shared.contracts.institutions import KsmType
from shared.contracts.ledger import (
    BlmAllocated,
    EntryKind,
    EntryPosted,
    GrantApproved,
    GrantDisbursed,
    GrantLpjAccepted,
    JournalEntry,
    Level,
    Line,
    RevolvingFundCapitalised,
    Source,
    SourceShare,
    SwadayaReceived,
    TrancheReceived,
    TrancheRequested,
    TrancheReturned,
)
from shared.contracts.targeting import BlmRules, FiscalCategory
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import DomainEvent

PERIOD, KELURAHAN, YEAR = "KOTAKU", "33.74.01.1001", 2026
RULES = BlmRules()
OPEN = Gates(bkm_in_term=True, pjm_approved=True, renta_approved=True)
CLOSED = Gates(bkm_in_term=False, pjm_approved=False, renta_approved=False)
ON = date(2026, 3, 2)
# Bangsal (reference §5.4): Rp1,550 juta, IFKD rendah -> APBN 1,472.5 juta, APBD (DDUB) 77.5 juta.
TOTAL = 1_550_000_000


def allocation(
    total: int = TOTAL, category: FiscalCategory = "rendah", swadaya: int = 10_000_000
) -> list[DomainEvent]:
    blm = BlmAllocation(PERIOD, KELURAHAN, YEAR)
    blm.allocate(total, category, "DIPA 033.11.2026", swadaya, RULES, 1)
    return blm.pending


def allocated(
    total: int = TOTAL, category: FiscalCategory = "rendah", swadaya: int = 10_000_000
) -> BlmAllocation:
    """A BLM allocation loaded from its stored allocation event."""
    return BlmAllocation(PERIOD, KELURAHAN, YEAR).replay(allocation(total, category, swadaya))


def verified(blm: BlmAllocation, source: Source, number: int) -> None:
    for level in Level:
        blm.verify(source, number, level, ON, f"{level}.ani")


def received(blm: BlmAllocation, source: Source, number: int, gates: Gates = OPEN) -> None:
    blm.request(source, number, ON, f"PP-BLM {source}-{number}", gates)
    verified(blm, source, number)
    blm.transfer(source, number, ON, f"SP2D {source}-{number}")
    blm.receive(source, number, ON)


def lpj_accepted(blm: BlmAllocation, source: Source, number: int) -> None:
    blm.submit_lpj(source, number, ON, f"LPJ {source}-{number}")
    blm.accept_lpj(source, number, ON, "satker.budi")


def entries(events: Sequence[DomainEvent]) -> list[JournalEntry]:
    found = (getattr(e, "entry", None) for e in events)
    return [e for e in found if isinstance(e, JournalEntry)]


# --- allocation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "pct"), [("rendah", 5), ("sedang", 10), ("tinggi", 15), ("sangat_tinggi", 20)]
)
def test_the_ddub_share_follows_the_fiscal_category(category: FiscalCategory, pct: int) -> None:
    blm = BlmAllocation(PERIOD, KELURAHAN, YEAR)
    blm.allocate(1_000_000_000, category, "DIPA 033.11.2026", 0, RULES, 3)
    (event,) = blm.pending
    assert isinstance(event, BlmAllocated)
    ddub = 1_000_000_000 * pct // 100
    assert event.sources == (
        SourceShare(source=Source.APBN, amount_rupiah=1_000_000_000 - ddub, reference="DIPA 033.11.2026"),
        SourceShare(source=Source.DDUB, amount_rupiah=ddub),
    )
    assert (event.ddub_pct, event.fiscal_category, event.parameters_version) == (pct, category, 3)
    assert event.tranche_split_pct == (20, 50, 30)
    assert blm.share(Source.SWADAYA) == 0


def test_the_reference_example_and_a_swadaya_pledge() -> None:
    blm = allocated()
    assert blm.share(Source.APBN) == 1_472_500_000
    assert blm.share(Source.DDUB) == 77_500_000
    assert blm.share(Source.SWADAYA) == 10_000_000
    assert blm.share(Source.APBN) + blm.share(Source.DDUB) == TOTAL
    with pytest.raises(Conflict, match="already allocated"):
        blm.allocate(TOTAL, "rendah", "DIPA", 0, RULES, 1)
    odd = allocated(total=75_000_013, category="sedang")
    assert odd.share(Source.APBN) + odd.share(Source.DDUB) == 75_000_013
    assert odd.share(Source.DDUB) == 7_500_001  # 7,500,001.3 to the nearest rupiah


def test_tranches_split_20_50_30_and_the_last_takes_the_remainder() -> None:
    blm = allocated()
    assert [blm.tranche(Source.APBN, n).amount for n in (1, 2, 3)] == [294_500_000, 736_250_000, 441_750_000]
    assert [blm.tranche(Source.DDUB, n).amount for n in (1, 2, 3)] == [15_500_000, 38_750_000, 23_250_000]
    assert split(1_000_000_007, (20, 50, 30)) == [200_000_001, 500_000_003, 300_000_003]
    assert split(10, (20, 50, 30)) == [2, 5, 3]
    assert split(1, (20, 50, 30)) == [0, 0, 1]
    for source in (Source.APBN, Source.DDUB):
        assert sum(blm.tranche(source, n).amount for n in (1, 2, 3)) == blm.share(source)
    with pytest.raises(NotFound, match="no APBN tranche 4"):
        blm.tranche(Source.APBN, 4)
    with pytest.raises(InvalidInput, match="not in tranches"):
        blm.tranche(Source.SWADAYA, 1)
    with pytest.raises(NotFound, match="has not been allocated"):
        BlmAllocation(PERIOD, KELURAHAN, YEAR).tranche(Source.APBN, 1)


# --- gates, verification, transfer, receipt --------------------------------------------------------------


def test_the_first_tranche_is_blocked_naming_every_missing_gate() -> None:
    blm = allocated()
    assert blm.blocked_by(Source.APBN, 1, CLOSED) == [
        "a BKM in term (constituted and not expired)",
        "an approved PJM Pronangkis",
        "an approved Renta",
    ]
    with pytest.raises(Conflict, match="APBN tranche 1 is blocked") as blocked:
        blm.request(Source.APBN, 1, ON, "PP-BLM 1", CLOSED)
    for gate in ("BKM", "PJM", "Renta"):
        assert gate in blocked.value.detail
    only_renta = Gates(bkm_in_term=True, pjm_approved=True, renta_approved=False)
    assert blm.blocked_by(Source.APBN, 1, only_renta) == ["an approved Renta"]
    with pytest.raises(Conflict, match="Renta") as one:
        blm.request(Source.DDUB, 1, ON, "PP-BLM 1", only_renta)
    assert "BKM" not in one.value.detail and "PJM" not in one.value.detail
    assert blm.pending == []
    assert blm.blocked_by(Source.APBN, 1, OPEN) == []
    blm.request(Source.APBN, 1, ON, "PP-BLM 1", OPEN)
    assert blm.pending == [
        TrancheRequested(
            period_code=PERIOD,
            kelurahan_code=KELURAHAN,
            year=YEAR,
            source=Source.APBN,
            tranche=1,
            amount_rupiah=294_500_000,
            requested_on=ON,
            document="PP-BLM 1",
        )
    ]


def test_the_next_tranche_waits_for_the_accepted_lpj_of_the_previous_one_of_the_same_source() -> None:
    blm = allocated()
    with pytest.raises(Conflict, match="needs the accepted LPJ of APBN tranche 1"):
        blm.request(Source.APBN, 2, ON, "PP-BLM 2", OPEN)
    received(blm, Source.APBN, 1)
    received(blm, Source.DDUB, 1)
    blm.submit_lpj(Source.APBN, 1, ON, "LPJ 1")
    assert blm.blocked_by(Source.APBN, 2, OPEN) == ["the accepted LPJ of APBN tranche 1"]
    with pytest.raises(Conflict, match="accepted LPJ of APBN tranche 1"):
        blm.request(Source.APBN, 2, ON, "PP-BLM 2", OPEN)
    blm.accept_lpj(Source.APBN, 1, ON, "satker.budi")
    # The DDUB tranche 2 still waits for its own tranche 1's LPJ; later gates ignore the first ones.
    with pytest.raises(Conflict, match="accepted LPJ of DDUB tranche 1"):
        blm.request(Source.DDUB, 2, ON, "PP-BLM 2", OPEN)
    assert blm.blocked_by(Source.APBN, 2, CLOSED) == []
    blm.request(Source.APBN, 2, ON, "PP-BLM 2", CLOSED)
    assert blm.tranche(Source.APBN, 2).stage is Stage.REQUESTED
    with pytest.raises(Conflict, match="accepted LPJ of APBN tranche 2"):
        blm.request(Source.APBN, 3, ON, "PP-BLM 3", OPEN)


def test_verification_follows_faskel_korkot_satker() -> None:
    blm = allocated()
    with pytest.raises(Conflict, match="only a requested tranche is verified"):
        blm.verify(Source.APBN, 1, Level.FASKEL, ON, "faskel.ani")
    blm.request(Source.APBN, 1, ON, "PP-BLM 1", OPEN)
    with pytest.raises(Conflict, match="it needs faskel next, not korkot"):
        blm.verify(Source.APBN, 1, Level.KORKOT, ON, "korkot.budi")
    blm.verify(Source.APBN, 1, Level.FASKEL, ON, "faskel.ani")
    with pytest.raises(Conflict, match="verified by faskel, it needs korkot next, not satker"):
        blm.verify(Source.APBN, 1, Level.SATKER, ON, "satker.citra")
    with pytest.raises(Conflict, match="it needs korkot next, not faskel"):
        blm.verify(Source.APBN, 1, Level.FASKEL, ON, "faskel.ani")
    with pytest.raises(Conflict, match="transferred once verified at every level"):
        blm.transfer(Source.APBN, 1, ON, "SP2D 1")
    blm.verify(Source.APBN, 1, Level.KORKOT, ON, "korkot.budi")
    blm.verify(Source.APBN, 1, Level.SATKER, ON, "satker.citra")
    t = blm.tranche(Source.APBN, 1)
    assert (t.stage, t.verified, t.next_level) == (Stage.VERIFIED, list(Level), None)
    with pytest.raises(Conflict, match="only a requested tranche is verified"):
        blm.verify(Source.APBN, 1, Level.SATKER, ON, "satker.citra")
    with pytest.raises(Conflict, match="already verified"):
        blm.request(Source.APBN, 1, ON, "PP-BLM 1", OPEN)
    again = BlmAllocation(PERIOD, KELURAHAN, YEAR).replay([*allocation(), *blm.pending])
    assert again.tranches == blm.tranches


def test_returned_files_go_back_to_returned_and_are_requested_again_from_the_start() -> None:
    blm = allocated()
    blm.request(Source.DDUB, 1, ON, "PP-BLM 1", OPEN)
    blm.verify(Source.DDUB, 1, Level.FASKEL, ON, "faskel.ani")
    with pytest.raises(Conflict, match="needs korkot next, not satker"):
        blm.return_files(Source.DDUB, 1, Level.SATKER, ON, "kuitansi kurang")
    blm.return_files(Source.DDUB, 1, Level.KORKOT, date(2026, 3, 5), "kuitansi kurang")
    assert blm.pending[-1] == TrancheReturned(
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        year=YEAR,
        source=Source.DDUB,
        tranche=1,
        level=Level.KORKOT,
        returned_on=date(2026, 3, 5),
        reason="kuitansi kurang",
    )
    t = blm.tranche(Source.DDUB, 1)
    assert (t.stage, t.returned_reason) == (Stage.RETURNED, "kuitansi kurang")
    with pytest.raises(Conflict, match="returned; only a requested tranche is verified"):
        blm.verify(Source.DDUB, 1, Level.KORKOT, ON, "korkot.budi")
    with pytest.raises(Conflict, match="transferred once verified"):
        blm.transfer(Source.DDUB, 1, ON, "SP2D")
    blm.request(Source.DDUB, 1, date(2026, 3, 9), "PP-BLM 1 rev", OPEN)
    t = blm.tranche(Source.DDUB, 1)
    assert (t.stage, t.verified, t.returned_reason, t.next_level) == (Stage.REQUESTED, [], None, Level.FASKEL)
    verified(blm, Source.DDUB, 1)
    assert blm.tranche(Source.DDUB, 1).stage is Stage.VERIFIED


def test_a_transferred_tranche_is_received_into_the_bank_and_the_sources_fund() -> None:
    blm = allocated()
    blm.request(Source.APBN, 1, ON, "PP-BLM 1", OPEN)
    verified(blm, Source.APBN, 1)
    with pytest.raises(Conflict, match="receives it once transferred"):
        blm.receive(Source.APBN, 1, ON)
    blm.transfer(Source.APBN, 1, date(2026, 3, 20), "SP2D 0001")
    assert blm.tranche(Source.APBN, 1).stage is Stage.TRANSFERRED
    with pytest.raises(Conflict, match="is transferred; it is transferred once verified"):
        blm.transfer(Source.APBN, 1, ON, "SP2D 0002")
    blm.receive(Source.APBN, 1, date(2026, 3, 23))
    event = blm.pending[-1]
    assert isinstance(event, TrancheReceived)
    assert event.entry.lines == (
        Line(account="bank", debit=294_500_000),
        Line(account="blm-received:APBN", credit=294_500_000),
    )
    assert (event.entry.book, event.entry.posted_on) == (KELURAHAN, date(2026, 3, 23))
    assert blm.received == {Source.APBN: 294_500_000}
    assert blm.tranche(Source.APBN, 1).stage is Stage.RECEIVED
    with pytest.raises(Conflict, match="is received; the BKM receives it once transferred"):
        blm.receive(Source.APBN, 1, ON)
    rebuilt = BlmAllocation(PERIOD, KELURAHAN, YEAR).replay([*allocation(), *blm.pending])
    assert rebuilt.received == blm.received and rebuilt.tranches == blm.tranches


def test_an_lpj_is_submitted_for_a_received_tranche_then_accepted() -> None:
    blm = allocated()
    with pytest.raises(Conflict, match=r"An LPJ is submitted for a received tranche.*not requested"):
        blm.submit_lpj(Source.APBN, 1, ON, "LPJ 1")
    with pytest.raises(Conflict, match="is not submitted; it cannot be accepted"):
        blm.accept_lpj(Source.APBN, 1, ON, "satker.budi")
    received(blm, Source.APBN, 1)
    blm.submit_lpj(Source.APBN, 1, ON, "LPJ 1")
    with pytest.raises(Conflict, match="its LPJ is already submitted"):
        blm.submit_lpj(Source.APBN, 1, ON, "LPJ 1 again")
    blm.accept_lpj(Source.APBN, 1, ON, "satker.budi")
    assert blm.tranche(Source.APBN, 1).lpj == "accepted"
    with pytest.raises(Conflict, match="is accepted; it cannot be accepted"):
        blm.accept_lpj(Source.APBN, 1, ON, "satker.budi")
    with pytest.raises(Conflict, match="its LPJ is already accepted"):
        blm.submit_lpj(Source.APBN, 1, ON, "LPJ 1 again")


def test_swadaya_is_received_up_to_the_pledge() -> None:
    blm = allocated(swadaya=10_000_000)
    blm.receive_swadaya(6_000_000, ON)
    event = blm.pending[-1]
    assert isinstance(event, SwadayaReceived)
    assert event.entry.lines == (
        Line(account="bank", debit=6_000_000),
        Line(account="blm-received:SWADAYA", credit=6_000_000),
    )
    with pytest.raises(InvalidInput, match="Rp10,000,000 was pledged and Rp6,000,000 received; Rp4,000,001"):
        blm.receive_swadaya(4_000_001, ON)
    blm.receive_swadaya(4_000_000, ON)
    assert blm.received[Source.SWADAYA] == 10_000_000
    with pytest.raises(InvalidInput, match="too much"):
        blm.receive_swadaya(1, ON)
    with pytest.raises(InvalidInput, match="Swadaya of Rp0 was pledged"):
        allocated(swadaya=0).receive_swadaya(1, ON)
    with pytest.raises(NotFound, match="has not been allocated"):
        BlmAllocation(PERIOD, KELURAHAN, YEAR).receive_swadaya(1, ON)


def test_capitalising_is_limited_to_what_was_received_and_not_yet_capitalised() -> None:
    blm = allocated()
    with pytest.raises(Conflict, match="Only Rp0 of APBN BLM"):
        blm.capitalise(Source.APBN, 1, ON)
    received(blm, Source.APBN, 1)
    blm.capitalise(Source.APBN, 94_500_000, ON)
    event = blm.pending[-1]
    assert isinstance(event, RevolvingFundCapitalised)
    assert event.entry.lines == (
        Line(account="blm-received:APBN", debit=94_500_000),
        Line(account="revolving-capital", credit=94_500_000),
    )
    with pytest.raises(Conflict, match="Only Rp200,000,000 of APBN BLM received for 2026"):
        blm.capitalise(Source.APBN, 200_000_001, ON)
    with pytest.raises(Conflict, match="Only Rp0 of DDUB"):
        blm.capitalise(Source.DDUB, 1, ON)
    blm.capitalise(Source.APBN, 200_000_000, ON)
    assert blm.capitalised == {Source.APBN: 294_500_000}
    with pytest.raises(Conflict, match="Only Rp0 of APBN"):
        blm.capitalise(Source.APBN, 1, ON)


def test_every_blm_entry_balances_and_the_books_sum_to_zero() -> None:
    blm = allocated()
    received(blm, Source.APBN, 1)
    received(blm, Source.DDUB, 1)
    blm.receive_swadaya(2_500_000, ON)
    blm.capitalise(Source.DDUB, 15_500_000, ON)
    booked = entries(blm.pending)
    assert len(booked) == 4
    totals: dict[str, int] = {}
    for e in booked:
        assert sum(x.debit for x in e.lines) == sum(x.credit for x in e.lines) == e.amount
        for x in e.lines:
            totals[x.account] = totals.get(x.account, 0) + x.debit - x.credit
    assert sum(totals.values()) == 0
    assert totals["bank"] == 294_500_000 + 15_500_000 + 2_500_000
    assert -totals["revolving-capital"] == 15_500_000 and "blm-received:DDUB" not in {
        a for a, v in totals.items() if v
    }


# --- grants ----------------------------------------------------------------------------------------------

GRANT_ID = uuid.UUID("9a470000-0000-4000-8000-000000000001")
KSM_ID = uuid.UUID("5a1e0000-0000-4000-8000-00000000000b")


def approve_grant(grant: Grant, ksm_type: KsmType = KsmType.LINGKUNGAN) -> None:
    grant.approve(
        period_code=PERIOD,
        kelurahan_code=KELURAHAN,
        ksm_id=KSM_ID,
        ksm_type=ksm_type,
        proposal="Proposal KSM 03/2026",
        purpose="Perbaikan drainase RT 03",
        amount=25_000_000,
        approved_on=ON,
    )


def test_a_grant_to_a_ksm_ekonomi_is_a_conflict() -> None:
    grant = Grant(GRANT_ID)
    with pytest.raises(Conflict, match="a KSM ekonomi borrows from the revolving fund"):
        approve_grant(grant, KsmType.EKONOMI)
    assert grant.pending == [] and not grant.exists


@pytest.mark.parametrize("ksm_type", [KsmType.LINGKUNGAN, KsmType.SOSIAL])
def test_a_grant_is_approved_disbursed_and_accounted_for(ksm_type: KsmType) -> None:
    grant = Grant(GRANT_ID)
    approve_grant(grant, ksm_type)
    approved = grant.pending[-1]
    assert isinstance(approved, GrantApproved)
    assert approved.entry.lines == (
        Line(account="grant-expense", debit=25_000_000),
        Line(account=f"grants-payable:{KSM_ID}", credit=25_000_000),
    )
    with pytest.raises(Conflict, match="already exists"):
        approve_grant(grant, ksm_type)
    with pytest.raises(Conflict, match="has not been disbursed; its LPJ comes after"):
        grant.accept_lpj("LPJ hibah", ON)
    with pytest.raises(Conflict, match="was approved on 2026-03-02, after 2026-03-01"):
        grant.disburse(date(2026, 3, 1))
    grant.disburse(date(2026, 3, 10))
    disbursed = grant.pending[-1]
    assert isinstance(disbursed, GrantDisbursed)
    assert disbursed.entry.lines == (
        Line(account=f"grants-payable:{KSM_ID}", debit=25_000_000),
        Line(account="bank", credit=25_000_000),
    )
    with pytest.raises(Conflict, match="already disbursed on 2026-03-10"):
        grant.disburse(date(2026, 3, 11))
    grant.accept_lpj("LPJ hibah 03/2026", date(2026, 6, 1))
    assert isinstance(grant.pending[-1], GrantLpjAccepted)
    with pytest.raises(Conflict, match="was accepted on 2026-06-01"):
        grant.accept_lpj("LPJ again", date(2026, 6, 2))
    rebuilt = Grant(GRANT_ID).replay(grant.pending)
    assert (rebuilt.disbursed_on, rebuilt.lpj_accepted_on, rebuilt.city_code) == (
        date(2026, 3, 10),
        date(2026, 6, 1),
        "33.74",
    )
    payable = sum(
        x.credit - x.debit for e in entries(grant.pending) for x in e.lines if x.account.startswith("grants-")
    )
    assert payable == 0


# --- the BKM's own entries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "debited", "credited"),
    [
        (EntryKind.OPERATING_COST, "operating-cost", "bank"),
        (EntryKind.OTHER_INCOME, "bank", "other-income"),
        (EntryKind.CAPITAL, "bank", "revolving-capital"),
    ],
)
def test_direct_entries_book_their_accounts(kind: EntryKind, debited: str, credited: str) -> None:
    book = Book(KELURAHAN)
    booked = book.post("KOTAKU", kind, 1_250_000, ON, "BOP Maret")
    assert booked.lines == (Line(account=debited, debit=1_250_000), Line(account=credited, credit=1_250_000))
    assert book.pending == [
        EntryPosted(period_code=PERIOD, kelurahan_code=KELURAHAN, kind=kind, entry=booked)
    ]
    assert (book.stream, book.city_code) == (f"book-{KELURAHAN}", "33.74")


@pytest.mark.parametrize("kind", [EntryKind.RESERVE, EntryKind.REVERSAL])
def test_reserve_and_reversal_entries_are_not_posted_by_hand(kind: EntryKind) -> None:
    book = Book(KELURAHAN)
    with pytest.raises(InvalidInput, match="not posted by hand"):
        book.post(PERIOD, kind, 1_000, ON, "x")
    assert book.pending == []


def test_the_reserve_is_adjusted_up_and_down_to_what_is_required() -> None:
    book = Book(KELURAHAN)
    up = book.adjust_reserve(PERIOD, 500_000, 200_000, date(2026, 3, 31))
    assert up is not None and up.lines == (
        Line(account="provision-expense", debit=300_000),
        Line(account="loan-loss-reserve", credit=300_000),
    )
    assert "Rp500,000" in up.memo
    down = book.adjust_reserve(PERIOD, 100_000, 500_000, date(2026, 4, 30))
    assert down is not None and down.lines == (
        Line(account="loan-loss-reserve", debit=400_000),
        Line(account="provision-expense", credit=400_000),
    )
    assert book.adjust_reserve(PERIOD, 100_000, 100_000, date(2026, 5, 31)) is None
    assert [e.kind for e in book.pending if isinstance(e, EntryPosted)] == [EntryKind.RESERVE] * 2
    assert len(book.pending) == 2
    debit = sum(x.debit for e in (up, down) for x in e.lines if x.account == "loan-loss-reserve")
    credit = sum(x.credit for e in (up, down) for x in e.lines if x.account == "loan-loss-reserve")
    assert 200_000 + balance("loan-loss-reserve", debit, credit) == 100_000  # from 200,000 to 100,000


def test_a_direct_entry_is_reversed_once() -> None:
    book = Book(KELURAHAN)
    cost = book.post(PERIOD, EntryKind.OPERATING_COST, 750_000, ON, "ATK")
    with pytest.raises(InvalidInput, match="cannot be dated before the entry it reverses"):
        book.reverse(PERIOD, cost.entry_id, date(2026, 3, 1), "double")
    undone = book.reverse(PERIOD, cost.entry_id, date(2026, 3, 3), "dicatat dua kali")
    assert undone.reverses == cost.entry_id
    assert undone.lines == (
        Line(account="operating-cost", credit=750_000),
        Line(account="bank", debit=750_000),
    )
    assert undone.memo == "Koreksi: dicatat dua kali"
    loaded = Book(KELURAHAN).replay(book.pending)
    for b in (book, loaded):
        with pytest.raises(Conflict, match="already reversed"):
            b.reverse(PERIOD, cost.entry_id, date(2026, 3, 4), "again")
        with pytest.raises(Conflict, match="is itself a reversal"):
            b.reverse(PERIOD, undone.entry_id, date(2026, 3, 4), "undo the undo")
    with pytest.raises(NotFound, match="corrected through them"):
        book.reverse(PERIOD, uuid.uuid4(), ON, "x")
    assert len(book.pending) == 2


# --- the chart and entries -----------------------------------------------------------------------------


def test_balances_are_on_the_accounts_normal_side() -> None:
    assert kind_of("loans-receivable:abc") is Kind.ASSET and kind_of("blm-received:APBN") is Kind.EQUITY
    assert balance("bank", 100, 30) == 70
    assert balance("write-offs", 100, 30) == 70
    assert balance("fee-income", 30, 100) == 70
    assert balance("loan-loss-reserve", 30, 100) == 70
    assert balance("grants-payable:x", 30, 100) == 70


def test_entries_leave_out_zero_lines_and_refuse_unknown_accounts_and_imbalance() -> None:
    booked = entry(KELURAHAN, ON, "x", debit={"bank": 100}, credit={"fee-income": 0, "other-income": 100})
    assert booked.lines == (Line(account="bank", debit=100), Line(account="other-income", credit=100))
    with pytest.raises(ValueError, match="petty-cash is not in the chart of accounts"):
        entry(KELURAHAN, ON, "x", debit={"petty-cash": 100}, credit={"bank": 100})
    with pytest.raises(ValidationError, match="an entry must balance"):
        entry(KELURAHAN, ON, "x", debit={"bank": 100}, credit={"other-income": 99})
    with pytest.raises(ValidationError, match="either a debit or a credit"):
        Line(account="bank", debit=1, credit=1)
    undone = reversal(booked, date(2026, 3, 3), "y")
    assert [(x.account, x.debit, x.credit) for x in undone.lines] == [
        ("bank", 0, 100),
        ("other-income", 100, 0),
    ]
    assert (undone.reverses, undone.book) == (booked.entry_id, KELURAHAN)
