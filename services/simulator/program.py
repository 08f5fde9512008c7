"""The simulator's entry point: plan a whole program period for a seed, then drive it through the
services' HTTP command layer.

Commands go out a wave at a time (the first kelurahan of every kecamatan through the whole period, then
the others, then the cities' handovers), a month at a time within a wave, and within a month service by
service in the order facts flow (targeting, institutions, ledger): a batch with a command that needs
another service's events (a cycle starting after a verification, a loan after a KSM's eligibility)
first calls ``wait`` if that service has taken commands since the last wait. The kelurahan of a batch
are independent, so several are sent at once. The plan, and so the command log, depends on the seed and
the arguments only; the ids the services generate are bound to placeholders as they answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import httpx

from services.simulator.commands import Command, Script, Stage
from services.simulator.community import Community
from services.simulator.driver import Batch, Driver, Journal
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
CONCURRENCY = 8  # kelurahan sent at once: enough to keep every service's database busy


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
    resumed: int  # commands skipped as taken before (a resumed run)
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
    concurrency: int = CONCURRENCY,
    journal: Journal | None = None,
    density: int = 1,
) -> SimulationReport:
    """Drive a program period of ``years`` years ending on ``until`` through ``http`` (an admin's client
    of the platform's routes): ``cities`` by code, or that many (Kota Semarang first), with
    ``kelurahan_per_city`` of each (all: None).

    ``wait`` returns once every consumer has caught up; without it a command that needs another service's
    facts may be refused. ``city_headers`` authenticate a city's operator for the city's own handover acts;
    without them no handover goes past the parallel run. ``progress`` is told (commands done, commands
    planned). ``keep_log=False`` keeps only the log's digest (a national run's log is gigabytes).
    ``concurrency`` kelurahan are sent at once (the log is the same for any). With a ``journal`` the run
    records what the services took and skips what they took before (a resumed run). ``density`` makes
    every kelurahan that many times the demo's small one (poor households surveyed, KSM formed and so
    loans): 1 gives ~6 KSM a kelurahan, 4 the national program's average of ~22.
    """
    if years < 1:
        raise ValueError("simulate at least one year")
    if density < 1:
        raise ValueError("a kelurahan's density is at least 1 (the demo's size)")
    if until > date.today():
        raise ValueError(f"{until} is in the future; the services record only what has happened")
    started = time.perf_counter()
    month = until.year * 12 + until.month - 12 * years  # the first month, counted from year 0
    starts_on = date(month // 12, month % 12 + 1, 1)
    chosen = [choose_villages(c, kelurahan_per_city) for c in choose_cities(cities)]
    chunks = _chunks(chosen)

    def planner() -> Planner:
        return Planner(
            seed, period_code, starts_on, until, city_signs=city_headers is not None, density=density
        )

    setup = Plan([_setup(period_code, starts_on, until)], {})
    # One chunk is planned once. Several are counted first (progress needs the total), then planned
    # again one at a time as they are driven: the same plans, for the same seed.
    single = planner().plan(chunks[0]) if len(chunks) == 1 else None
    counting = planner()
    planned = single.size if single else sum(counting.plan(chunk).size for chunk in chunks)
    driver = Driver(
        http,
        wait=wait,
        city_headers=city_headers,
        progress=progress,
        total=setup.size + planned,
        keep_log=keep_log,
        correlation=correlation_prefix(period_code, seed),
        concurrency=concurrency,
        journal=journal,
    )
    await driver.run(setup.batches())
    handovers: dict[str, str] = {}
    live = planner()
    for chunk in chunks:
        plan = single or live.plan(chunk)
        handovers.update(plan.handovers)
        await driver.run(plan.batches())
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
        resumed=driver.skipped,
        elapsed_seconds=time.perf_counter() - started,
        log_sha256=driver.digest.hexdigest(),
        log=driver.log,
    )


def correlation_prefix(period_code: str, seed: int) -> str:
    """The start of every correlation id a run's commands carry: the rest is the command's number."""
    return f"sim:{period_code}:{seed}:"


def _chunks(cities: list[City]) -> list[list[City]]:
    chunks: list[list[City]] = [[]]
    for city in cities:
        if chunks[-1] and sum(len(c.villages) for c in chunks[-1]) + len(city.villages) > CHUNK:
            chunks.append([])
        chunks[-1].append(city)
    return chunks


def _setup(period_code: str, starts_on: date, until: date) -> Script:
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
    return script


@dataclass
class Plan:
    scripts: list[Script]
    handovers: dict[str, str]

    @property
    def size(self) -> int:
        return sum(len(s.commands) for s in self.scripts)

    def batches(self) -> list[Batch]:
        """Wave by wave; within a wave month by month; within a month service by service, upstream
        first. A batch has a lane per unit, its commands in date order (in planned order within a day)."""

        def window(c: Command) -> int:
            return FINAL if c.stage is Stage.HANDOVER else c.on.year * 12 + c.on.month

        grouped: dict[tuple[int, int, Stage], dict[int, list[Command]]] = {}
        for s in self.scripts:
            for c in s.commands:
                grouped.setdefault((s.wave, window(c), c.stage), {}).setdefault(s.unit, []).append(c)
        return [
            Batch(stage, [sorted(lanes[unit], key=lambda c: c.on) for unit in sorted(lanes)])
            for (_, _, stage), lanes in sorted(grouped.items())
        ]


@dataclass
class Planner:
    """Plans chunks of cities in turn; one per pass, as NIKs must never repeat within a run."""

    seed: int
    period: str
    starts_on: date
    until: date
    city_signs: bool
    density: int = 1
    residents: Residents = field(default_factory=Residents)

    def plan(self, cities: list[City]) -> Plan:
        scripts: list[Script] = []
        handovers: dict[str, str] = {}
        for n, city in enumerate(cities):
            profile = generator(self.seed, "city", city.code)
            category = profile.choices(FISCAL, (30, 40, 20, 10))[0]
            finance = Finance(category, ddub_late=profile.random() < 0.3)
            kecamatan: set[str] = set()
            for village in city.villages:
                # The first kelurahan of each kecamatan go through the whole period first, so the
                # dashboard shows every kecamatan with cycles, money and loans early on.
                wave = 1 if village.code[:8] in kecamatan else 0
                kecamatan.add(village.code[:8])
                script = Script(len(scripts), self.until, wave)
                story = generator(self.seed, "kelurahan", village.code)
                community = Community(
                    script, story, self.residents, self.period, city, village, self.starts_on, self.density
                )
                facts = community.plan()
                money = generator(self.seed, "money", village.code)
                Money(script, money, self.period, village, finance, facts).plan()
                scripts.append(script)
            script = Script(CITY_SCRIPTS + n, self.until, wave=1)
            handover = generator(self.seed, "handover", city.code)
            handovers[city.code] = plan_handover(
                script, handover, self.period, city, finance.ddub_pct, city_signs=self.city_signs
            )
            scripts.append(script)
        return Plan(scripts, handovers)
