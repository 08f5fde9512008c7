"""What the simulator sends: commands planned ahead of time, each with the day it happened, the services
whose facts it needs, and placeholders where an id the services will generate goes.

Planning never waits for an answer: every choice comes from the seeded random generators, so the plan
(and the command log, which is the plan with its placeholders) is the same for the same seed.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from typing import Any


class Stage(IntEnum):
    """The services the simulator commands, upstream first: a service only needs facts of earlier ones."""

    TARGETING = 0
    INSTITUTIONS = 1
    LEDGER = 2
    HANDOVER = 3


PLACEHOLDER = re.compile(r"\$\{[a-z]+:[^}]+\}")


def ref(kind: str, owner: str, n: int | str) -> str:
    """The placeholder of an id a service generates: ``${household:33.74.01.1001:3}``."""
    return f"${{{kind}:{owner}:{n}}}"


@dataclass(frozen=True, slots=True)
class Command:
    on: date  # the day it happened: orders the commands (the body carries its own dates)
    stage: Stage
    kind: str  # e.g. "ledger.loan.repay": what the report counts
    path: str
    body: dict[str, Any]
    needs: frozenset[Stage] = frozenset()  # services whose events must have reached this one first
    binds: tuple[str, str] | None = None  # (placeholder, the answer's field with the new id)
    as_city: str | None = None  # sent by an operator of this city, not the national admin

    def line(self) -> str:
        """The command as the log records it: ids the services generate stay placeholders."""
        who = f" as city {self.as_city}" if self.as_city else ""
        body = json.dumps(self.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f"{self.kind}{who} POST {self.path} {body}"


@dataclass
class Script:
    """One unit's commands (a kelurahan's, a city's) in the order they were planned. Anything dated
    after ``until`` is left out: a command depends on earlier ones only, so none kept loses a
    prerequisite. Units of an earlier ``wave`` are driven through the whole period first."""

    unit: int
    until: date
    wave: int = 0
    commands: list[Command] = field(default_factory=list)

    def add(
        self,
        on: date,
        stage: Stage,
        kind: str,
        path: str,
        body: dict[str, Any],
        *,
        needs: tuple[Stage, ...] = (),
        binds: tuple[str, str] | None = None,
        as_city: str | None = None,
    ) -> bool:
        if on > self.until:
            return False
        self.commands.append(Command(on, stage, kind, path, body, frozenset(needs), binds, as_city))
        return True


@dataclass
class Calendar:
    """A discrete-event schedule for planning the money of one BKM: actions run in date order (then by
    priority, then in the order they were scheduled), so cash is always known on the day it is spent."""

    until: date
    _queue: list[tuple[date, int, int, Callable[[date], None]]] = field(default_factory=list)
    _scheduled: int = 0

    def at(self, day: date, action: Callable[[date], None], priority: int = 5) -> None:
        if day <= self.until:
            heapq.heappush(self._queue, (day, priority, self._scheduled, action))
            self._scheduled += 1

    def run(self) -> None:
        while self._queue:
            day, _, _, action = heapq.heappop(self._queue)
            action(day)
