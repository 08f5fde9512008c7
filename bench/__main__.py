"""``python -m bench``: start the servers, run the phases with progress bars, report the figures."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bench.append import bench_append_pg, bench_append_sqlite
from bench.commands import bench_commands
from bench.config import DOCS_PATH, Config, Sizes, parse_args
from bench.latency import bench_latency
from bench.machine import load_average, this_machine
from bench.measure import Figures, Step, Stopwatch
from bench.national import PHASE_STEPS as NATIONAL_STEPS
from bench.national import bench_national
from bench.projection import bench_projection
from bench.rebuild import STEPS as REBUILD_STEPS
from bench.rebuild import bench_rebuild
from bench.relay import bench_relay
from bench.report import console_table, latency_details, rebuild_details, update_docs, write_json
from bench.services import Services, running_services

Phase = Callable[[Services, Sizes, Step], Awaitable[Figures]]


async def _append_sqlite(_services: Services, sizes: Sizes, step: Step) -> Figures:
    return await bench_append_sqlite(sizes, step)


PHASES: dict[str, tuple[str, Phase, Callable[[Sizes], int]]] = {
    "append_pg": ("Append · PostgreSQL", bench_append_pg, lambda s: 4 * s.rounds),
    "append_sqlite": ("Append · SQLite", _append_sqlite, lambda s: 4 * s.rounds),
    "relay": ("Relay → Kafka", bench_relay, lambda s: 2 * s.rounds),
    "projection": ("Projection ← Kafka", bench_projection, lambda s: 2 * s.rounds),
    "latency": ("Command → projection latency", bench_latency, lambda s: 2),
    "commands": ("Sustained commands, every service a process", bench_commands, lambda s: 8),
    "rebuild": ("Monitoring rebuild ← Kafka", bench_rebuild, lambda s: REBUILD_STEPS),
    "national": (
        "National scale, small (monitoring as 2 processes)",
        bench_national,
        lambda s: NATIONAL_STEPS,
    ),
}
KAFKA_PHASES = {"relay", "projection", "latency", "commands", "rebuild", "national"}


def _quiet_logs() -> None:
    """Only warnings and errors, on stderr: the platform's info lines would tear the progress bars."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


async def run_phases(config: Config, services: Services, console: Console) -> tuple[Figures, list[str]]:
    """Every selected phase in order; a phase that fails is reported and the others still run."""
    figures: Figures = {}
    failed: list[str] = []
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {
            name: progress.add_task(PHASES[name][0], total=PHASES[name][2](config.sizes))
            for name in config.phases
        }
        for name in config.phases:
            title, phase, _steps = PHASES[name]
            task = tasks[name]

            def step(what: str, task: TaskID = task, title: str = title) -> None:
                progress.update(task, advance=1, description=f"{title}: {what}")

            progress.update(task, description=f"{title}: running")
            try:
                figures |= await phase(services, config.sizes, step)
            except Exception:
                progress.update(task, description=f"{title}: [bold red]FAILED[/]")
                console.print_exception()
                failed.append(name)
            else:
                progress.update(task, description=f"{title}: done")
    return figures, failed


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    _quiet_logs()
    console = Console()
    if not console.is_terminal:  # piped (make, CI): room for the table instead of 80 columns
        console = Console(width=150)
    clock = Stopwatch()
    machine = this_machine()
    needs_kafka = bool(KAFKA_PHASES & set(config.phases))
    with console.status("Starting PostgreSQL" + (" and Kafka" if needs_kafka else "") + " ..."):
        stack = ExitStack()
        services = stack.enter_context(running_services(kafka=needs_kafka))
    with stack:
        machine = replace(
            machine,
            postgres=services.postgres.version,
            kafka=services.kafka.version if services.kafka else "-",
        )
        console.print(f"[dim]{machine.describe()}; {machine.software()}[/]")
        figures, failed = asyncio.run(run_phases(config, services, console))
        with console.status("Stopping the servers ..."):
            stack.close()
    machine = replace(machine, load_at_end=load_average())
    figures |= {
        "total_seconds": clock.elapsed(),
        "load_average_start": machine.load_at_start,
        "load_average_end": machine.load_at_end,
    }
    console.print(console_table(config.sizes, figures))
    if details := latency_details(figures):
        console.print(details)
    if details := rebuild_details(figures):
        console.print(details)
    if failed:
        # latest.json and the docs keep the last complete run's figures.
        console.print(f"[bold red]Failed phase(s): {', '.join(failed)}[/]; no figures written.")
        return 1
    write_json(config.json_path, figures)
    console.print(f"Figures written to {config.json_path}")
    if config.update_docs:
        update_docs(DOCS_PATH, config.sizes, figures, machine)
        console.print(f"Table regenerated in {DOCS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
