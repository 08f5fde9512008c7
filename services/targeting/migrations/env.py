"""Alembic environment of the targeting service's own tables (run by shared.migrations.upgrade)."""

from shared.migrations import run_env

run_env()
