"""The monitoring facts' writes, queued and flushed a batch at a time (on PostgreSQL as one statement
over arrays per run), leave the rows that applying them one at a time leaves: checked against a model of
each write's meaning, over random sequences that write the same rows again and again within a run."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, select

from services.monitoring.facts import Facts, facts_tables
from services.monitoring.generations import create_tables
from services.monitoring.writes import Writes
from shared.db import create_engine

Row = dict[str, Any]
KELURAHAN = [f"33.74.01.100{n}" for n in range(1, 5)]
KSM = ["ksm-1", "ksm-2", "ksm-3"]


class Model:
    """What each write means, row by row: the rows the database must hold in the end."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.rows: dict[str, dict[tuple[Any, ...], Row]] = {t.name: {} for t in facts.tables}

    def _key(self, table: Table, row: Row) -> tuple[Any, ...]:
        return tuple(row[c.name] for c in table.primary_key)

    def upsert(self, table: Table, values: Row, keys: tuple[str, ...]) -> None:
        row = self.rows[table.name].setdefault(self._key(table, values), {c.name: None for c in table.c})
        row.update(values)

    def insert(self, table: Table, values: Row) -> None:
        self.upsert(table, values, ())

    def update(self, table: Table, key: Row, values: Row, *, only_if_later: str | None = None) -> None:
        row = self.rows[table.name].get(tuple(key.values()))
        if row is None:
            return
        if only_if_later:
            now, then = row[only_if_later], values[only_if_later]
            if now is None or then is None or not now > then:  # SQL: a comparison with NULL is not true
                return
        row.update(values)

    def add(self, table: Table, key: Row, column: str, delta: int) -> None:
        if (row := self.rows[table.name].get(tuple(key.values()))) is not None:
            row[column] += delta


def _day(rng: random.Random) -> date | None:
    return None if rng.random() < 0.15 else date(2025, 1, 1) + timedelta(days=rng.randrange(60))


def _writes(facts: Facts, rng: random.Random, count: int) -> list[tuple[str, tuple[Any, ...], Row]]:
    """``count`` random writes, in runs of one kind, most of them to rows written before (the runs'
    merges and cuts)."""
    f = facts
    made: list[tuple[str, tuple[Any, ...], Row]] = []
    kinds = [rng.randrange(8) for _ in range(count // 4)]
    for kind in (kind for kind in kinds for _ in range(rng.randrange(1, 8))):
        kel = rng.choice(KELURAHAN)
        key = {"period_code": "KOTAKU", "kelurahan_code": kel}
        target = {**key, "city_code": kel[:5]}
        match kind:
            case 0:
                status = rng.choice(["nominated", "verified", "confirmed"])
                made.append(
                    ("upsert", (f.targets, {**target, "status": status, "dropped_on": None}, tuple(key)), {})
                )
            case 1:
                values = {**target, "status": "verified", "dropped_on": None, "targeted_on": _day(rng)}
                made.append(("upsert", (f.targets, values, tuple(key)), {}))
            case 2:
                made.append(("update", (f.targets, key, {"status": "dropped", "dropped_on": _day(rng)}), {}))
            case 3:
                later = {"only_if_later": "targeted_on"}
                made.append(("update", (f.targets, key, {"targeted_on": _day(rng)}), later))
            case 4:
                values = {"targeted_on": _day(rng), "status": rng.choice(["verified", "confirmed"])}
                made.append(("update", (f.targets, key, values), {"only_if_later": "targeted_on"}))
            case 5:
                ksm = rng.choice(KSM)
                row = {"ksm_id": ksm, **target, "type": "ekonomi", "registered_on": date(2025, 2, 1)}
                made.append(
                    (
                        "upsert",
                        (f.ksm, {**row, "members": rng.randrange(5, 12), "flagged": 0}, ("ksm_id",)),
                        {},
                    )
                )
            case 6:
                column = rng.choice(["members", "flagged"])
                made.append(("add", (f.ksm, {"ksm_id": rng.choice(KSM)}, column, rng.choice([1, -1])), {}))
            case _:
                meeting = {
                    "event_id": f"meeting-{rng.getrandbits(64):016x}",
                    **target,
                    "step": "rkm",
                    "held_on": _day(rng) or date(2025, 1, 1),
                    "facilitator": "Sri",
                    "men": 3,
                    "women": 4,
                    "poor_households": 2,
                    "relawan": 0,
                }
                made.append(("insert", (f.meetings, meeting), {}))
    return made


async def _rows(conn: Any, table: Table) -> list[Row]:
    found = await conn.execute(select(table).order_by(*table.primary_key))
    return [dict(row._mapping) for row in found]


@pytest.mark.parametrize("seed", range(6))
async def test_writes_flushed_a_batch_at_a_time_leave_the_rows_of_each_write_applied_alone(
    store_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    facts = facts_tables(900 + seed)
    engine = create_engine(store_url)
    try:
        await create_tables(engine, facts, fresh=True)
        model = Model(facts)
        statements: dict[tuple[Any, ...], Any] = {}
        for _batch in range(3):
            async with engine.begin() as conn:
                writes = Writes(conn.dialect, statements)
                for kind, args, options in _writes(facts, rng, 150):
                    getattr(writes, kind)(*args, **options)
                    getattr(model, kind)(*args, **options)
                    if rng.random() < 0.05:  # a read of one table in the middle of the batch
                        await writes.flush(conn, rng.choice([facts.targets, facts.ksm]))
                await writes.flush(conn)
        async with engine.connect() as conn:
            for table in (facts.targets, facts.ksm, facts.meetings):
                expected = [model.rows[table.name][k] for k in sorted(model.rows[table.name])]
                assert await _rows(conn, table) == expected, table.name
        assert sum(len(model.rows[t.name]) for t in (facts.targets, facts.ksm)) == len(KELURAHAN) + len(KSM)
    finally:
        await engine.dispose()
