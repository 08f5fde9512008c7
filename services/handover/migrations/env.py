"""Alembic environment of the handover service (run by shared.migrations.upgrade)."""

from shared.migrations import run_env

run_env()
