"""Alembic environment of the ledger service (run by shared.migrations.upgrade)."""

from shared.migrations import run_env

run_env()
