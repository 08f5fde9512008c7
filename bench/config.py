"""Benchmark sizes: defaults for the full run, smaller ones for ``--quick``, overridable by env or flags.

Precedence: command-line flag, then ``BENCH_<NAME>`` environment variable, then the preset
(``--quick`` or full).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from bench import REPO_ROOT

PHASES = ("append_pg", "append_sqlite", "relay", "projection", "latency", "commands", "rebuild", "national")
RESULTS_DIR = REPO_ROOT / "bench" / "results"
DOCS_PATH = REPO_ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does. Events counts are per measured round, all writers together."""

    rounds: int  # alternating target/baseline rounds per figure; the median round is reported
    writers: int  # the "many writers" case of the append benchmarks
    append_pg_events: int
    append_sqlite_events: int
    relay_events: int
    projection_events: int
    latency_rate: float  # events per second, open loop
    latency_seconds: float
    partitions: int  # of every Kafka topic the benchmarks create
    load_top_rate: float  # commands/s of the command-rate phase's last step (a quarter and half before)
    load_seconds: float  # length of each step
    rebuild_events: int  # records the monitoring rebuild applies: a simulated slice, replicated onto cities
    rebuild_kelurahan: int  # of Kota Semarang in that simulated slice (cached in var/bench/ per size)
    # The national benchmark (bench/national.py; `make bench-national` runs it at the size):
    national_cities: int  # cities the simulated slice is replicated onto
    national_kelurahan: int  # in all; the slice has ceil(national_kelurahan / national_cities)
    national_years: int  # the slice's program years
    national_density: int  # the slice's kelurahan density (1 the demo's, 4 the national average)
    national_query_seconds: float  # the dashboard readers' window (and the HTTP floor's)


FULL = Sizes(
    rounds=5,
    writers=8,
    append_pg_events=2000,
    append_sqlite_events=2000,
    relay_events=20000,
    projection_events=6000,
    latency_rate=200.0,
    latency_seconds=15.0,
    partitions=3,
    load_top_rate=160.0,
    load_seconds=15.0,
    rebuild_events=1_000_000,
    rebuild_kelurahan=20,
    national_cities=4,
    national_kelurahan=16,
    national_years=1,
    national_density=2,
    national_query_seconds=5.0,
)

QUICK = Sizes(
    rounds=1,
    writers=8,
    append_pg_events=160,
    append_sqlite_events=160,
    relay_events=1000,
    projection_events=400,
    latency_rate=200.0,
    latency_seconds=2.0,
    partitions=3,
    load_top_rate=40.0,
    load_seconds=3.0,
    rebuild_events=20_000,
    rebuild_kelurahan=4,
    national_cities=3,
    national_kelurahan=12,
    national_years=1,
    national_density=2,
    national_query_seconds=2.0,
)


@dataclass(frozen=True)
class Config:
    sizes: Sizes
    quick: bool
    phases: tuple[str, ...]
    json_path: Path
    update_docs: bool


def _env_sizes(preset: Sizes) -> Sizes:
    changes: dict[str, float | int] = {}
    for f in fields(Sizes):
        raw = os.environ.get(f"BENCH_{f.name.upper()}")
        if raw:
            changes[f.name] = float(raw) if f.type == "float" else int(raw)
    return replace(preset, **changes)  # type: ignore[arg-type]


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Event store, relay and projection benchmarks, each beside a bare-driver baseline.",
        epilog="Every size can also be set as BENCH_<NAME> in the environment, e.g. BENCH_RELAY_EVENTS=5000.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every phase")
    for f in fields(Sizes):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=float if f.type == "float" else int,
            default=None,
            metavar="N",
        )
    parser.add_argument(
        "--only",
        default=",".join(PHASES),
        help=f"comma-separated subset of phases to run: {', '.join(PHASES)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the figures (default bench/results/latest.json; quick.json with --quick)",
    )
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--docs", dest="docs", action="store_true", default=None, help="regenerate the docs table"
    )
    docs.add_argument("--no-docs", dest="docs", action="store_false", help="leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)

    sizes = _env_sizes(QUICK if args.quick else FULL)
    sizes = replace(sizes, **{f.name: getattr(args, f.name) for f in fields(Sizes) if getattr(args, f.name)})
    phases = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    if sizes.rounds < 1 or sizes.writers < 1:
        parser.error("rounds and writers must be at least 1")
    # A smoke run must not overwrite the documented figures; a partial run neither: the table and
    # latest.json are every phase's, and a partial run's figures would replace them with a few rows.
    partial = set(phases) != set(PHASES)
    if args.docs and partial:
        parser.error(
            "--docs regenerates the table of every phase: run them all (no --only), or leave the docs "
            "alone and read the partial run's figures in bench/results/partial.json"
        )
    default = "quick.json" if args.quick else "partial.json" if partial else "latest.json"
    json_path = args.json or RESULTS_DIR / default
    update_docs = args.docs if args.docs is not None else (not args.quick and not partial)
    return Config(sizes=sizes, quick=args.quick, phases=phases, json_path=json_path, update_docs=update_docs)
