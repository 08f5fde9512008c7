"""The dashboard's figures kept in memory until the facts they come from change, and kept warm.

A region's figures are computed from its cities' facts and the program's periods, nothing else. The
facts projection counts, per city, the events that changed them (``changes``, written in the
transaction that writes the facts; '' counts the program-wide ones). The memo keys each answer by the
count of the region it covers, so it is never older than the facts it would be computed from now, and
an event in one city leaves every other city's figures where they are. The country's and each
province's overview and portfolio are put together from their cities' parts, kept the same way, so
that after an event only its city's part is computed again.

``Warmer`` computes the pages people open first (the national and provincial overviews and portfolios,
every city's page) for today while the facts are quiet, so a reader finds them computed; it stands
aside while the projection catches up or rebuilds, when every answer would be old within seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pydantic_core
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.monitoring.facts import Facts
from services.monitoring.generations import Generations
from services.monitoring.measures import CityFigures, Measures, overview_of, ranked
from shared.clock import today

log = structlog.get_logger(__name__)

MEMO_SIZE = 512  # answers kept for readers, besides the warm pages (a national portfolio: ~11,000 rows)
WARM_SECONDS = 2.0  # how often the warmer looks at the facts' changes
# More events than this between two looks: the projection is catching up or rebuilding (live, the whole
# program records a few a second); the warmer waits until it is quiet rather than compute stale pages.
BUSY_EVENTS = 1_000
# A warm page that changed is computed again no sooner than this many times as long as it took, after
# the last time: each page at most 1/20 of the warmer's time (a national portfolio computed whole, ~0.75 s
# at national scale: every 15 s at most).
SPACING = 20.0

# The country's and a province's overview and portfolio, composed of their cities' parts: each city's
# figures (``Measures.cities``) and UPK (``Measures.portfolio``), kept until that city's facts change.
COMPOSED = {"overview": "cities", "portfolio": "portfolio"}
PART_DAYS = 8  # (day, period, part) whose cities' parts are kept: today's two, and a few a reader asked for
# More cities than this share changed: the region's parts computed in one go (a query per figure for all
# its cities), not city by city (a query per figure for each).
WHOLE_SHARE = 0.25

Changes = dict[str, int]  # city code ('' the whole program's) -> events that changed its facts


def applied_in(changes: Changes, region: str | None) -> int:
    """The events that changed what ``region``'s figures are computed from: the country's (None), a
    province's cities', a city's (or the city of a kecamatan or kelurahan), and the program-wide ones."""
    if region is None or len(region) == 2:  # the country, or a province: its cities' codes begin with its own
        return sum(n for city, n in changes.items() if city == "" or _within(city, region))
    return changes.get("", 0) + changes.get(region[:5], 0)


async def read_changes(conn: AsyncConnection, facts: Facts, region: str | None = None) -> Changes:
    """The changes' counts (of a city and the program-wide ones, for a region within a city: one or two
    rows; else every city's, some hundreds at national scale)."""
    c = facts.changes.c
    query = select(c.city_code, c.events)
    if region is not None and len(region) > 2:
        query = query.where(c.city_code.in_(["", region[:5]]))
    return {city: int(n) for city, n in await conn.execute(query)}


@dataclass
class Kept:
    """Figures the memo keeps, and their JSON once a reader has asked for it (encoded once, not per
    reader: a national overview's JSON is ~200 kB)."""

    figures: Any
    took: float = 0.0  # seconds computing them took
    _body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = pydantic_core.to_json(self.figures)
        return self._body


Page = tuple[Any, ...]  # (day, period, what, *arguments): a question, whatever the facts
Key = tuple[Any, ...]  # (generation, events applied in its region, *page): its answer now


class Memo:
    """The dashboard's figures, kept by what they were computed from: the facts' generation and how
    many events have changed the facts of the region they cover. Readers asking for the same figures at
    once share one computation, which runs on its own: a reader who goes away does not take it from the
    others. Readers' answers are kept ``size`` at most, the least recently asked leaving first; the warm
    pages are kept apart, each until its facts change."""

    def __init__(self, size: int = MEMO_SIZE, whole_share: float = WHOLE_SHARE) -> None:
        self.size, self.whole_share = size, whole_share
        self._kept: OrderedDict[Key, Kept] = OrderedDict()
        self._warm: dict[Page, tuple[Key, Kept]] = {}
        self._running: dict[Key, asyncio.Task[Kept]] = {}
        self.hits = self.misses = 0  # readers' questions (the warmer's are not counted)
        self.warmed = 0  # computations the warmer started
        # Each city's part of the country's and provinces' pages (``COMPOSED``), by (day, period, part):
        # city -> (its key, its figures).
        self._parts: OrderedDict[Page, Parts] = OrderedDict()
        self.parts_computed = 0  # cities' parts computed one by one

    async def figures(
        self, generations: Generations, on: date, period: str | None, what: str, *args: Any
    ) -> Any:
        return (await self.kept(generations, on, period, what, *args)).figures

    async def kept(
        self,
        generations: Generations,
        on: date,
        period: str | None,
        what: str,
        *args: Any,
        changes: Changes | None = None,
        facts: Facts | None = None,
        warm: bool = False,
    ) -> Kept:
        """The figures ``what`` of ``Measures`` for ``args`` (a region code first, or None: the country),
        computed unless kept for the facts as they are now (``changes``: counts already read, of
        ``facts``). ``warm``: the warmer asks, and the answer is kept among the warm pages."""
        facts = facts or generations.facts  # one generation throughout, whatever switches meanwhile
        region = args[0] if args else None
        if changes is None:
            async with generations.runtime.engine.connect() as conn:
                changes = await read_changes(conn, facts, region)
        page = (on, period, what, *args)
        key = _key(facts, page, changes)
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        elif (was := self._warm.get(page)) is not None and was[0] == key:
            found = was[1]
        if found is not None:
            if warm:
                self._warm[page] = (key, found)
            else:
                self.hits += 1
            return found
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._compute(generations, facts, key, page, changes, warm))
            task.add_done_callback(_retrieved)
            self._running[key] = task
            self.misses += not warm
            self.warmed += warm
        else:
            self.hits += not warm
        found = await asyncio.shield(task)
        if warm:
            self._warm[page] = (key, found)
        return found

    def known_cities(self, on: date) -> set[str]:
        """The cities whose figures a composed page of ``on`` (all periods) has found or kept."""
        found = self._parts.get((on, None, COMPOSED["overview"]))
        return set(found.cities) if found else set()

    def is_warm(self, facts: Facts, page: Page, changes: Changes) -> bool:
        """Whether ``page`` is among the warm pages, computed from ``facts`` as ``changes`` counts them."""
        was = self._warm.get(page)
        return was is not None and was[0] == _key(facts, page, changes)

    def keep_warm(self, pages: Iterable[Page]) -> None:
        """Keep only these among the warm pages (yesterday's, a city no longer in the facts: gone)."""
        wanted = set(pages)
        self._warm = {page: kept for page, kept in self._warm.items() if page in wanted}

    async def _compute(
        self, generations: Generations, facts: Facts, key: Key, page: Page, changes: Changes, warm: bool
    ) -> Kept:
        on, period, what, *args = page
        try:
            started = time.perf_counter()
            async with generations.runtime.engine.connect() as conn:
                measures = Measures(conn, facts, on, period)
                region = args[0] if args else None
                if what in COMPOSED and (region is None or len(region) == 2):
                    figures = await self._composed(measures, what, region, changes)
                else:
                    figures = await getattr(measures, what)(*args)
            found = Kept(figures, took=time.perf_counter() - started)
            if not warm:  # the warmer keeps its own (``kept``), and leaves the readers' theirs
                self._kept[key] = found
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
            return found
        finally:
            del self._running[key]

    async def _composed(self, measures: Measures, what: str, region: str | None, changes: Changes) -> Any:
        """The country's or a province's ``what`` from its cities' parts: those whose facts changed
        computed again one by one, the others as kept. The first time for a day and region (or a
        region containing it), or when more than ``whole_share`` of the cities changed, the whole
        region's in one go (one query per figure, grouped by city), kept city by city.

        The answer is put together from the parts this composition found current or computed itself,
        never from what another one stored meanwhile; and a part is stored only over an older one."""
        part = COMPOSED[what]
        day = (measures.on, measures.period, part)
        parts = self._parts.setdefault(day, Parts())
        self._parts.move_to_end(day)
        while len(self._parts) > PART_DAYS:
            self._parts.popitem(last=False)

        def key(city: str) -> Key:
            return _key(measures.f, (*day, city), changes)

        # The cities with facts: those a whole computation of a region containing this one found, and
        # any with changes since (a generation older than ``changes`` counts no city before it).
        cities = sorted(c for c in {*parts.cities, *changes} if c and _within(c, region))
        mine = {c: parts.cities[c][1] for c in cities if c in parts.cities and parts.cities[c][0] == key(c)}
        old = [c for c in cities if c not in mine]
        whole = not ({None, region} & parts.whole) or len(old) > len(cities) * self.whole_share
        if whole:
            mine = {c: [] for c in cities}
            for item in await getattr(measures, part)(region):
                mine.setdefault(_city_of_part(item), []).append(item)
        else:
            for city in old:
                mine[city] = await getattr(measures, part)(city)
                self.parts_computed += 1
        for city in old if not whole else mine:
            parts.keep(city, key(city), mine[city])
        if whole:
            parts.whole.add(region)
        found = [item for c in sorted(mine) for item in mine[c]]
        return overview_of(measures.on, ranked(found)) if what == "overview" else found


@dataclass
class Parts:
    """The cities' parts of one day's, one period's composed pages of one kind."""

    cities: dict[str, tuple[Key, list[Any]]] = field(default_factory=dict)  # city -> (its key, its part)
    whole: set[str | None] = field(default_factory=set)  # regions computed whole (None: the country)

    def keep(self, city: str, key: Key, items: list[Any]) -> None:
        """Keep ``items`` as ``city``'s part unless a part of later facts is kept (another composition,
        started later, may have stored it while this one computed)."""
        was = self.cities.get(city)
        if was is None or key[:2] >= was[0][:2]:  # (generation, count): later facts, or the same
            self.cities[city] = (key, items)


def _within(city: str, region: str | None) -> bool:
    return region is None or city.startswith(f"{region}.")


def _city_of_part(item: Any) -> str:
    code: str = item.city_code if isinstance(item, CityFigures) else item["city_code"]
    return code


def _key(facts: Facts, page: Page, changes: Changes) -> Key:
    """The answer to ``page`` (day, period, what, a region code or None first) from ``facts`` as
    ``changes`` counts them."""
    region = page[3] if len(page) > 3 else None
    return (facts.generation, applied_in(changes, region), *page)


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Its readers may all have gone: its error (their 4xx, say) is theirs, not an unretrieved one."""
    if not task.cancelled():
        task.exception()


def warm_pages(on: date, cities: Iterable[str]) -> list[Page]:
    """What the warmer keeps computed for ``on``: the national overview and portfolio, each province's
    overview and portfolio (a provincial coordinator's first pages), and each city's page."""
    cities = sorted(cities)
    provinces = sorted({city[:2] for city in cities})
    return [
        (on, None, "overview", None),
        (on, None, "portfolio", None),
        *((on, None, "overview", p) for p in provinces),
        *((on, None, "portfolio", p) for p in provinces),
        *((on, None, "city", c) for c in cities),
    ]


@dataclass
class WarmState:
    """What the warmer did last: for ``/monitoring/projections`` and the benchmark."""

    state: str = "starting"  # starting, standing aside, warming, warm, pacing (some left old for now)
    pages: int = 0  # in its last round
    computed: int = 0  # of them, computed (the others were kept and current)
    applied: int | None = None  # the facts' events when its last round began
    rounds: int = 0
    seconds: float = 0.0  # the last round took


class Warmer:
    """Keeps ``warm_pages`` computed for today (see the module's docstring). Between two pages it waits
    as long as the last one took: at most half a core of its process, readers first. A page is computed
    again no sooner than ``SPACING`` times as long as it took, after the last time: while events arrive
    all over the country, the national pages (the dearest) would otherwise be computed at every look."""

    name = "figures-warmer"

    def __init__(
        self,
        app_state: Any,
        every: float = WARM_SECONDS,
        busy: int = BUSY_EVENTS,
        clock: Callable[[], float] = time.monotonic,  # when pages were computed (for ``SPACING``)
    ) -> None:
        self.app_state, self.every, self.busy, self.clock = app_state, every, busy, clock
        self.status = WarmState()
        self._seen: int | None = None  # the facts' events at the last look
        self._warmed: Key | None = None  # (generation, events, day) of the last round that left none old
        self._computed: dict[Page, tuple[float, float]] = {}  # page -> when the warmer last computed it, took

    @property
    def memo(self) -> Memo:
        return memo_of(self.app_state)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await self.look()

    async def look(self) -> None:
        """One look at the facts: warm the pages if they are quiet and have changed since."""
        generations: Generations = self.app_state.generations
        facts = generations.facts
        async with generations.runtime.engine.connect() as conn:
            changes = await read_changes(conn, facts)
        applied, on = sum(changes.values()), today()
        seen, self._seen = self._seen, applied
        if seen is None or applied - seen > self.busy:
            self.status.state = "standing aside"  # the first look, or a catch-up: look again later
            return
        if self._warmed == (facts.generation, applied, on):
            return  # nothing changed since the last round
        await self._round(generations, facts, changes, on)

    async def _round(self, generations: Generations, facts: Facts, changes: Changes, on: date) -> None:
        began = time.perf_counter()
        memo = self.memo
        self.status.state, self.status.computed = "warming", 0
        self.status.applied = applied = sum(changes.values())
        computed, paced = memo.warmed, 0
        # Each city with facts: those the changes name, and those the country's overview found (a
        # generation older than the changes' counts has cities they do not name).
        cities = memo.known_cities(on) | {c for c in changes if c}
        pages = warm_pages(on, cities)
        for page in pages:
            if not memo.is_warm(facts, page, changes) and self._too_soon(page):
                paced += 1  # old, but computed a moment ago: a later round takes it
                continue
            started, before = time.perf_counter(), memo.warmed
            day, period, what, *args = page
            kept = await memo.kept(
                generations, day, period, what, *args, changes=changes, facts=facts, warm=True
            )
            if memo.warmed > before:
                self._computed[page] = (self.clock(), kept.took)
            self.status.computed = memo.warmed - computed
            await asyncio.sleep(time.perf_counter() - started)  # readers first: half the time at most
        memo.keep_warm(pages)
        self._computed = {page: done for page, done in self._computed.items() if page in memo._warm}
        if not paced and memo.known_cities(on) <= cities:  # else the next look warms the others
            self._warmed = (facts.generation, applied, on)
        self.status.state, self.status.pages = "pacing" if paced else "warm", len(pages)
        self.status.rounds += 1
        self.status.seconds = time.perf_counter() - began
        log.info("monitoring.figures_warmed", pages=len(pages), paced=paced, seconds=self.status.seconds)

    def _too_soon(self, page: Page) -> bool:
        if (last := self._computed.get(page)) is None:
            return False
        done, took = last
        return self.clock() - done < SPACING * took


class MemoMetrics(Collector):
    """``/metrics``: how readers' questions were answered (remembered, computed) and what the warmer
    computed, since the process started; the warm pages kept now."""

    def __init__(self, service: str, app_state: Any) -> None:
        self.service, self.app_state = service, app_state

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        memo = memo_of(self.app_state)
        answers = CounterMetricFamily(
            "dashboard_figures",
            "Dashboard figures asked for: remembered or computed for a reader, or computed by the warmer",
            labels=["service", "answer"],
        )
        for answer, n in (("remembered", memo.hits), ("computed", memo.misses), ("warmed", memo.warmed)):
            answers.add_metric([self.service, answer], n)
        yield answers
        warm = GaugeMetricFamily(
            "dashboard_warm_pages", "Pages the warmer keeps computed", labels=["service"]
        )
        warm.add_metric([self.service], len(memo._warm))
        yield warm


def memo_of(app_state: Any) -> Memo:
    memo: Memo | None = getattr(app_state, "figures_memo", None)
    if memo is None:
        memo = app_state.figures_memo = Memo()
    return memo
