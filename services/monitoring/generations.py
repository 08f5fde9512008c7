"""Generations of the facts tables, and rebuilding one without stopping the dashboard.

Readers read the active generation. A rebuild creates generation N+1, replays every topic from the
start into it under its own consumer name (its own checkpoints) while N keeps serving and keeps being
updated, and once it has caught up with N's consumer it holds N's consumer still for a moment, lets
the new one reach the same offsets, and switches: one transaction sets the active generation, and the
new consumer takes the old one's place. The old tables stay until the next rebuild (a query that
started on them finishes) and are dropped then.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Table, delete, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.monitoring.facts import Facts, FactsProjection, facts_tables
from services.monitoring.readmodels import generations
from shared.consumer import ConsumerRunner
from shared.db import checkpoints, consumed_streams, dead_letter_log
from shared.errors import Conflict
from shared.runtime import ServiceRuntime

log = structlog.get_logger(__name__)

NAME = "monitoring.facts"


def consumer_name(generation: int) -> str:
    return f"{NAME}.g{generation}"


# How often a process checks whether another one switched the active generation.
FOLLOW_SECONDS = 2.0
# Serialises monitoring processes choosing and creating their generation's tables.
_TABLES_LOCK = 0x5032_4B51


async def active_generation(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # the first start of several processes at once
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _TABLES_LOCK})
        found = (
            await conn.execute(select(generations.c.active).where(generations.c.projection == NAME))
        ).scalar()
        if found is None:
            await conn.execute(generations.insert().values(projection=NAME, active=1))
            return 1
        return int(found)


async def create_tables(engine: AsyncEngine, facts: Facts, *, fresh: bool = False) -> None:
    def create(sync: object) -> None:
        if fresh:
            facts.metadata.drop_all(sync)  # type: ignore[arg-type]  # a failed rebuild's leftovers
        facts.metadata.create_all(sync)  # type: ignore[arg-type]
        for table in facts.tables:  # an index added since a generation's tables were created
            for index in table.indexes:
                index.create(sync, checkfirst=True)  # type: ignore[arg-type]

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several monitoring processes (api, projections) start at once: one creates the tables,
            # the others wait here and then find them (CREATE TABLE is not safe to race).
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _TABLES_LOCK})
        await conn.run_sync(create)


async def drop_generation(engine: AsyncEngine, generation: int) -> None:
    facts = facts_tables(generation)

    def drop(sync: object) -> None:
        names = set(inspect(sync).get_table_names())
        facts.metadata.drop_all(sync, tables=[t for t in facts.tables if t.name in names])  # type: ignore[arg-type]

    async with engine.begin() as conn:
        await conn.run_sync(drop)


async def forget_consumer(engine: AsyncEngine, name: str) -> None:
    """Drop a consumer's stored positions and dedupe marks, so it reads every topic from the start."""
    async with engine.begin() as conn:
        for table in (checkpoints, consumed_streams, dead_letter_log):
            await conn.execute(delete(table).where(table.c.consumer == name))


async def digest(conn: AsyncConnection, facts: Facts) -> dict[str, str]:
    """A SHA-256 of each table's rows in key order, for comparing two generations. Not the changes'
    counts: a generation created before them counts only the events since (the figures are the same)."""
    found = {}
    for table in facts.tables:
        if table is facts.changes:
            continue
        rows = (await conn.execute(select(table).order_by(*table.primary_key.columns))).all()
        found[_base(table)] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    return found


def _base(table: Table) -> str:
    return table.name.rsplit("_g", 1)[0]


@dataclass
class RebuildState:
    generation: int
    started: float = field(default_factory=time.monotonic)
    applied: int = 0
    switched: bool = False
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.applied / max(time.monotonic() - self.started, 1e-6)


class Generations:
    """The monitoring service's live facts projection and its rebuilds."""

    def __init__(self, runtime: ServiceRuntime, projection: FactsProjection) -> None:
        self.runtime = runtime
        self.projection = projection
        self.rebuilding: RebuildState | None = None
        self._lock = asyncio.Lock()
        self._outgoing: ConsumerRunner | None = None

    @property
    def facts(self) -> Facts:
        return self.projection.facts

    async def prepare(self) -> None:
        """At start: serve (and keep projecting into) the active generation."""
        generation = await active_generation(self.runtime.engine)
        self.projection.facts = facts_tables(generation)
        self.projection.name = consumer_name(generation)
        await create_tables(self.runtime.engine, self.projection.facts)

    def live(self) -> ConsumerRunner:
        """The runner of the generation readers read; during a switch (the new projection set, its
        runner not yet in place) the one being replaced."""
        found = next((c for c in self.runtime.consumers if c.name == self.projection.name), None)
        if found is not None:
            return found
        assert self._outgoing is not None
        return self._outgoing

    # A Worker every monitoring process runs (runtime.followers): in a distributed deployment the
    # rebuild runs in the process that runs the projections, and the api processes (and any other
    # projections replica) switch when they see the active generation change.
    name = "generation-follower"

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            if self._lock.locked():
                continue  # this process is rebuilding: it switches itself
            active = await active_generation(self.runtime.engine)
            if active != self.facts.generation:
                await self.follow(active)

    async def follow(self, generation: int) -> None:
        """Read (and, where the consumers run, project into) ``generation``, switched to elsewhere."""
        async with self._lock:  # not while a rebuild starts here
            log.info("monitoring.generation_followed", old=self.facts.generation, new=generation)
            old = self._outgoing = self.live()
            successor = FactsProjection(facts_tables(generation), consumer_name(generation))
            self.projection = successor
            await self.runtime.replace_consumer(old, self.runtime.runner_for(successor))

    async def rebuild(
        self, on_progress: Callable[[RebuildState], None] | None = None, timeout: float = 3600
    ) -> RebuildState:
        if self._lock.locked():
            raise Conflict("A rebuild of the monitoring facts is already running.")
        async with self._lock:
            old = self.facts.generation
            state = self.rebuilding = RebuildState(old + 1)
            await drop_generation(self.runtime.engine, old - 1)
            new_facts = facts_tables(state.generation)
            await create_tables(self.runtime.engine, new_facts, fresh=True)
            successor = FactsProjection(new_facts, consumer_name(state.generation))
            await forget_consumer(self.runtime.engine, successor.name)  # a failed rebuild's positions
            runner = self.runtime.runner_for(successor)
            live = self._outgoing = self.live()
            task = asyncio.create_task(runner.run(), name=f"rebuild-{runner.name}")
            try:
                async with asyncio.timeout(timeout):
                    await self._catch_up(runner, state, on_progress)
                    async with live._applying:  # the live projection holds still while we finish
                        await self._catch_up(runner, state, on_progress)
                        async with self.runtime.engine.begin() as conn:
                            await conn.execute(
                                update(generations)
                                .where(generations.c.projection == NAME)
                                .values(active=state.generation)
                            )
                        self.projection = successor  # readers now read the new generation
                        state.switched = True
            except BaseException as exc:
                state.error = repr(exc)
                task.cancel()
                raise
            task.cancel()
            await asyncio.wait([task], timeout=10)
            # The old runner (still named for the old generation) stops; the new one carries on live.
            await self.runtime.replace_consumer(live, self.runtime.runner_for(successor))
            return state

    async def _catch_up(
        self, runner: ConsumerRunner, state: RebuildState, on_progress: Callable[[RebuildState], None] | None
    ) -> None:
        """Until the new consumer has read at least as far as the live one on every partition."""

        async def caught_up() -> bool:
            state.applied = runner.applied_total
            if on_progress:
                on_progress(state)
            live = self.live().positions
            if not live:  # nothing projected yet: caught up once the new one has read what there is
                return await runner.lag() == 0
            return all(runner.positions.get(tp, 0) >= offset for tp, offset in live.items())

        await runner.wait_until(caught_up, timeout=24 * 3600)


async def table_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
