"""The demo on first start: ``p2kp run`` on an empty data dir seeds Kota Semarang (all its kelurahan, two
program years, seed 1) in the background while the platform already serves, and resumes an interrupted
seeding on the next start.

The data dir keeps a marker (``demo-seed.json``: what is seeded, and whether it is done) and a journal
(``demo-seed.journal``: a line per command the services took, with the id it bound). A process killed
mid-command leaves the journal one answer behind the services; every command carries its number in its
correlation id, so its events tell whether the services took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import structlog
from fastapi import FastAPI, Query
from sqlalchemy import select

from services.platform import quiesce
from services.simulator.commands import Command
from services.simulator.driver import SimulationError, Taken
from services.simulator.program import DEFAULT_UNTIL, PERIOD, correlation_prefix, simulate
from services.simulator.synthetic import SEMARANG, choose_villages
from shared import regions
from shared.db import events
from shared.security.principal import Principal
from shared.security.tokens import issue_token
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

SEED = 1
YEARS = 2
MARKER = "demo-seed.json"
JOURNAL = "demo-seed.journal"
COMMANDED = ("targeting", "institutions", "ledger", "handover")  # the services the simulator commands
LOG_EVERY = 1000  # commands between two progress lines
Traces = Mapping[str, Mapping[int, list[dict[str, Any]]]]  # service -> command number -> its events' data


class SeedJournal:
    """The commands the services took, as the journal and their events tell, for ``simulate``'s driver."""

    def __init__(self, path: Path, traces: Traces) -> None:
        self.lines: dict[int, Taken] = {}
        text = path.read_text() if path.exists() else ""
        for line in text.split("\n")[:-1]:  # the last is empty, or a line a kill cut short
            number, count, bound = line.split(" ")
            self.lines[int(number)] = Taken(int(count), None if bound == "-" else bound)
        self.traces = traces
        self._file = path.open("a", buffering=1)  # line-buffered: each line reaches the OS as written
        if text and not text.endswith("\n"):
            self._file.write("\n")

    def taken(self, number: int, command: Command) -> Taken | None:
        traced = self.traces.get(command.path.split("/")[1], {}).get(number)
        journaled = self.lines.get(number)
        if traced:
            return Taken(len(traced), journaled.bound if journaled else _bound_in(traced, command))
        # No events of it: never taken, or taken without an event (a person entered in the register, a
        # repayment sent again). Only the journal knows the second; the first is sent (again).
        return journaled if journaled is not None and journaled.events == 0 else None

    def record(self, number: int, command: Command, taken: Taken) -> None:
        self._file.write(f"{number} {taken.events} {taken.bound or '-'}\n")

    def close(self) -> None:
        self._file.close()


async def traces(platform: FastAPI, prefix: str) -> Traces:
    """The events of a run's commands in ``platform``, by service and command number (from the
    correlation ids, which start with ``prefix``)."""
    found: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for name in COMMANDED:
        runtime = platform.state.services[name].state.runtime
        query = (
            select(events.c.correlation_id, events.c.data)
            .where(events.c.correlation_id.like(f"{prefix}%"))
            .order_by(events.c.position)
        )
        async with runtime.engine.connect() as conn:
            for correlation, data in await conn.execute(query):
                number = correlation[len(prefix) :]
                if number.isdigit():
                    found.setdefault(name, {}).setdefault(int(number), []).append(data)
    return found


def _log() -> Any:
    """The logger, without the ids the last request of this task bound (the seeding's requests run in
    its own tasks, so their middleware binds them there)."""
    structlog.contextvars.clear_contextvars()
    return log


def _bound_in(traced: list[dict[str, Any]], command: Command) -> str | None:
    if command.binds is None:
        return None
    name = command.binds[1]
    found = next((data[name] for data in traced if name in data), None)
    if found is None:
        raise SimulationError(f"{command.kind}: its events carry no {name} to resume with")
    return str(found)


class DemoSeed:
    """Seeds the demo into ``platform`` in the background once its services run; ``GET /demo/seeding``
    tells how far it is."""

    def __init__(self, platform: FastAPI, settings: ServiceSettings, kelurahan: int | None) -> None:
        self.platform, self.settings, self.kelurahan = platform, settings, kelurahan
        self.marker = settings.data_dir / MARKER
        self.journal = settings.data_dir / JOURNAL
        self.status: dict[str, Any] = {"state": "starting", "city": SEMARANG, "done": 0, "total": 0}
        self._changed = asyncio.Event()
        self._started = time.perf_counter()

    def install(self) -> None:
        serving = self.platform.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with serving(app):
                task = asyncio.create_task(self.run(), name="demo-seed")
                try:
                    yield
                finally:  # before the services stop: a command in flight is cut off, not left hanging
                    task.cancel()
                    await asyncio.wait([task], timeout=10)

        self.platform.router.lifespan_context = lifespan
        # httpx logs every request it sends at INFO: tens of thousands of lines from the seeding alone.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.platform.add_api_route("/demo/seeding", self.progress, methods=["GET"], include_in_schema=False)

    async def progress(
        self,
        wait: float = Query(0, ge=0, le=60, description="Seconds to wait for the seeding to end"),
        done: int = Query(0, ge=0, description="...or to have this many commands done"),
    ) -> dict[str, Any]:
        """How far the demo seeding is: starting, seeding, done, skipped (not a first start) or failed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while self.status["state"] in ("starting", "seeding") and not (
                    done and self.status["done"] >= done
                ):
                    await self._changed.wait()
        return self.status

    def _update(self, **changes: Any) -> None:
        self.status.update(changes, elapsed_seconds=round(time.perf_counter() - self._started, 1))
        self._changed.set()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        try:
            await self._seed()
        except asyncio.CancelledError:
            if self.status["state"] == "seeding":
                _log().warning("demo.seed.interrupted", done=self.status["done"], total=self.status["total"])
            raise
        except Exception as exc:
            self._update(state="failed", detail=str(exc)[:2000])
            _log().error("demo.seed.failed", error=repr(exc)[:2000])

    async def _seed(self) -> None:
        async with self._client() as http:
            empty = not any([await self._has_events(http, name) for name in self.platform.state.services])
            marker = json.loads(self.marker.read_text()) if self.marker.exists() else None
            if empty:
                self.journal.unlink(missing_ok=True)
                marker = {
                    "seed": SEED,
                    "years": YEARS,
                    "kelurahan": self.kelurahan,
                    "until": DEFAULT_UNTIL.isoformat(),
                }
            elif marker is None:
                self._update(state="skipped", detail="the data dir holds a program the demo did not seed")
                _log().info("demo.seed.skipped", reason=self.status["detail"])
                return
            city = choose_villages(regions.require(SEMARANG), marker["kelurahan"])
            self._update(kelurahan=len(city.villages), years=marker["years"], seed=marker["seed"])
            if not empty and marker["state"] == "done":
                self._update(done=marker["done"], total=marker["done"], state="done")
                return
            await self._drive(http, marker, resuming=not empty)

    async def _drive(self, http: httpx.AsyncClient, marker: dict[str, Any], *, resuming: bool) -> None:
        self._write_marker({**marker, "state": "seeding"})
        self._update(state="seeding")
        prefix = correlation_prefix(PERIOD["code"], marker["seed"])
        journal = SeedJournal(self.journal, await traces(self.platform, prefix) if resuming else {})
        _log().info(
            "demo.seed.started",
            city="Kota Semarang",
            kelurahan=self.status["kelurahan"],
            resuming=resuming,
            journaled=len(journal.lines),
        )
        try:
            report = await simulate(
                http,
                cities=[SEMARANG],
                kelurahan_per_city=marker["kelurahan"],
                years=marker["years"],
                seed=marker["seed"],
                until=date.fromisoformat(marker["until"]),
                progress=self._progressed,
                wait=lambda: quiesce(self.platform, timeout=300),
                city_headers=lambda city: self._bearer("city_operator", city),
                keep_log=False,
                journal=journal,
            )
        finally:
            journal.close()
        done = report.command_count
        self._write_marker({**marker, "done": done, "state": "done"})
        sent = done - report.resumed
        self._update(
            done=done, total=done, state="done", resumed=report.resumed, sent=sent, events=report.events
        )
        _log().info(
            "demo.seed.done",
            commands=sent,
            resumed=report.resumed,
            events=report.events,
            seconds=round(report.elapsed_seconds, 1),
            commands_per_second=round(sent / report.elapsed_seconds, 1),
            events_per_second=round(report.events_per_second, 1),
        )

    def _progressed(self, done: int, total: int) -> None:
        self._update(done=done, total=total)
        if done % LOG_EVERY == 0:
            _log().info("demo.seeding", done=done, total=total, percent=round(100 * done / total, 1))

    def _write_marker(self, marker: dict[str, Any]) -> None:
        # Written whole and renamed: a kill never leaves half a marker.
        written = self.marker.with_suffix(".tmp")
        written.write_text(json.dumps(marker, indent=2))
        written.replace(self.marker)

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.platform)
        headers = self._bearer("national_admin")
        async with httpx.AsyncClient(
            transport=transport, base_url="http://p2kp", headers=headers, timeout=300
        ) as http:
            yield http

    def _bearer(self, role: str, *scopes: str) -> dict[str, str]:
        token = issue_token(self.settings, Principal.of("demo-seed", role, list(scopes)), 24 * 60)
        return {"authorization": f"Bearer {token}"}

    @staticmethod
    async def _has_events(http: httpx.AsyncClient, service: str) -> bool:
        answer = await http.get(f"/{service}/audit", params={"limit": 1})
        answer.raise_for_status()
        return bool(answer.json()["entries"])
