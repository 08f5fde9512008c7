"""What the figures were measured on: CPUs, CPU model, memory, software versions, date."""

from __future__ import annotations

import os
import platform
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    nproc: int
    cpu_model: str
    memory_gib: float
    python: str
    sqlite: str
    aiokafka: str
    asyncpg: str
    sqlalchemy: str
    measured_at: datetime
    load_at_start: float = 0.0
    load_at_end: float = 0.0
    postgres: str = "?"
    kafka: str = "?"

    def describe(self) -> str:
        return f"{self.nproc} CPUs ({self.cpu_model}), {self.memory_gib:.0f} GiB RAM"

    def load(self) -> str:
        return (
            f"load average (1 min) {self.load_at_start:.2f} at the start, {self.load_at_end:.2f} at the end"
        )

    def software(self) -> str:
        return (
            f"Python {self.python}, PostgreSQL {self.postgres}, Kafka {self.kafka}, SQLite {self.sqlite}, "
            f"SQLAlchemy {self.sqlalchemy}, asyncpg {self.asyncpg}, aiokafka {self.aiokafka}"
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def this_machine() -> Machine:
    return Machine(
        nproc=_nproc(),
        cpu_model=_cpu_model(),
        memory_gib=_memory_gib(),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        aiokafka=version("aiokafka"),
        asyncpg=version("asyncpg"),
        sqlalchemy=version("sqlalchemy"),
        measured_at=datetime.now(UTC),
        load_at_start=load_average(),
    )


def load_average() -> float:
    """The 1-minute load average: how busy the shared machine was (2.0 = both cores taken on a 2-CPU box)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")
