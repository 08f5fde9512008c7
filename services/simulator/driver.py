"""Sends planned commands through the services' HTTP API: the kelurahan of one batch side by side, each
one's commands in order, binding the ids the services answer with. A resumed run skips what the services
already took, as its journal tells.

Every command carries a correlation id made of the run's prefix and its number in the plan, so the
events it caused can be found again after the process was killed mid-run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from services.simulator.commands import PLACEHOLDER, Command, Stage


class SimulationError(RuntimeError):
    """A command the services refused: the plan broke one of their rules, which is a simulator bug."""


@dataclass(frozen=True)
class Batch:
    """Commands of one service in one window: a lane per kelurahan (or city), independent of the others."""

    stage: Stage
    lanes: list[list[Command]]


@dataclass(frozen=True)
class Taken:
    """A command the services took: how many events they recorded, and the id it bound (if it binds one)."""

    events: int
    bound: str | None


class Journal(Protocol):
    """What a resumable run keeps of the commands the services took, by their number in the plan."""

    def taken(self, number: int, command: Command) -> Taken | None: ...

    def record(self, number: int, command: Command, taken: Taken) -> None: ...


class Driver:
    """Sends batches in turn; within a batch up to ``concurrency`` lanes at once. The log and the ids
    bound do not depend on which lane answers first."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        wait: Callable[[], Awaitable[None]] | None,
        city_headers: Callable[[str], Mapping[str, str]] | None,
        progress: Callable[[int, int], None] | None,
        total: int,
        keep_log: bool,
        correlation: str,
        concurrency: int,
        journal: Journal | None,
    ) -> None:
        self.http, self.wait, self.city_headers, self.progress = http, wait, city_headers, progress
        self.total, self.keep_log, self.correlation, self.journal = total, keep_log, correlation, journal
        self.slots = asyncio.Semaphore(concurrency)
        self.ids: dict[str, str] = {}
        # Services that took commands since the last wait. All at first: a resumed run's services may
        # not have applied what the services took before the interruption.
        self.dirty: set[Stage] = set(Stage)
        self.counts: Counter[str] = Counter()
        self.events = 0
        self.sent = 0
        self.skipped = 0  # taken before a resumed run started
        self.numbered = 0
        self.log: list[str] = []
        self.digest = hashlib.sha256()

    def forget(self) -> None:
        self.ids.clear()

    async def run(self, batches: Iterable[Batch]) -> None:
        for batch in batches:
            lanes = [[(self._number(c), c) for c in lane] for lane in batch.lanes]
            if self.wait is not None and any(c.needs & self.dirty for lane in batch.lanes for c in lane):
                await self.wait()
                self.dirty.clear()
            async with asyncio.TaskGroup() as group:
                for lane in lanes:
                    group.create_task(self._lane(lane))
            self.dirty.add(batch.stage)

    def _number(self, c: Command) -> int:
        """The command's number in the plan; its line goes into the log in plan order."""
        self.numbered += 1
        line = c.line()
        self.digest.update(line.encode() + b"\n")
        if self.keep_log:
            self.log.append(line)
        self.counts[c.kind] += 1
        return self.numbered

    async def _lane(self, lane: list[tuple[int, Command]]) -> None:
        async with self.slots:
            for number, command in lane:
                await self.send(number, command)

    async def send(self, number: int, c: Command) -> None:
        taken = self.journal.taken(number, c) if self.journal is not None else None
        if taken is None:
            taken = await self._post(number, c)
            self.events += taken.events
            if self.journal is not None:
                self.journal.record(number, c, taken)
        else:
            self.skipped += 1
        if c.binds is not None and taken.bound is not None:
            self.ids[c.binds[0]] = taken.bound
        self.sent += 1
        if self.progress is not None:
            self.progress(self.sent, self.total)

    async def _post(self, number: int, c: Command) -> Taken:
        headers = {"x-correlation-id": f"{self.correlation}{number}"}
        if c.as_city and self.city_headers:
            headers.update(self.city_headers(c.as_city))
        path = self._bound(c.path)
        response = await self.http.post(path, json=self._bound(c.body), headers=headers)
        if not response.is_success:
            raise SimulationError(
                f"{c.kind} on {c.on}: POST {path} answered {response.status_code}: {response.text}\n"
                f"planned as: {c.line()}"
            )
        answer: dict[str, Any] = response.json()
        bound = str(answer[c.binds[1]]) if c.binds is not None else None
        return Taken(len(answer.get("event_ids", ())), bound)

    def _bound(self, value: Any) -> Any:
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: self.ids[m.group(0)], value) if "${" in value else value
        if isinstance(value, dict):
            return {k: self._bound(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._bound(v) for v in value]
        return value
