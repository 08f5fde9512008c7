"""Timing helpers: a target and its baseline measured in alternating rounds, medians, percentiles."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

Figures = dict[str, float]

# One measured round: run the workload, return (events done, seconds taken).
Round = Callable[[int], Awaitable[tuple[int, float]]]
Step = Callable[[str], None]


@dataclass(frozen=True)
class Pair:
    """Events per second of a target and of its baseline, the median of alternating rounds each."""

    target: float
    baseline: float

    @property
    def ratio(self) -> float:
        return self.target / self.baseline if self.baseline else 0.0


async def alternate(
    rounds: int, target: Round, baseline: Round, *, step: Step, names: tuple[str, str]
) -> Pair:
    """Run ``rounds`` rounds of each, alternating which goes first, so drift hits both sides alike."""
    rates: dict[str, list[float]] = {"target": [], "baseline": []}
    for r in range(rounds):
        order = [("target", target), ("baseline", baseline)]
        if r % 2 == 0:
            order.reverse()  # baseline first in rounds 1, 3, ...: it also warms the servers
        for side, run in order:
            done, seconds = await run(r)
            rates[side].append(done / seconds)
            step(f"{names[0] if side == 'target' else names[1]} round {r + 1}/{rounds}")
    return Pair(statistics.median(rates["target"]), statistics.median(rates["baseline"]))


class Stopwatch:
    """Seconds since start, on the monotonic high-resolution clock."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = (len(ordered) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)
