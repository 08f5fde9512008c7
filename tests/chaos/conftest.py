"""One distributed platform per chaos module (every service its own process; ledger, monitoring and
handover split into api, relay and consumers), prepared once with kelurahan and loans; each test runs
a steady load, injects its fault while the load runs, and checks everything that must hold."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bench.load import LoadReport, Sent, Target, run_load
from bench.prepare import prepare
from tests.chaos.checks import Figures, all_hold, webhooks_complete
from tests.harness.distributed import DistributedPlatform, distributed_platform
from tests.harness.kafka import KafkaBroker
from tests.harness.postgres import PostgresServer
from tests.harness.tokens import ADMIN
from tests.integration.test_handover_webhooks import Receiver, serving

# `make chaos` runs the long profile; `make test` the short one.
LONG = os.environ.get("P2KP_CHAOS_PROFILE") == "long"
RATE, SECONDS = (40.0, 60.0) if LONG else (15.0, 6.0)
SPLIT = ("ledger", "monitoring", "handover")
CITY = "33.74"


@dataclass
class Chaos:
    platform: DistributedPlatform
    postgres: PostgresServer
    kafka: KafkaBroker
    target: Target
    receiver: Receiver  # a pemkot system subscribed to the city's webhooks from the start
    sent: list[Sent] = field(default_factory=list)  # every command of the module so far

    def client(self) -> httpx.AsyncClient:
        return self.platform.client(headers=ADMIN)

    async def restart(self, *names: str) -> None:
        """Start processes again (off the event loop: the load keeps going meanwhile)."""
        for name in names:
            await asyncio.to_thread(self.platform.start, name, False)
        for name in names:
            await asyncio.to_thread(self.platform.processes[name].wait_ready, 120.0)

    async def under_load(
        self,
        fault: str,
        inject: Callable[[], Awaitable[None]],
        *,
        rate: float = RATE,
        seconds: float = SECONDS,
        unavailable_ok: bool = False,
    ) -> tuple[LoadReport, Figures]:
        """Run the load; once a quarter of it is acknowledged, inject the fault; when the load is over,
        check everything (see checks.all_hold) over every command of the module so far. Unless
        ``unavailable_ok`` (the database itself is down), every command of this load must end
        acknowledged: a keyed one after its retries, the others at once."""
        quarter = asyncio.Event()
        acknowledged = 0

        def count(sent: Sent) -> None:
            nonlocal acknowledged
            acknowledged += sent.acknowledged
            if acknowledged >= rate * seconds / 4:
                quarter.set()

        async with self.client() as http:
            load = asyncio.create_task(
                run_load(
                    http,
                    self.target,
                    rate=rate,
                    seconds=seconds,
                    run_id=fault,
                    first=len(self.sent),
                    on_sent=count,
                    retries=10,
                )
            )
            waiting = asyncio.create_task(quarter.wait())
            await asyncio.wait([load, waiting], return_when=asyncio.FIRST_COMPLETED)
            assert quarter.is_set(), f"the load never got going: {load.result().summary()}"
            await inject()
            report = await load
            print(f"\n{fault}: {report.summary()}")
            if not unavailable_ok:
                unanswered = [(s.kind, s.status) for s in report.sent if not s.acknowledged]
                assert not unanswered, f"{fault}: commands not acknowledged: {unanswered[:5]}"
            self.sent += report.sent
            figures = await all_hold(self.platform, self.postgres, http, self.sent, fault)
        await webhooks_complete(self.platform, self.receiver, fault)
        return report, figures


@pytest.fixture(scope="module")
async def chaos(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer, kafka: KafkaBroker
) -> AsyncIterator[Chaos]:
    workdir: Path = tmp_path_factory.mktemp("chaos")
    with distributed_platform(workdir, postgres, kafka, split=SPLIT) as platform:
        async with serving(Receiver()) as receiver, platform.client(headers=ADMIN) as http:
            target = await prepare(http)
            subscribe = {"url": f"{receiver.url}/chaos", "from_start": True}
            answer = await http.post(f"/handover/cities/{CITY}/subscriptions", json=subscribe)
            assert answer.status_code == 201, answer.text
            receiver.secrets[answer.json()["subscription_id"]] = answer.json()["secret"]
            yield Chaos(platform, postgres, kafka, target, receiver)
