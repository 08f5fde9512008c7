"""A batch's writes to the monitoring facts, queued and sent table by table, a run of one statement at a
time: on PostgreSQL as one statement over arrays (``unnest``), on SQLite as an ``executemany``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, String, Table, Text, bindparam, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

Params = dict[str, Any]
Merge = Callable[[Params, Params], Params]


def _later(_earlier: Params, later: Params) -> Params:
    """Two writes of one statement to one row: the later sets every column the earlier did."""
    return later


def _sum(earlier: Params, later: Params) -> Params:
    return {**later, "delta": earlier["delta"] + later["delta"]}


def _earliest(column: str) -> Merge:
    """Two updates of one row "only where ``column`` is later" as one: applied in turn, the one of the
    earlier day is the last to change the row (the first, of two equal days; one of NULL changes none)."""
    name = f"v_{column}"

    def merge(earlier: Params, later: Params) -> Params:
        first, then = earlier[name], later[name]
        return later if first is None or (then is not None and then < first) else earlier

    return merge


@dataclass(frozen=True)
class _Statement:
    """One statement and how a run of it is sent. Rows of different keys are different rows, so a run's
    rows go at once, in any order, once two writes of one row are made one (``merge``)."""

    statement: Any  # executed with every row's parameters (SQLite), or with ``arrays`` (PostgreSQL)
    merge: Merge | None  # None: every row is a new one (an INSERT)
    arrays: tuple[str, ...] | None = None  # the parameters, each sent as one array of the run's values


class Writes:
    """One batch's writes to the facts tables, queued and sent table by table.

    Every write touches one table and depends only on that table's rows, so keeping the order within
    each table keeps the result. On PostgreSQL consecutive writes of one statement go as one statement
    over arrays: the server plans and runs one statement instead of one per row, and neither asyncpg nor
    SQLAlchemy handles the rows one by one. SQLite gets them as one ``executemany``. Whoever reads a
    table flushes it first. Statements are built once per shape.
    """

    def __init__(self, dialect: Dialect, statements: dict[tuple[Any, ...], _Statement]) -> None:
        self._arrays = _Arrays(dialect) if dialect.name == "postgresql" else None
        self._queued: dict[str, list[tuple[_Statement, Params, Any]]] = {}
        self._statements = statements  # built once, kept by the projection across batches

    def upsert(self, table: Table, values: dict[str, Any], keys: tuple[str, ...]) -> None:
        shape = ("upsert", table.name, tuple(values), keys)
        if (statement := self._statements.get(shape)) is None:
            if self._arrays:
                statement = self._arrays.upsert(table, tuple(values), keys)
            else:
                insert = sqlite_insert(table)
                changed = {c: insert.excluded[c] for c in values if c not in keys}
                statement = _Statement(
                    insert.on_conflict_do_update(index_elements=list(keys), set_=changed), _later
                )
            self._statements[shape] = statement
        self._queue(table, statement, values, tuple(values[k] for k in keys))

    def insert(self, table: Table, values: dict[str, Any]) -> None:
        shape = ("insert", table.name, tuple(values))
        if (statement := self._statements.get(shape)) is None:
            if self._arrays:
                statement = self._arrays.insert(table, tuple(values))
            else:
                statement = _Statement(table.insert(), None)
            self._statements[shape] = statement
        self._queue(table, statement, values, None)

    def update(
        self, table: Table, key: dict[str, Any], values: dict[str, Any], *, only_if_later: str | None = None
    ) -> None:
        """SET ``values`` on the row of ``key``; with ``only_if_later``, only where that column is later
        than the value given for it (a date moved earlier, never later)."""
        shape = ("update", table.name, tuple(key), tuple(values), only_if_later)
        if (statement := self._statements.get(shape)) is None:
            merge = _earliest(only_if_later) if only_if_later else _later
            sets = {c: f"v_{c}" for c in values}
            statement = self._statements[shape] = self._update(table, tuple(key), sets, only_if_later, merge)
        params = {**{f"w_{k}": v for k, v in key.items()}, **{f"v_{c}": v for c, v in values.items()}}
        self._queue(table, statement, params, tuple(key.values()))

    def add(self, table: Table, key: dict[str, Any], column: str, delta: int) -> None:
        shape = ("add", table.name, tuple(key), column)
        if (statement := self._statements.get(shape)) is None:
            statement = self._statements[shape] = self._update(
                table, tuple(key), {column: "delta"}, None, _sum
            )
        params = {**{f"w_{k}": v for k, v in key.items()}, "delta": delta}
        self._queue(table, statement, params, tuple(key.values()))

    def _update(
        self, table: Table, key: tuple[str, ...], sets: dict[str, str], later: str | None, merge: Merge
    ) -> _Statement:
        """UPDATE of the row of ``key`` (parameters ``w_<column>``), setting each column of ``sets`` to
        its parameter, or adding it (``delta``); with ``later``, only where that column is later."""
        if self._arrays:
            return self._arrays.update(table, key, sets, later, merge)
        where = [table.c[k] == bindparam(f"w_{k}") for k in key]
        if later:
            where.append(table.c[later] > bindparam(f"v_{later}"))
        values = {c: table.c[c] + bindparam(p) if p == "delta" else bindparam(p) for c, p in sets.items()}
        return _Statement(update(table).where(*where).values(values), merge)

    def _queue(self, table: Table, statement: _Statement, params: Params, key: Any) -> None:
        self._queued.setdefault(table.name, []).append((statement, params, key))

    async def flush(self, conn: AsyncConnection, *tables: Table) -> None:
        """Send what is queued for ``tables`` (all, by default), in order."""
        for name in [table.name for table in tables] if tables else list(self._queued):
            run: dict[Any, Params] = {}
            current: _Statement | None = None
            for statement, params, key in self._queued.pop(name, []):
                if statement is current and statement.merge is not None and key in run:
                    run[key] = statement.merge(run[key], params)
                    continue
                if current is not None and statement is not current:
                    await _send(conn, current, run)
                    run = {}
                current = statement
                run[key if key is not None else len(run)] = params
            if current is not None:
                await _send(conn, current, run)


async def _send(conn: AsyncConnection, statement: _Statement, run: dict[Any, Params]) -> None:
    rows = list(run.values())
    if statement.arrays is None:
        await conn.execute(statement.statement, rows)
    else:
        await conn.execute(statement.statement, {p: [row[p] for row in rows] for p in statement.arrays})


class _Arrays:
    """The PostgreSQL statements: each parameter an array of the run's values, cast to an array of its
    column's type, which ``unnest`` turns back into rows."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._q = dialect.identifier_preparer.quote

    def upsert(self, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> _Statement:
        q = self._q
        changed = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns if c not in keys)
        statement = (
            f"{self._insert(table, columns)} ON CONFLICT ({', '.join(map(q, keys))}) DO UPDATE SET {changed}"
        )
        return _Statement(text(statement), _later, columns)

    def insert(self, table: Table, columns: tuple[str, ...]) -> _Statement:
        return _Statement(text(self._insert(table, columns)), None, columns)

    def update(
        self, table: Table, key: tuple[str, ...], sets: dict[str, str], later: str | None, merge: Merge
    ) -> _Statement:
        q = self._q
        arrays = {f"w_{k}": k for k in key} | {p: c for c, p in sets.items()}
        assignments = ", ".join(
            f"{q(c)} = t.{q(c)} + v.{p}" if p == "delta" else f"{q(c)} = v.{p}" for c, p in sets.items()
        )
        where = [f"t.{q(k)} = v.w_{k}" for k in key] + ([f"t.{q(later)} > v.v_{later}"] if later else [])
        statement = (
            f"UPDATE {q(table.name)} AS t SET {assignments} "
            f"FROM {self._unnest(table, arrays)} AS v({', '.join(arrays)}) WHERE {' AND '.join(where)}"
        )
        return _Statement(text(statement), merge, tuple(arrays))

    def _insert(self, table: Table, columns: tuple[str, ...]) -> str:
        rows = self._unnest(table, {c: c for c in columns})
        return f"INSERT INTO {self._q(table.name)} ({', '.join(map(self._q, columns))}) SELECT * FROM {rows}"

    def _unnest(self, table: Table, arrays: dict[str, str]) -> str:
        """unnest over the parameters ``arrays`` names, each of the type of the column it names."""
        return f"unnest({', '.join(f'CAST(:{p} AS {self._type(table.c[c])}[])' for p, c in arrays.items())})"

    def _type(self, column: Column[Any]) -> str:
        # Without a length: a cast to varchar(n) would cut a longer value in silence, where writing it to
        # the column refuses it, as the row-by-row statements do.
        kind = column.type
        if isinstance(kind, String):
            kind = Text() if isinstance(kind, Text) else String()
        return str(kind.compile(dialect=self._dialect))
