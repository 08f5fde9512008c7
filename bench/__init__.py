"""Benchmarks of the event-sourcing plumbing, each measured beside a bare-driver baseline in one run.

``python -m bench`` (or ``make bench``) starts a throwaway PostgreSQL cluster and Kafka broker with the
test harness, runs every benchmark, prints a table, writes ``bench/results/latest.json`` and regenerates
the table in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The launchers live in tests/harness; make them importable however the package was started.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
