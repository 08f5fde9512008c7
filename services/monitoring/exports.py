"""Every table the dashboard's pages show, as CSV or XLSX, as of a day and within the caller's scope: a
download holds what the caller may see on the page it came from, and nothing else."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from openpyxl import Workbook

from services.monitoring.dashboard_api import READ, AsOf, Within, _figures, _on, _within
from shared.errors import InvalidInput
from shared.security.guard import Guard, Guarded

router = APIRouter()

# The overview's and the list pages' tables: of the region asked for, narrowed to the caller's scope.
REGION_TABLES = ("cities", "portfolio", "handovers")
# A city page's tables: within=<city code>, a city the caller sees.
CITY_TABLES = ("kelurahan", "factors", "barriers")
# A kelurahan page's tables: of one kelurahan, or of every kelurahan of a city (or a kecamatan), narrowed
# to the caller's scope (a facilitator's city export is its kelurahan's).
KELURAHAN_TABLES = ("timeline", "blm", "tranches", "ksm", "par-trend")
TABLES = (*REGION_TABLES, *CITY_TABLES, *KELURAHAN_TABLES)
# Which Measures call gives each kelurahan table's rows.
KELURAHAN_ROWS = {
    "timeline": "timeline_rows",
    "blm": "blm",
    "tranches": "tranches",
    "ksm": "ksm_counts",
    "par-trend": "par_trend",
}
BARRIER_COLUMNS = (
    "city_code",
    "barrier",
    "kelurahan_code",
    "step",
    "source",
    "tranche",
    "waiting_days",
    "value",
)


async def _table(
    request: Request, guard: Guard, name: str, on: date, within: str | None
) -> list[dict[str, Any]]:
    if name == "cities":
        rows = (await _figures(request, on, None, "overview", _within(guard, within)))["by_progress"]
        return [
            {k: v for k, v in r.items() if k != "ksm"} | {f"ksm_{t}": n for t, n in r["ksm"].items()}
            for r in rows
        ]
    if name in CITY_TABLES:
        if within is None or len(within) != 5:
            raise InvalidInput(f"The {name} table is exported per city: give within=<city code>.")
        await guard.check(within, hidden=f"There is no city {within}.")
        city = await _figures(request, on, None, "city", within)
        if name == "factors":
            return [
                {"city_code": within, "factor": factor, "measure": measure, "value": value}
                for factor, measures in city["factors"].items()
                for measure, value in measures.items()
            ]
        if name == "barriers":
            return _barriers(within, city["barriers"])
        return list(city["kelurahan"])
    if name in KELURAHAN_TABLES:
        region = _within(guard, within)
        if region is None or "." not in region:
            raise InvalidInput(
                f"The {name} table is exported per city or kelurahan: give within=<city or kelurahan code>."
            )
        await guard.check(region, hidden=f"There is no region {region}.")
        return list(await _figures(request, on, None, KELURAHAN_ROWS[name], region))
    return list(await _figures(request, on, None, name, _within(guard, within)))


def _barriers(city: str, barriers: dict[str, Any]) -> list[dict[str, Any]]:
    """The city page's barriers: its headline figures, then a row per waiting step and tranche."""
    rows: list[dict[str, Any]] = [
        {"barrier": name, "value": barriers[name]}
        for name in ("overdue_steps", "kelurahan_overdue", "ddub_unpaid", "handover_not_started")
    ]
    rows += [{"barrier": "longest_waiting", "step": w["next_step"], **w} for w in barriers["longest_waiting"]]
    rows += [{"barrier": "tranche_waiting_transfer", **w} for w in barriers["tranches_waiting_transfer"]]
    return [{c: ({"city_code": city} | row).get(c) for c in BARRIER_COLUMNS} for row in rows]


@router.get(
    "/exports/{table}.{fmt}",
    response_class=Response,
    tags=["dashboard"],
    summary="A dashboard table as CSV or XLSX, within the caller's scope",
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
async def export(
    request: Request,
    table: Annotated[str, Path(pattern=rf"^({'|'.join(TABLES)})$")],
    fmt: Annotated[str, Path(pattern=r"^(csv|xlsx)$")],
    as_of: AsOf = None,
    within: Within = None,
    guard: Guard = Guarded(READ),
) -> Response:
    on = _on(as_of)
    rows = await _table(request, guard, table, on, within)
    columns = list(rows[0]) if rows else ["empty"]
    name = f"p2kp-{table}-{on}"
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            text.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = table
    sheet.append(columns)
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str | date) else str(value)
