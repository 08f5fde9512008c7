"""Alembic environment of the monitoring read models (run by shared.migrations.upgrade)."""

from shared.migrations import run_env

run_env()
