"""Alembic environment of the event-store tables (run programmatically by shared.migrations.upgrade)."""

from shared.migrations import run_env

run_env()
