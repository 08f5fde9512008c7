"""Alembic environment of the institutions service (run by shared.migrations.upgrade)."""

from shared.migrations import run_env

run_env()
