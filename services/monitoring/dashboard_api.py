"""The dashboard's data: every figure as of a day, within the caller's scope; data-as-of and lag;
rebuilds; frozen reports. The tables' exports are in ``exports.py``."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.monitoring.generations import Generations
from services.monitoring.memo import Memo, memo_of
from services.monitoring.readmodels import frozen_reports
from shared.clock import today
from shared.contracts.handover import CITY_CODE
from shared.contracts.targeting import KELURAHAN_CODE, PERIOD_CODE
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import as_utc, utcnow
from shared.security.guard import Guard, Guarded
from shared.security.policy import ALL_ROLES, read, write
from shared.security.principal import REGION_CODE, Role, covers

router = APIRouter()

READ = read("monitoring.dashboard.read")
# A city's page is city level: a kelurahan's facilitator or BKM officer reads its kelurahan's.
READ_CITY = read("monitoring.city.read", ALL_ROLES - {Role.FACILITATOR, Role.BKM_OFFICER})
LAG_SECONDS = 3.0  # how long the status waits for the brokers' end offsets before saying "unknown"
READ_STATUS = read("monitoring.projection.status", national=True)
REBUILD = write("monitoring.projection.rebuild", frozenset({Role.NATIONAL_ADMIN}), national=True)
FREEZE = write("monitoring.report.freeze", frozenset({Role.NATIONAL_ADMIN}), national=True)
EARLIEST = date(1990, 1, 1)
AsOf = Annotated[date | None, Query(description="as of the end of this day (default today)")]
Period = Annotated[str | None, Query(pattern=PERIOD_CODE, description="one program period (default all)")]
Within = Annotated[str | None, Query(pattern=REGION_CODE.pattern, description="a province or city code")]


def _on(as_of: date | None) -> date:
    on = as_of or today()
    if on < EARLIEST:
        raise InvalidInput(f"The program's figures begin in {EARLIEST.year}; {on} is before them.")
    return on


def _within(guard: Guard, within: str | None) -> str | None:
    """The narrower of ``within`` and the caller's scope (a national caller: ``within`` as asked)."""
    principal = guard.principal
    if principal.national:
        return within
    for scope in principal.scopes:
        if within is None or covers(within, scope):
            return scope
        if covers(scope, within):
            return within
    raise NotFound(f"There is no region {within}.")


def _generations(request: Request) -> Generations:
    found: Generations = request.app.state.generations
    return found


def _memo(request: Request) -> Memo:
    return memo_of(request.app.state)


async def _figures(request: Request, on: date, period: str | None, what: str, *args: Any) -> Any:
    """The figures ``what`` of ``Measures`` (callers must not change what they get: it is shared)."""
    return await _memo(request).figures(_generations(request), on, period, what, *args)


async def _json(request: Request, on: date, period: str | None, what: str, *args: Any) -> Response:
    """The figures ``what`` as the JSON answer, encoded once for every reader who asks the same."""
    kept = await _memo(request).kept(_generations(request), on, period, what, *args)
    return Response(kept.body, media_type="application/json")


@router.get(
    "/overview",
    response_model=dict[str, Any],
    tags=["dashboard"],
    summary="National (or regional) overview, cities ranked",
)
async def overview(
    request: Request,
    as_of: AsOf = None,
    period: Period = None,
    within: Within = None,
    guard: Guard = Guarded(READ),
) -> Response:
    return await _json(request, _on(as_of), period, "overview", _within(guard, within))


@router.get(
    "/cities/{city_code}",
    response_model=dict[str, Any],
    tags=["dashboard"],
    summary="A city: its figures, four factors and barriers",
)
async def city(
    request: Request,
    city_code: Annotated[str, Path(pattern=CITY_CODE, examples=["33.74"])],
    as_of: AsOf = None,
    period: Period = None,
    guard: Guard = Guarded(READ_CITY),
) -> Response:
    await guard.check(city_code, hidden=f"There is no city {city_code}.")
    return await _json(request, _on(as_of), period, "city", city_code)


@router.get(
    "/kelurahan/{kelurahan_code}",
    response_model=dict[str, Any],
    tags=["dashboard"],
    summary="A kelurahan: cycle, money, KSM, loans",
)
async def kelurahan(
    request: Request,
    kelurahan_code: Annotated[str, Path(pattern=KELURAHAN_CODE, examples=["33.74.10.1004"])],
    as_of: AsOf = None,
    period: Period = None,
    guard: Guard = Guarded(READ),
) -> Response:
    await guard.check(kelurahan_code, hidden=f"There is no kelurahan {kelurahan_code}.")
    return await _json(request, _on(as_of), period, "kelurahan", kelurahan_code)


@router.get(
    "/portfolio",
    response_model=list[dict[str, Any]],
    tags=["dashboard"],
    summary="The UPK indicators at each UPK's last book closing",
)
async def portfolio(
    request: Request,
    as_of: AsOf = None,
    within: Within = None,
    limit: Annotated[
        int | None, Query(ge=1, le=5000, description="at most this many UPK (default all)")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="skip this many first")] = 0,
    guard: Guard = Guarded(READ),
) -> Response:
    """Ordered by kelurahan code; ``X-Total-Count`` says how many there are in all."""
    kept = await _memo(request).kept(
        _generations(request), _on(as_of), None, "portfolio", _within(guard, within)
    )
    rows = kept.figures
    whole = offset == 0 and (limit is None or limit >= len(rows))
    body = kept.body if whole else pydantic_core.to_json(rows[offset : offset + limit if limit else None])
    return Response(body, media_type="application/json", headers={"X-Total-Count": str(len(rows))})


@router.get(
    "/handovers",
    response_model=list[dict[str, Any]],
    tags=["dashboard"],
    summary="Each city's handover stage",
)
async def handovers(
    request: Request, as_of: AsOf = None, within: Within = None, guard: Guard = Guarded(READ)
) -> Response:
    return await _json(request, _on(as_of), None, "handovers", _within(guard, within))


# --- data as of, and rebuilds -------------------------------------------------------------------------


class ProjectionStatus(BaseModel):
    name: str
    generation: int
    consumer: str
    applied_events: int
    lag: int | None = Field(description="records on the topics not applied yet (None while joining)")
    last_event_recorded_at: datetime | None = Field(description="the newest event applied: the data is as of")
    behind_seconds: float | None
    rebuilding: dict[str, Any] | None
    figures: dict[str, Any] | None = Field(
        default=None,
        description="the dashboard's warm pages in this process (None where no warmer runs): state, "
        "pages, computed, applied (the facts' events its last round began with), rounds, seconds",
    )


@router.get("/projections", response_model=list[ProjectionStatus], tags=["operations"])
async def projections(request: Request, guard: Guard = Guarded(READ_STATUS)) -> list[ProjectionStatus]:
    """How current the dashboard is: the last event applied and how far behind the sources."""
    generations = _generations(request)
    live = generations.live()
    progress = generations.facts.progress
    async with generations.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(progress.c.last_recorded_at, progress.c.events))).all()
    newest = as_utc(max(r.last_recorded_at for r in rows)) if rows else None
    lag: int | None = None
    if generations.runtime.runs("consumers"):  # elsewhere the projections process exports its lag
        try:
            async with asyncio.timeout(LAG_SECONDS):  # a status answers even when Kafka is slow
                lag = await live.lag()
        except Exception:
            lag = None
    state = generations.rebuilding
    return [
        ProjectionStatus(
            name="monitoring.facts",
            generation=generations.facts.generation,
            consumer=live.name,
            applied_events=sum(r.events for r in rows),  # counted in the tables, whichever process applied
            lag=lag,
            last_event_recorded_at=newest,
            behind_seconds=(utcnow() - newest).total_seconds() if newest else None,
            rebuilding=None
            if state is None
            else {
                "generation": state.generation,
                "applied": state.applied,
                "events_per_second": round(state.rate, 1),
                "switched": state.switched,
                "error": state.error,
            },
            figures=asdict(warmer.status)
            if (warmer := getattr(request.app.state, "figures_warmer", None))
            else None,
        )
    ]


@router.post(
    "/projections/monitoring.facts/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["operations"],
    summary="Rebuild the facts into a new generation while the old one serves, then switch",
)
async def rebuild(request: Request, guard: Guard = Guarded(REBUILD)) -> dict[str, Any]:
    generations = _generations(request)
    if not generations.runtime.runs("consumers"):
        raise Conflict(
            "This monitoring process serves the API only; a rebuild runs where the projections run. "
            "Ask the projections process (p2kp projections rebuild --url http://<its address>); "
            "this one switches to the new generation by itself when it is done."
        )
    if generations._lock.locked():
        raise Conflict("A rebuild of the monitoring facts is already running.")
    task = asyncio.create_task(generations.rebuild(), name="monitoring-rebuild")
    request.app.state.rebuild_task = task  # kept, so it is not collected while it runs
    await asyncio.sleep(0)  # let it take the lock before answering
    return {"generation": generations.facts.generation + 1, "status": "rebuilding"}


# --- frozen reports -------------------------------------------------------------------------------------


class Freeze(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quarter: str = Field(pattern=r"^(199\d|20\d\d)-Q[1-4]$", examples=["2026-Q2"])
    scope: str = Field(pattern=r"^(national|\d{2}\.\d{2})$", description="national, or a city code")


def quarter_end(quarter: str) -> date:
    year, q = int(quarter[:4]), int(quarter[-1])
    return date(year + (q == 4), 3 * q % 12 + 1, 1) - timedelta(days=1)


async def _report_figures(request: Request, scope: str, on: date) -> dict[str, Any]:
    if scope == "national":
        figures = await _figures(request, on, None, "overview", None)
    else:
        figures = (await _figures(request, on, None, "city", scope))["summary"]
    return json.loads(json.dumps(figures, default=str))  # type: ignore[no-any-return]


@router.post(
    "/reports", status_code=status.HTTP_201_CREATED, tags=["reports"], summary="Freeze a quarterly report"
)
async def freeze(body: Freeze, request: Request, guard: Guard = Guarded(FREEZE)) -> dict[str, Any]:
    """The figures as of the quarter's end, kept as submitted: later corrections show as differences."""
    on = quarter_end(body.quarter)
    if on > today():
        raise InvalidInput(f"{body.quarter} has not ended; a report is frozen once its quarter is over.")
    figures = await _report_figures(request, body.scope, on)
    report_id = f"{body.quarter}/{body.scope}"
    async with _generations(request).runtime.engine.begin() as conn:
        if (
            await conn.execute(
                select(frozen_reports.c.report_id).where(frozen_reports.c.report_id == report_id)
            )
        ).first():
            raise Conflict(
                f"The {body.quarter} report for {body.scope} is already frozen; it is not changed."
            )
        await conn.execute(
            frozen_reports.insert().values(
                report_id=report_id,
                scope=body.scope,
                as_of=on,
                frozen_at=utcnow(),
                frozen_by=guard.principal.subject,
                figures=json.dumps(figures),
            )
        )
    return {"report_id": report_id, "as_of": on, "figures": figures}


def _differences(frozen: Any, live: Any, path: str = "") -> list[dict[str, Any]]:
    if isinstance(frozen, dict) and isinstance(live, dict):
        return [
            d
            for k in sorted(set(frozen) | set(live))
            for d in _differences(frozen.get(k), live.get(k), f"{path}.{k}".lstrip("."))
        ]
    if isinstance(frozen, list) and isinstance(live, list) and len(frozen) == len(live):
        return [
            d
            for n, (a, b) in enumerate(zip(frozen, live, strict=True))
            for d in _differences(a, b, f"{path}[{n}]")
        ]
    return [] if frozen == live else [{"figure": path, "submitted": frozen, "now": live}]


@router.get("/reports/{quarter}/{scope}", tags=["reports"], summary="A frozen report, and what changed since")
async def get_report(
    request: Request,
    quarter: Annotated[str, Path(pattern=r"^(199\d|20\d\d)-Q[1-4]$")],
    scope: Annotated[str, Path(pattern=r"^(national|\d{2}\.\d{2})$")],
    guard: Guard = Guarded(READ_CITY),
) -> dict[str, Any]:
    if scope != "national":
        await guard.check(scope, hidden=f"There is no report {quarter}/{scope}.")
    elif not guard.principal.national:
        raise NotFound(f"There is no report {quarter}/{scope}.")
    async with _generations(request).runtime.engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(frozen_reports).where(frozen_reports.c.report_id == f"{quarter}/{scope}")
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"There is no report {quarter}/{scope}.")
    submitted = json.loads(row["figures"])
    now = await _report_figures(request, scope, row["as_of"])
    return {
        "report_id": row["report_id"],
        "as_of": row["as_of"],
        "frozen_at": row["frozen_at"],
        "frozen_by": row["frozen_by"],
        "figures": submitted,
        "corrections": _differences(submitted, now),
    }
