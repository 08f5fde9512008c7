"""The dashboard's pages: server-rendered HTML over the figures the JSON API serves (``dashboard_api.py``),
in Bahasa Indonesia by default and in English on request, each showing how fresh its data is.

Scope is checked as in the JSON API; the session cookie of the sign-in page is accepted for these reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from services.monitoring import charts
from services.monitoring.dashboard_api import (
    READ,
    READ_CITY,
    AsOf,
    ProjectionStatus,
    Within,
    _figures,
    _generations,
    _on,
    _within,
    projections,
)
from services.monitoring.i18n import LANGUAGES, Lang, Words
from services.monitoring.measures import Measures, readiness_of
from shared import regions
from shared.contracts.handover import CITY_CODE, Stage
from shared.contracts.targeting import KELURAHAN_CODE
from shared.security.guard import Guard, Guarded

STATIC = FilePath(__file__).parent / "static"
STAGES = tuple(Stage)
templates = Jinja2Templates(directory=FilePath(__file__).parent / "templates")
templates.env.trim_blocks = templates.env.lstrip_blocks = True
router = APIRouter(prefix="/dashboard", include_in_schema=False, default_response_class=HTMLResponse)

Language = Annotated[Lang, Query(description="id (Bahasa Indonesia, the default) or en")]
CityCode = Annotated[str, Path(pattern=CITY_CODE)]
KelurahanCode = Annotated[str, Path(pattern=KELURAHAN_CODE)]


@dataclass
class View:
    """What every page needs besides its figures: its words, its links, and the data's freshness."""

    request: Request
    lang: Lang
    as_of: date | None  # as asked: links carry it on only when the reader chose a day
    on: date
    here: str
    keep: dict[str, str | None] = field(default_factory=dict)
    status: ProjectionStatus | None = None

    @cached_property
    def t(self) -> Words:
        return Words(self.lang)

    @property
    def base(self) -> str:
        # Mounted under /monitoring in the embedded platform; at the root when served alone.
        return str(self.request.scope.get("root_path", ""))

    def href(self, path: str, **params: str | None) -> str:
        query = {"as_of": self.as_of.isoformat() if self.as_of else None, "lang": self.lang, **params}
        kept = {k: v for k, v in query.items() if v and not (k == "lang" and v == LANGUAGES[0])}
        return f"{self.base}{path}" + (f"?{urlencode(kept)}" if kept else "")

    @property
    def other(self) -> Lang:
        return next(x for x in LANGUAGES if x != self.lang)

    @property
    def other_name(self) -> str:
        return Words(self.other)("language.name")

    def switch(self) -> str:
        return self.href(self.here, lang=self.other, **self.keep)

    def export(self, table: str, fmt: str, within: str | None) -> str:
        return self.href(f"/exports/{table}.{fmt}", lang=None, within=within)

    def progress(self, item: dict[str, Any]) -> str:
        """A timeline step's status in words: done, done N days late, N days late, not yet due."""
        return self.t(f"progress.{item['status']}", n=self.t.number(item["late_days"]))

    def static(self, name: str) -> str:
        return f"{self.base}/dashboard/static/{name}"

    def measure(self, name: str, value: Any) -> str:
        if name.endswith("_pct"):
            return self.t.percent(value)
        if name.startswith("blm_"):
            return self.t.rupiah(value)
        return self.t.number(value, 1 if isinstance(value, float) else 0)

    def stage_chart(self, stage: str) -> Markup:
        return charts.stage_steps(
            [self.t.label("stage", s) for s in STAGES],
            STAGES.index(Stage(stage)) if stage in STAGES else 0,
            title=self.t("chart.stage"),
            current_note=self.t("chart.current"),
        )

    def readiness_chart(self, readiness: dict[str, Any]) -> Markup:
        def value(c: dict[str, Any]) -> float | None:
            if c["verdict"] == "unknown":
                return None
            return (
                float(c["value_pct"])
                if c.get("value_pct") is not None
                else (100.0 if c["verdict"] == "met" else 0.0)
            )

        return charts.radar(
            [(c["criterion"], value(c)) for c in readiness["criteria"]],
            title=self.t("chart.readiness"),
            unknown=self.t("chart.unknown"),
        )

    def funnel_chart(self, funnel: dict[str, Any]) -> Markup:
        return charts.funnel(
            [(self.t.label("step", s["step"]), s["kelurahan"]) for s in funnel["steps"]],
            funnel["targets"],
            title=self.t("chart.funnel"),
            fmt=self.t.number,
        )

    def disbursement_chart(self, series: list[dict[str, Any]]) -> Markup:
        return charts.monthly_bars(
            [(m["month"], m["received"]) for m in series],
            title=self.t("chart.disbursement"),
            fmt=self.t.rupiah,
            month=self.t.month,
        )


async def _page(view: View, guard: Guard, template: str, heading: str, **figures: Any) -> HTMLResponse:
    [view.status] = await projections(view.request, guard)
    context = {"v": view, "t": view.t, "heading": heading, **figures}
    return templates.TemplateResponse(view.request, template, context)


@asynccontextmanager
async def _reading(request: Request, on: date) -> AsyncIterator[Measures]:
    generations = _generations(request)
    async with generations.runtime.engine.connect() as conn:
        yield Measures(conn, generations.facts, on)


@router.get("")
async def overview_page(
    request: Request,
    as_of: AsOf = None,
    within: Within = None,
    lang: Language = "id",
    guard: Guard = Guarded(READ),
) -> HTMLResponse:
    on, scope = _on(as_of), _within(guard, within)
    figures = await _figures(request, on, None, "overview", scope)
    funnel = await _figures(request, on, None, "cycle_funnel", scope)
    received = await _figures(request, on, None, "monthly_received", scope)
    view = View(request, lang, as_of, on, "/dashboard", {"within": within})
    heading = view.t("overview.regional", within=scope) if scope else view.t("overview.title")
    page = {"o": figures, "funnel": funnel, "received": received, "within": within}
    return await _page(view, guard, "overview.html", heading, **page)


@router.get("/cities/{city_code}")
async def city_page(
    request: Request,
    city_code: CityCode,
    as_of: AsOf = None,
    lang: Language = "id",
    guard: Guard = Guarded(READ_CITY),
) -> HTMLResponse:
    await guard.check(city_code, hidden=f"There is no city {city_code}.")
    on = _on(as_of)
    figures = await _figures(request, on, None, "city", city_code)
    funnel = await _figures(request, on, None, "cycle_funnel", city_code)
    received = await _figures(request, on, None, "monthly_received", city_code)
    async with _reading(request, on) as measures:
        readiness = await readiness_of(measures, city_code)
    view = View(request, lang, as_of, on, f"/dashboard/cities/{city_code}")
    heading = f"{figures['summary']['name']} ({city_code})"
    page = {"c": figures, "funnel": funnel, "received": received, "code": city_code, "readiness": readiness}
    return await _page(view, guard, "city.html", heading, **page)


@router.get("/kelurahan/{kelurahan_code}")
async def kelurahan_page(
    request: Request,
    kelurahan_code: KelurahanCode,
    as_of: AsOf = None,
    lang: Language = "id",
    guard: Guard = Guarded(READ),
) -> HTMLResponse:
    await guard.check(kelurahan_code, hidden=f"There is no kelurahan {kelurahan_code}.")
    on = _on(as_of)
    figures = await _figures(request, on, None, "kelurahan", kelurahan_code)
    trend = await _figures(request, on, None, "par_trend", kelurahan_code)
    received = await _figures(request, on, None, "monthly_received", kelurahan_code)
    view = View(request, lang, as_of, on, f"/dashboard/kelurahan/{kelurahan_code}")
    city = regions.find(figures["city_code"])
    page = {
        "k": figures,
        "trend": trend,
        "par_chart": charts.trend(
            [(view.t.day(p["as_of"]), p["par_pct"]) for p in trend],
            title=view.t("chart.par_trend"),
            fmt=view.t.percent,
        ),
        "received": received,
        "city_visible": guard.principal.sees(figures["city_code"]),
        "city_name": city.name if city else figures["city_code"],
    }
    return await _page(view, guard, "kelurahan.html", f"{figures['name']} ({kelurahan_code})", **page)


async def _region_table(
    request: Request, guard: Guard, as_of: date | None, within: str | None, lang: Lang, name: str, number: int
) -> HTMLResponse:
    """A page of one table of the caller's region (the portfolio, the handovers), ``PAGE_ROWS`` rows a
    page: a national portfolio is every UPK of the country (the exports hold every row)."""
    on, scope = _on(as_of), _within(guard, within)
    rows = await _figures(request, on, None, name, scope)
    keep = {"within": within, "page": str(number) if number > 1 else None}
    view = View(request, lang, as_of, on, f"/dashboard/{name}", keep)
    start = (number - 1) * PAGE_ROWS
    shown = rows[start : start + PAGE_ROWS]

    def at(n: int) -> str:
        return view.href(f"/dashboard/{name}", within=within, page=str(n) if n > 1 else None)

    pages = {
        "size": PAGE_ROWS,
        "total": len(rows),
        "first": start + 1 if shown else 0,
        "last": start + len(shown),
        "previous": at(number - 1) if number > 1 else None,
        "next": at(number + 1) if start + PAGE_ROWS < len(rows) else None,
    }
    page = {"rows": shown, "within": within, "stages": STAGES, "pages": pages}
    return await _page(view, guard, f"{name}.html", view.t(f"{name}.title"), **page)


PAGE_ROWS = 200  # rows of a region table a page
PageNumber = Annotated[int, Query(ge=1, le=100_000, description="which page of the table (200 rows each)")]


@router.get("/portfolio")
async def portfolio_page(
    request: Request,
    as_of: AsOf = None,
    within: Within = None,
    lang: Language = "id",
    page: PageNumber = 1,
    guard: Guard = Guarded(READ),
) -> HTMLResponse:
    return await _region_table(request, guard, as_of, within, lang, "portfolio", page)


@router.get("/handovers")
async def handovers_page(
    request: Request,
    as_of: AsOf = None,
    within: Within = None,
    lang: Language = "id",
    page: PageNumber = 1,
    guard: Guard = Guarded(READ),
) -> HTMLResponse:
    return await _region_table(request, guard, as_of, within, lang, "handovers", page)
