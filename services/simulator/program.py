"""The simulator's entry point: plan a whole program period for a seed, then drive it through the
services' HTTP command layer.

Commands go out a month at a time and, within a month, service by service in the order facts flow
(targeting, institutions, ledger; the handovers come last): a command that needs another service's
events (a cycle starting after a verification, a loan after a KSM's eligibility) first calls ``wait``
if that service has taken commands since the last wait. The plan, and so the command log, depends on
the seed and the arguments only; the ids the services generate are bound to placeholders as they answer.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from services.simulator.commands import PLACEHOLDER, Command, Script, Stage
from services.simulator.community import Community
from services.simulator.handover import plan_handover
from services.simulator.money import Finance, Money
from services.simulator.synthetic import City, Residents, choose_cities, choose_villages, generator
from shared.contracts.targeting import FiscalCategory

DEFAULT_UNTIL = date(2026, 10, 31)  # the last day simulated: a month end before "today" (2026-11-29)
PERIOD = {"code": "KOTAKU", "name": "Kota Tanpa Kumuh (data simulasi)"}
# Villages planned and driven at a time: the plan of a national run would not fit in memory at once.
CHUNK = 400
FINAL = 10**6  # the handovers' window: after every month
MODULES = (
    ("PB", "Pinjaman bergulir", 8, "ksm"),
    ("KWU", "Kewirausahaan", 8, "ksm"),
    ("PERT", "Ekonomi rumah tangga", 6, "ksm"),
    ("REL", "Pelatihan dasar relawan", 12, "relawan"),
    ("BKM", "Pengorganisasian BKM", 16, "bkm"),
    ("UPK", "Pembukuan dan pengelolaan pinjaman bergulir", 16, "upk"),
)
FISCAL: tuple[FiscalCategory, ...] = ("rendah", "sedang", "tinggi", "sangat_tinggi")
CITY_SCRIPTS = 10**7  # sort handovers after every village's commands of the same window


class SimulationError(RuntimeError):
    """A command the services refused: the plan broke one of their rules, which is a simulator bug."""


@dataclass
class SimulationReport:
    """What a run did: its period and regions, the commands it sent by kind, the events the services
    recorded, how long it took, and its command log (two runs compare by ``log`` or ``log_sha256``)."""

    seed: int
    period_code: str
    starts_on: date
    ends_on: date
    cities: list[str]
    kelurahan: list[str]  # the villages' codes, city by city
    handovers: dict[str, str]  # city -> the handover stage planned for it
    commands: dict[str, int]  # per kind of command
    events: int  # recorded by the services, as their answers' event_ids count them
    elapsed_seconds: float
    log_sha256: str
    log: list[str] = field(repr=False)  # every command with placeholders for service-generated ids

    @property
    def command_count(self) -> int:
        return sum(self.commands.values())

    @property
    def events_per_second(self) -> float:
        return self.events / self.elapsed_seconds if self.elapsed_seconds else 0.0


async def simulate(
    http: httpx.AsyncClient,
    *,
    cities: list[str] | int,
    kelurahan_per_city: int | None,
    years: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    wait: Callable[[], Awaitable[None]] | None = None,
    city_headers: Callable[[str], Mapping[str, str]] | None = None,
    until: date = DEFAULT_UNTIL,
    period_code: str = PERIOD["code"],
    keep_log: bool = True,
) -> SimulationReport:
    """Drive a program period of ``years`` years ending on ``until`` through ``http`` (an admin's client
    of the platform's routes): ``cities`` by code, or that many (Kota Semarang first), with
    ``kelurahan_per_city`` of each (all: None).

    ``wait`` returns once every consumer has caught up; without it a command that needs another service's
    facts may be refused. ``city_headers`` authenticate a city's operator for the city's own handover acts;
    without them no handover goes past the parallel run. ``progress`` is told (commands sent, commands
    planned). ``keep_log=False`` keeps only the log's digest (a national run's log is gigabytes).
    """
    if years < 1:
        raise ValueError("simulate at least one year")
    if until > date.today():
        raise ValueError(f"{until} is in the future; the services record only what has happened")
    started = time.perf_counter()
    month = until.year * 12 + until.month - 12 * years  # the first month, counted from year 0
    starts_on = date(month // 12, month % 12 + 1, 1)
    chosen = [choose_villages(c, kelurahan_per_city) for c in choose_cities(cities)]
    chunks = _chunks(chosen)

    def planner() -> Planner:
        return Planner(seed, period_code, starts_on, until, city_signs=city_headers is not None)

    setup = _setup(period_code, starts_on, until)
    # One chunk is planned once. Several are counted first (progress needs the total), then planned
    # again one at a time as they are driven: the same plans, for the same seed.
    single = planner().plan(chunks[0]) if len(chunks) == 1 else None
    counting = planner()
    planned = single.size if single else sum(counting.plan(chunk).size for chunk in chunks)
    driver = Driver(http, wait, city_headers, progress, len(setup) + planned, keep_log)
    await driver.run(setup)
    handovers: dict[str, str] = {}
    live = planner()
    for chunk in chunks:
        plan = single or live.plan(chunk)
        handovers.update(plan.handovers)
        await driver.run(plan.ordered())
        driver.forget()  # a chunk's placeholders are its own villages'
    if wait is not None:
        await wait()
    return SimulationReport(
        seed=seed,
        period_code=period_code,
        starts_on=starts_on,
        ends_on=until,
        cities=[c.code for c in chosen],
        kelurahan=[v.code for c in chosen for v in c.villages],
        handovers=handovers,
        commands=dict(sorted(driver.counts.items())),
        events=driver.events,
        elapsed_seconds=time.perf_counter() - started,
        log_sha256=driver.digest.hexdigest(),
        log=driver.log,
    )


def _chunks(cities: list[City]) -> list[list[City]]:
    chunks: list[list[City]] = [[]]
    for city in cities:
        if chunks[-1] and sum(len(c.villages) for c in chunks[-1]) + len(city.villages) > CHUNK:
            chunks.append([])
        chunks[-1].append(city)
    return chunks


def _setup(period_code: str, starts_on: date, until: date) -> list[Command]:
    """The program period, its targeting criteria, and its training catalogue."""
    script = Script(-1, until)
    targeting = "/targeting/program-periods"
    period = {**PERIOD, "code": period_code, "starts_on": starts_on.isoformat(), "ends_on": until.isoformat()}
    script.add(starts_on, Stage.TARGETING, "targeting.program-period.register", targeting, period)
    criteria = {
        "rule": "kecamatan-welfare",
        "dataset": f"PODES {starts_on.year - 1}; BKKBN {starts_on.year - 1}",
    }
    script.add(
        starts_on,
        Stage.TARGETING,
        "targeting.criteria.publish",
        f"{targeting}/{period_code}/criteria",
        criteria,
    )
    path = f"/institutions/program-periods/{period_code}/training-modules"
    for code, title, jpl, audience in MODULES:
        body = {"code": code, "title": title, "jpl": jpl, "audience": [audience]}
        script.add(
            starts_on,
            Stage.INSTITUTIONS,
            "institutions.training-module.add",
            path,
            body,
            needs=(Stage.TARGETING,),
        )
    return script.commands


@dataclass
class Plan:
    scripts: list[Script]
    handovers: dict[str, str]

    @property
    def size(self) -> int:
        return sum(len(s.commands) for s in self.scripts)

    def ordered(self) -> list[Command]:
        """Month by month; within a month service by service, upstream first; then village by village,
        each in date order (and in planned order within a day)."""

        def window(c: Command) -> int:
            return FINAL if c.stage is Stage.HANDOVER else c.on.year * 12 + c.on.month

        keyed = [
            ((window(c), c.stage, s.unit, c.on, n), c) for s in self.scripts for n, c in enumerate(s.commands)
        ]
        keyed.sort(key=lambda item: item[0])
        return [c for _, c in keyed]


@dataclass
class Planner:
    """Plans chunks of cities in turn; one per pass, as NIKs must never repeat within a run."""

    seed: int
    period: str
    starts_on: date
    until: date
    city_signs: bool
    residents: Residents = field(default_factory=Residents)

    def plan(self, cities: list[City]) -> Plan:
        scripts: list[Script] = []
        handovers: dict[str, str] = {}
        for n, city in enumerate(cities):
            profile = generator(self.seed, "city", city.code)
            category = profile.choices(FISCAL, (30, 40, 20, 10))[0]
            finance = Finance(category, ddub_late=profile.random() < 0.3)
            for village in city.villages:
                script = Script(len(scripts), self.until)
                story = generator(self.seed, "kelurahan", village.code)
                community = Community(
                    script, story, self.residents, self.period, city, village, self.starts_on
                )
                facts = community.plan()
                money = generator(self.seed, "money", village.code)
                Money(script, money, self.period, village, finance, facts).plan()
                scripts.append(script)
            script = Script(CITY_SCRIPTS + n, self.until)
            handover = generator(self.seed, "handover", city.code)
            handovers[city.code] = plan_handover(
                script, handover, self.period, city, finance.ddub_pct, city_signs=self.city_signs
            )
            scripts.append(script)
        return Plan(scripts, handovers)


class Driver:
    """Sends planned commands, binding the ids the services answer with, and keeps the report's tallies."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        wait: Callable[[], Awaitable[None]] | None,
        city_headers: Callable[[str], Mapping[str, str]] | None,
        progress: Callable[[int, int], None] | None,
        total: int,
        keep_log: bool,
    ) -> None:
        self.http, self.wait, self.city_headers, self.progress = http, wait, city_headers, progress
        self.total, self.keep_log = total, keep_log
        self.ids: dict[str, str] = {}
        self.dirty: set[Stage] = set()  # services that took commands since the last wait
        self.counts: Counter[str] = Counter()
        self.events = 0
        self.sent = 0
        self.log: list[str] = []
        self.digest = hashlib.sha256()

    def forget(self) -> None:
        self.ids.clear()

    async def run(self, commands: Iterable[Command]) -> None:
        for command in commands:
            await self.send(command)

    async def send(self, c: Command) -> None:
        if self.wait is not None and c.needs & self.dirty:
            await self.wait()
            self.dirty.clear()
        headers = dict(self.city_headers(c.as_city)) if c.as_city and self.city_headers else None
        path = self._bound(c.path)
        response = await self.http.post(path, json=self._bound(c.body), headers=headers)
        if not response.is_success:
            raise SimulationError(
                f"{c.kind} on {c.on}: POST {path} answered {response.status_code}: {response.text}\n"
                f"planned as: {c.line()}"
            )
        answer: dict[str, Any] = response.json()
        if c.binds is not None:
            placeholder, name = c.binds
            self.ids[placeholder] = str(answer[name])
        self.events += len(answer.get("event_ids", ()))
        self.dirty.add(c.stage)
        self.counts[c.kind] += 1
        line = c.line()
        self.digest.update(line.encode() + b"\n")
        if self.keep_log:
            self.log.append(line)
        self.sent += 1
        if self.progress is not None:
            self.progress(self.sent, self.total)

    def _bound(self, value: Any) -> Any:
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: self.ids[m.group(0)], value) if "${" in value else value
        if isinstance(value, dict):
            return {k: self._bound(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._bound(v) for v in value]
        return value
