"""Alembic migrations: the event-store tables every service database has, and each service's own.

Each service may keep its own migration folder (with its own version table) beside the event store's;
``upgrade`` runs them in order, programmatically, in one transaction.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import metadata as eventstore_metadata

HERE = Path(__file__).parent
EVENTSTORE = (HERE, "alembic_version_eventstore", eventstore_metadata)
# Several processes of one service may start at once against one PostgreSQL database.
_MIGRATION_LOCK = 0x5032_4B50

Migrations = tuple[Path, str, MetaData]


def run_env() -> None:
    """The body of every ``env.py``: migrate the connection handed over by ``upgrade``."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=context.config.attributes["metadata"],
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()


def _upgrade(connection: Connection, chains: list[Migrations]) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
    for location, version_table, metadata in chains:
        cfg = Config()
        cfg.set_main_option("script_location", str(location))
        cfg.attributes.update(connection=connection, version_table=version_table, metadata=metadata)
        command.upgrade(cfg, "head")


async def upgrade(engine: AsyncEngine, *extra: Migrations) -> None:
    """Bring the event-store schema, then each of ``extra``, to its latest revision."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, [EVENTSTORE, *extra])
