"""Bulk nomination of kelurahan sasaran from a spreadsheet: all rows or none.

Every row is checked first (code, level, scope, figures, state). If any row is rejected nothing is
imported and the report says why, row by row; the office fixes the sheet and uploads it again. Rows
already nominated with the same figures count as unchanged, so uploading the same sheet twice is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from services.targeting import handlers
from services.targeting.sasaran import KelurahanSasaran
from shared.aggregate import load
from shared.contracts.targeting import KelurahanIndicators
from shared.errors import DomainError, NotFound
from shared.eventstore import EventStore
from shared.regions import Level, require
from shared.security.guard import Guard
from shared.security.policy import Forbidden

COLUMNS = ("kelurahan_code", "population", "households", "poor_households", "source")


@dataclass(frozen=True)
class RowOutcome:
    row: int
    kelurahan_code: str
    outcome: str  # accepted (checked, not imported), nominated, unchanged, rejected
    reason: str = ""
    # Why a row was refused access: "hidden" (not the caller's area) or "forbidden" (its role or the
    # city's authority); None when it was refused on its content.
    refusal: str | None = None


@dataclass(frozen=True)
class ImportReport:
    imported: bool
    rows: list[RowOutcome]

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.rows)


async def import_nominations(
    store: EventStore, guard: Guard, period_code: str, table: list[tuple[int, dict[str, str]]]
) -> ImportReport:
    await handlers.get_program_period(store, period_code)
    checked: list[tuple[RowOutcome, KelurahanIndicators | None]] = []
    seen: dict[str, int] = {}
    for number, row in table:
        code = row.get("kelurahan_code", "")
        indicators, reason, refusal = await _check_row(store, guard, period_code, row)
        if not reason and code in seen:
            reason = f"the same kelurahan is already in row {seen[code]}"
        seen.setdefault(code, number)
        outcome = RowOutcome(number, code, "rejected" if reason else "accepted", reason, refusal)
        checked.append((outcome, indicators))

    if any(outcome.reason for outcome, _ in checked) or not checked:
        return ImportReport(imported=False, rows=[outcome for outcome, _ in checked])

    outcomes = []
    async with store.transaction() as conn:  # one unit of work: every row commits, or none does
        for checked_row, indicators in checked:
            assert indicators is not None
            code = checked_row.kelurahan_code
            recorded = await handlers.nominate(store, guard.actor, period_code, code, indicators, conn)
            outcomes.append(RowOutcome(checked_row.row, code, "nominated" if recorded else "unchanged"))
    return ImportReport(imported=True, rows=outcomes)


async def _check_row(
    store: EventStore, guard: Guard, period_code: str, row: dict[str, str]
) -> tuple[KelurahanIndicators | None, str, str | None]:
    """The row's indicators, or why it cannot be imported (and whether that is an access refusal)."""
    missing = [c for c in COLUMNS if not row.get(c)]
    if missing:
        return None, "missing " + ", ".join(missing), None
    code = row["kelurahan_code"]
    try:
        region = require(code, Level.DESA_KELURAHAN, what="kelurahan")
        await guard.check(region.code, hidden=f"{code} is not in your area.")
    except NotFound as exc:
        return None, exc.detail, "hidden"
    except Forbidden as exc:
        return None, exc.detail, "forbidden"
    except DomainError as exc:
        return None, exc.detail, None
    try:
        indicators = KelurahanIndicators.model_validate({k: row[k] for k in COLUMNS[1:]})
        sasaran = await load(store, KelurahanSasaran(period_code, code))
        sasaran.nominate(region, indicators)  # raises if the state forbids it; nothing is saved here
    except DomainError as exc:
        return None, exc.detail, None
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
        return None, reason, None
    return indicators, "", None
