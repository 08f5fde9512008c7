"""Sustained command rate: the load generator (bench/load.py) against every service as its own process
on PostgreSQL and Kafka (distributed mode), beside the same load against the embedded platform (one
process, SQLite) started in the same run.

The load steps up (a quarter, half and all of ``load_top_rate`` commands/s, ``load_seconds`` each, after
the same preparation through the API); a step is sustained while nearly every command is acknowledged
at the offered rate and p95 stays under a second. The figure is the highest sustained acknowledged rate.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from bench.config import Sizes
from bench.load import LoadReport, Target, run_load
from bench.measure import Figures, Step
from bench.prepare import prepare
from bench.services import Services
from tests.harness.distributed import distributed_platform
from tests.harness.processes import platform_process
from tests.harness.tokens import ADMIN

SUSTAINED_SHARE = 0.95  # of the offered commands acknowledged, at the offered pace
SUSTAINED_P95_SECONDS = 1.0


def sustained(report: LoadReport, offered: float, seconds: float) -> bool:
    """Nearly every command offered in the step acknowledged, and p95 under a second."""
    return (
        len(report.acknowledged) >= SUSTAINED_SHARE * offered * seconds
        and report.percentile(95) <= SUSTAINED_P95_SECONDS
    )


async def _steps(http: httpx.AsyncClient, target: Target, sizes: Sizes, label: str, step: Step) -> Figures:
    best, figures = 0.0, Figures()
    for n, share in enumerate((0.25, 0.5, 1.0)):
        offered = sizes.load_top_rate * share
        report = await run_load(
            http, target, rate=offered, seconds=sizes.load_seconds, run_id=f"{label}-{n}", first=n * 100_000
        )
        step(f"{label} {offered:.0f}/s: {report.summary()[:60]}")
        rate = len(report.acknowledged) / report.seconds
        if sustained(report, offered, sizes.load_seconds):
            best = max(best, rate)
            figures |= {
                f"commands_{label}_p50_ms": report.percentile(50) * 1000,
                f"commands_{label}_p95_ms": report.percentile(95) * 1000,
            }
    figures[f"commands_{label}_per_s"] = best
    return figures


async def bench_commands(services: Services, sizes: Sizes, step: Step) -> Figures:
    figures: Figures = {}
    assert services.kafka is not None, "the command-rate phase needs Kafka"
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        work = Path(tmp)
        env = {
            "P2KP_DATA_DIR": str(work / "embedded"),
            "P2KP_LOG_LEVEL": "WARNING",
            "P2KP_DEMO_SEED": "false",
        }
        with platform_process(["run"], env, work / "embedded.log", "/monitoring/ready") as embedded:
            async with httpx.AsyncClient(base_url=embedded.base, headers=ADMIN, timeout=60) as http:
                target = await prepare(http)
                step("embedded platform prepared")
                figures |= await _steps(http, target, sizes, "embedded", step)
        with distributed_platform(
            work / "distributed", services.postgres, services.kafka, env={"P2KP_LOG_LEVEL": "WARNING"}
        ) as platform:
            async with platform.client(headers=ADMIN) as http:
                target = await prepare(http)
                step("distributed platform prepared")
                figures |= await _steps(http, target, sizes, "distributed", step)
    if figures.get("commands_embedded_per_s"):
        figures["commands_ratio"] = figures["commands_distributed_per_s"] / figures["commands_embedded_per_s"]
    return figures
