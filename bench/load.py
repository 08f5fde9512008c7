"""A bounded load generator: commands at a steady rate for a fixed time, in a fixed mix, against the
platform on this machine only (loopback), printing throughput, errors and latency percentiles.

It is the steady load the fault-injection tests (tests/chaos) run while they break things, and the
sustained-command-rate benchmark. Every command is recorded with what the client saw, so a test can
check afterwards that each acknowledged command is in the event store exactly once.

    python -m bench.load --base-url http://127.0.0.1:8000 --rate 50 --duration 30

(against `make run`: it first prepares a kelurahan with loans through the API, see ``prepare``.)
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

# What the generator sends, by kind, and how often (weights).
DEFAULT_MIX = {"repayment": 3, "survey": 1, "person": 1}
RETRYABLE = {502, 503, 504}


@dataclass
class Target:
    """What the commands act on: loans to repay (their URLs), targeted kelurahan of a period."""

    period: str
    kelurahan: list[str]
    loans: list[str]


@dataclass
class Sent:
    """One command as the client experienced it."""

    kind: str
    key: str | None  # the idempotency key, for the commands that carry one
    status: int | None  # None: no answer at all (connection refused, timeout)
    latency: float
    answer: dict[str, Any] | None
    attempts: int = 1

    @property
    def acknowledged(self) -> bool:
        return self.status in (200, 201)


@dataclass
class LoadReport:
    sent: list[Sent] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def acknowledged(self) -> list[Sent]:
        return [s for s in self.sent if s.acknowledged]

    def statuses(self) -> Counter[str]:
        return Counter("no answer" if s.status is None else str(s.status) for s in self.sent)

    def percentile(self, p: float) -> float:
        latencies = sorted(s.latency for s in self.acknowledged)
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    def summary(self) -> str:
        rate = len(self.acknowledged) / self.seconds if self.seconds else 0.0
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses().items()))
        return (
            f"{len(self.sent)} commands sent, {len(self.acknowledged)} acknowledged in {self.seconds:.1f} s "
            f"({rate:.1f}/s); answers {errors}; latency p50 {self.percentile(50) * 1000:.0f} ms, "
            f"p95 {self.percentile(95) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms; "
            f"retries {sum(s.attempts - 1 for s in self.sent)}"
        )


def require_loopback(url: str) -> None:
    """The generator never loads a machine other than this one."""
    host = httpx.URL(url).host
    if host == "localhost":
        host = socket.gethostbyname(host)  # as the client will resolve it
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"{url}: the load generator only targets this machine (127.0.0.1, ::1, localhost)")


class Commands:
    """The command kinds, each a request built from the target and a sequence number."""

    def __init__(self, target: Target, run_id: str) -> None:
        self.target, self.run_id = target, run_id

    def build(self, kind: str, n: int) -> tuple[str, dict[str, Any], str | None]:
        kelurahan = self.target.kelurahan[n % len(self.target.kelurahan)]
        if kind == "repayment":
            key = f"load-{self.run_id}-{n}"
            loan = self.target.loans[n % len(self.target.loans)]
            # Small amounts: a loan of millions takes thousands of them before it is paid off.
            body = {"idempotency_key": key, "amount_rupiah": 1_000, "paid_on": "2022-01-01"}
            return f"{loan}/repayments", body, key
        if kind == "survey":
            base = f"/targeting/program-periods/{self.target.period}/kelurahan/{kelurahan}"
            survey = {
                "criteria_version": 1,
                "criteria_met": [1],
                "members": 1 + n % 7,
                "poor": n % 5 != 0,
                "surveyed_on": "2020-10-15",
            }
            personal = {
                "head_name": f"Warga Beban {n}",
                "nik": synthetic_nik(kelurahan, n),
                "address": "Jl. Uji",
            }
            return f"{base}/households", {"personal": personal, "survey": survey}, None
        if kind == "person":
            body = {"name": f"Relawan Beban {n}", "woman": n % 2 == 0}
            return f"/institutions/kelurahan/{kelurahan}/people", body, None
        raise ValueError(f"unknown command kind {kind!r}")


def synthetic_nik(kelurahan: str, n: int) -> str:
    """A valid-format NIK of the kelurahan's kecamatan, unique per ``n``, of nobody: a birth date in
    1950-1999 (day + 40 for women) and a serial. Synthetic people only."""
    serial, rest = n % 9999 + 1, n // 9999
    day, month, year = rest % 28 + 1, rest // 28 % 12 + 1, 50 + rest // 336 % 50
    day += 40 * (n % 2)
    return f"{kelurahan[:2]}{kelurahan[3:5]}{kelurahan[6:8]}{day:02d}{month:02d}{year:02d}{serial:04d}"


async def run_load(
    http: httpx.AsyncClient,
    target: Target,
    *,
    rate: float,
    seconds: float,
    mix: Mapping[str, int] = DEFAULT_MIX,
    concurrency: int = 16,
    retries: int = 5,
    seed: int = 1,
    run_id: str = "1",
    first: int = 0,
    on_sent: Callable[[Sent], None] | None = None,
) -> LoadReport:
    """Send commands at ``rate`` per second for ``seconds``, ``mix`` deciding their kinds; at most
    ``concurrency`` in flight, numbered from ``first`` (a second run on the same platform starts after
    the first, or its synthetic NIKs repeat). A command with an idempotency key is retried with the
    same key when it got no answer or 502/503/504, as a client should; the others are not (a retry
    could do it twice)."""
    commands = Commands(target, run_id)
    kinds = random.Random(seed).choices(list(mix), weights=list(mix.values()), k=int(rate * seconds) + 1)
    report = LoadReport()
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(n: int, kind: str) -> None:
        url, body, key = commands.build(kind, first + n)
        async with gate:
            began = time.perf_counter()
            status, answer, attempts = None, None, 0
            while attempts <= (retries if key else 0):
                attempts += 1
                try:
                    response = await http.post(url, json=body)
                    status = response.status_code
                    answer = response.json() if response.content else None
                except (httpx.TransportError, ValueError):
                    status, answer = None, None
                if status is not None and status not in RETRYABLE:
                    break
                if key:
                    await asyncio.sleep(min(0.2 * 2 ** (attempts - 1), 2.0))  # back off, then retry
        sent = Sent(kind, key, status, time.perf_counter() - began, answer, attempts)
        report.sent.append(sent)
        if on_sent:
            on_sent(sent)

    tasks = []
    for n, kind in zip(itertools.count(), kinds, strict=False):
        due = started + n / rate
        if due - started >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load, not waiting for a result
        tasks.append(asyncio.create_task(one(n, kind)))
    await asyncio.gather(*tasks)
    report.seconds = time.perf_counter() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base-url", default="http://127.0.0.1:8000", help="the embedded platform (make run)"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="commands per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--mix", default="repayment=3,survey=1,person=1")
    args = parser.parse_args()
    require_loopback(args.base_url)
    mix = {k: int(v) for k, v in (part.split("=") for part in args.mix.split(","))}

    async def go() -> None:
        from bench.prepare import prepare
        from tests.harness.tokens import ADMIN

        # trust_env=False: no HTTP(S)_PROXY may carry the load to another machine.
        async with httpx.AsyncClient(
            base_url=args.base_url, headers=ADMIN, timeout=30, trust_env=False
        ) as http:
            target = await prepare(http)
            report = await run_load(
                http, target, rate=args.rate, seconds=args.duration, mix=mix, concurrency=args.concurrency
            )
        print(report.summary())

    asyncio.run(go())


if __name__ == "__main__":
    main()
