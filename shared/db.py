"""Database engines and the tables every service database has: events, outbox and consumer checkpoints.

One set of SQLAlchemy Core tables serves SQLite (embedded mode) and PostgreSQL (distributed mode); the
schema itself is created by the Alembic migrations in ``shared/migrations``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlalchemyTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit identity.
Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("data", JSON, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("causation_id", String(64)),
    Column("actor_subject", String(200), nullable=False),
    Column("actor_role", String(64), nullable=False),
    Column("actor_scope", String(500), nullable=False, default=""),
    Column("city_code", String(20)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # The race between two writers on one stream is decided here, by the database, not by a read.
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
)

# Filled by a trigger on ``events`` (migration 0004): every stored event is queued for its relay.
outbox = Table(
    "outbox",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=False),
    Column("published_at", DateTime(timezone=True)),
    Index(
        "ix_outbox_unpublished",
        "position",
        postgresql_where="published_at IS NULL",
        sqlite_where="published_at IS NULL",
    ),
)

# Where a consumer is in each (topic, partition): the next offset to read. Written in the same
# transaction as the consumer's own writes, so a crash can never separate the two.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("consumer", String(100), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    PrimaryKeyConstraint("consumer", "topic", "partition"),
)

# The last version of each source stream a consumer has applied: redelivered events (a relay
# re-publishing after a crash, a rebalance) are recognised and skipped, in the same transaction.
consumed_streams = Table(
    "consumed_streams",
    metadata,
    Column("consumer", String(100), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", String(36), nullable=False),
    PrimaryKeyConstraint("consumer", "stream_id"),
)

dead_letter_log = Table(
    "dead_letter_log",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("consumer", String(100), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("error", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # A record is dead-lettered once per consumer, however often it is redelivered.
    UniqueConstraint("consumer", "topic", "partition", "offset", name="uq_dead_letter_record"),
)


LOCK_TIMEOUT_SECONDS = 15


async def lock(conn: AsyncConnection, name: str) -> None:
    """Hold an exclusive lock called ``name`` until ``conn``'s transaction ends: commands that read
    what other streams wrote before deciding (a bank balance, a KSM's running loan) take the same
    lock, so two of them cannot both pass a check only one of them should. PostgreSQL advisory lock;
    SQLite needs none (it lets one writer at a time in already, from the transaction's start)."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        # Never wait forever holding a pooled connection: past this the command answers 503.
        await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


# SQLSTATE classes that mean "not now", not "this statement is wrong": 08 connection exception, 40
# transaction rollback (a deadlock or serialization failure: the other transaction goes on), 53
# insufficient resources (too many connections), 57P operator intervention (shutting down, starting
# up, terminated by an administrator).
_UNAVAILABLE_SQLSTATES = ("08", "40", "53", "55P03", "57P")
# What SQLite says when it is busy or its file is unreachable; its other "operational" errors (no such
# table, too many variables) are bugs.
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk i/o error", "unable to open")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable, restarting or busy (answer 503, retry the
    batch), rather than that a statement or the data is wrong (a bug, or a poison event that a retry
    would only fail on again)."""
    if isinstance(exc, SqlalchemyTimeout):  # no pooled connection came free in time
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        if isinstance(orig, ValueError) or isinstance(getattr(orig, "__cause__", None), ValueError):
            return False  # a value the driver refused (asyncpg's DataError is an InterfaceError too)
        if type(orig).__module__.startswith("sqlite3") or "sqlite" in type(orig).__module__:
            return any(m in str(orig).lower() for m in _SQLITE_TRANSIENT)
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(sqlstate, str):
            return sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
        if isinstance(exc, OperationalError | InterfaceError):
            return True  # no SQLSTATE: the driver lost or could not make its connection
        cause = orig.__cause__ if orig is not None else None
        return cause is not None and database_unavailable(cause)
    return isinstance(exc, ConnectionError | OSError | TimeoutError)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://`` URLs."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        _make_sqlite_transactional(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping: it costs a round trip on every checkout. A connection broken by a database restart
    # fails its statement once, is invalidated, and the caller gets a 503 (or the worker retries).
    return create_async_engine(url, **kwargs)


def _make_sqlite_transactional(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling starts transactions lazily and never for SELECT, which
    # breaks SAVEPOINT and lets two writers read the same stream version. We switch it off and emit
    # BEGIN IMMEDIATE ourselves: every transaction takes the write lock up front, so writers are
    # serialised by SQLite and commit order equals position order.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
