"""Append throughput: ``EventStore.append`` (one event per transaction) beside the same insert done with
the bare driver (asyncpg on PostgreSQL, stdlib sqlite3 on SQLite). On both sides the schema's trigger
writes the outbox row in the same transaction, so both write exactly the same rows.

Every writer appends to its own stream with the right expected version, so nothing conflicts: the
figures are the cost of the code path, not of contention on a stream. The baselines do not check the
stream's current version (the store's insert does, in the same statement).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

from bench.config import Sizes
from bench.measure import Figures, Round, Step, Stopwatch, alternate
from bench.services import Services
from bench.workload import META, SOURCE, event
from shared.contracts import registry
from shared.db import create_engine
from shared.events import utcnow
from shared.eventstore import EventStore
from shared.migrations import upgrade

TOPIC = "p2kp.bench.events"
WARMUP_EVENTS = 20
_COLUMNS = (
    "event_id, stream_id, stream_version, event_type, data, correlation_id, causation_id, "
    "actor_subject, actor_role, actor_scope, city_code, recorded_at"
)
PG_INSERT_EVENT = (
    f"INSERT INTO events ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
    "RETURNING position"
)
SQLITE_INSERT_EVENT = f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# SQLAlchemy's storage format for DateTime on SQLite, so both sides write identical rows.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def _row(stream: str, version: int) -> tuple[str | int | None, ...]:
    """The event row's columns but recorded_at, as the store would write them."""
    payload = event(version)
    return (
        str(uuid.uuid4()),
        stream,
        version,
        payload.event_type,
        json.dumps(payload.model_dump(mode="json")),
        META.correlation_id,
        META.causation_id,
        META.actor.subject,
        META.actor.role,
        " ".join(META.actor.scope),
        META.city_code,
    )


def _store_round(store: EventStore, writers: int, total: int) -> Round:
    per_writer = max(1, total // writers)

    async def writer(stream: str) -> None:
        for version in range(per_writer):
            await store.append(stream, [event(version + 1)], expected_version=version, metadata=META)

    async def run(_round: int) -> tuple[int, float]:
        tag = uuid.uuid4().hex[:8]
        clock = Stopwatch()
        await asyncio.gather(*(writer(f"es-{tag}-{w}") for w in range(writers)))
        return per_writer * writers, clock.elapsed()

    return run


def _gather_round(writers: int, total: int, writer: Callable[[int, str, int], Awaitable[None]]) -> Round:
    per_writer = max(1, total // writers)

    async def run(_round: int) -> tuple[int, float]:
        tag = uuid.uuid4().hex[:8]
        clock = Stopwatch()
        await asyncio.gather(*(writer(w, f"raw-{tag}-{w}", per_writer) for w in range(writers)))
        return per_writer * writers, clock.elapsed()

    return run


# --- PostgreSQL -------------------------------------------------------------------------------------


async def _asyncpg_writer(conn: asyncpg.Connection, stream: str, count: int) -> None:
    for version in range(1, count + 1):
        async with conn.transaction():
            # The schema's trigger queues the outbox row, for the baseline as for the store.
            await conn.fetchval(PG_INSERT_EVENT, *_row(stream, version), utcnow())


async def bench_append_pg(services: Services, sizes: Sizes, step: Step) -> Figures:
    database = services.new_database("bench_append")
    engine = create_engine(database.url)
    connections: list[asyncpg.Connection] = []
    try:
        await upgrade(engine)
        store = EventStore(engine, registry, source=SOURCE, topic=TOPIC)
        connections = [await asyncpg.connect(database.dsn) for _ in range(sizes.writers)]

        async def raw(w: int, stream: str, count: int) -> None:
            await _asyncpg_writer(connections[w], stream, count)

        figures: Figures = {}
        for writers in (1, sizes.writers):
            # Warm-up: pool connections opened, statements prepared and compiled, on both sides.
            await _store_round(store, writers, WARMUP_EVENTS * writers)(0)
            await _gather_round(writers, WARMUP_EVENTS * writers, raw)(0)
            pair = await alternate(
                sizes.rounds,
                _store_round(store, writers, sizes.append_pg_events),
                _gather_round(writers, sizes.append_pg_events, raw),
                step=step,
                names=(f"EventStore {writers}w", f"asyncpg {writers}w"),
            )
            figures[f"append_pg_{writers}w_events_per_s"] = pair.target
            figures[f"raw_asyncpg_{writers}w_events_per_s"] = pair.baseline
            figures["append_pg_ratio_1w" if writers == 1 else "append_pg_ratio"] = pair.ratio
        return figures
    finally:
        for conn in connections:
            await conn.close()
        await engine.dispose()


# --- SQLite -------------------------------------------------------------------------------------------


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    """A connection set up like the platform's (shared.db): autocommit off, WAL, NORMAL sync, busy wait."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def _sqlite3_writer(conn: sqlite3.Connection, stream: str, count: int) -> None:
    for version in range(1, count + 1):
        row = _row(stream, version)
        conn.execute("BEGIN IMMEDIATE")  # what the platform's engine emits: take the write lock up front
        try:
            conn.execute(SQLITE_INSERT_EVENT, (*row, utcnow().strftime(SQLITE_DATETIME)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


async def bench_append_sqlite(sizes: Sizes, step: Step) -> Figures:
    with tempfile.TemporaryDirectory(prefix="bench-sqlite.") as tmp:
        path = Path(tmp) / "store.sqlite"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        connections: list[sqlite3.Connection] = []
        # One OS thread per raw writer, like aiosqlite's one thread per connection on the store's side.
        threads = ThreadPoolExecutor(max_workers=sizes.writers, thread_name_prefix="sqlite3-writer")
        try:
            await upgrade(engine)
            store = EventStore(engine, registry, source=SOURCE, topic=TOPIC)
            connections = [_sqlite_connect(path) for _ in range(sizes.writers)]
            loop = asyncio.get_running_loop()

            async def raw(w: int, stream: str, count: int) -> None:
                await loop.run_in_executor(threads, _sqlite3_writer, connections[w], stream, count)

            figures: Figures = {}
            for writers in (1, sizes.writers):
                await _store_round(store, writers, WARMUP_EVENTS * writers)(0)
                await _gather_round(writers, WARMUP_EVENTS * writers, raw)(0)
                pair = await alternate(
                    sizes.rounds,
                    _store_round(store, writers, sizes.append_sqlite_events),
                    _gather_round(writers, sizes.append_sqlite_events, raw),
                    step=step,
                    names=(f"EventStore {writers}w", f"sqlite3 {writers}w"),
                )
                figures[f"append_sqlite_{writers}w_events_per_s"] = pair.target
                figures[f"raw_sqlite3_{writers}w_events_per_s"] = pair.baseline
                figures["append_sqlite_ratio_1w" if writers == 1 else "append_sqlite_ratio"] = pair.ratio
            return figures
        finally:
            threads.shutdown(wait=True)
            for conn in connections:
                conn.close()
            await engine.dispose()
