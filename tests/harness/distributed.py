"""The platform in distributed mode for end-to-end tests: every service (or a part of one: api, relay,
consumers) as its own ``p2kp serve`` process on the harness's PostgreSQL and Kafka, and one HTTP client
that reaches them all under the embedded platform's paths (``/ledger/...`` goes to the ledger's process)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.harness.kafka import KafkaBroker
from tests.harness.postgres import PostgresServer
from tests.harness.processes import P2KP, PlatformProcess

# Ten processes starting at once on two shared cores can take a while.
READY_SECONDS = 180.0
SERVICES = ("targeting", "institutions", "ledger", "handover", "monitoring")


class ServiceRouter(httpx.AsyncBaseTransport):
    """Sends ``/<service>/rest`` to the process serving ``<service>``'s API, as ``/rest``."""

    def __init__(self, platform: DistributedPlatform) -> None:
        self.platform = platform
        self._http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        service, _, rest = request.url.raw_path.decode().lstrip("/").partition("/")
        port = self.platform.api_port(service)
        request.url = request.url.copy_with(
            scheme="http", host="127.0.0.1", port=port, raw_path=("/" + rest).encode()
        )
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


class DistributedPlatform:
    """Processes named ``<service>`` (role all) or, for a service in ``split``, ``<service>-api``,
    ``<service>-relay`` and ``<service>-consumers``. Their topics carry a prefix of their own, so the
    session's other tests on the same broker neither see nor disturb them."""

    def __init__(
        self,
        workdir: Path,
        postgres: PostgresServer,
        kafka: KafkaBroker,
        *,
        split: Sequence[str] = (),
        env: dict[str, str] | None = None,
        process_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.topic_prefix = f"e2e-{uuid.uuid4().hex[:8]}."
        self.env = {
            "P2KP_MODE": "distributed",
            "P2KP_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "P2KP_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "P2KP_DATA_DIR": str(workdir / "var"),
            "P2KP_LOG_JSON": "true",
            **(env or {}),
        }
        self.databases = {s: postgres.new_database(f"{s}_{self.topic_prefix[4:12]}") for s in SERVICES}
        self.roles: dict[str, tuple[str, str]] = {}
        for service in SERVICES:
            if service in split:
                for role in ("api", "relay", "consumers"):
                    self.roles[f"{service}-{role}"] = (service, role)
            else:
                self.roles[service] = (service, "all")
        # Settings for one process only, by name (a shifted clock, say).
        self.own_env = process_env or {}
        self.processes: dict[str, PlatformProcess] = {}
        self._starts: dict[str, int] = {}

    def process_env(self) -> dict[str, str]:
        """What every process of this platform gets: the settings and every service's database URL."""
        urls = {f"P2KP_{s.upper()}_DATABASE_URL": url for s, url in self.databases.items()}
        return {**os.environ, **self.env, **urls}

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a one-shot ``p2kp`` command (``topics create``, ``migrate``) with the platform's settings."""
        return subprocess.run(
            [str(P2KP), *args], env=self.process_env(), capture_output=True, text=True, timeout=120
        )

    def start(self, name: str, wait: bool = True) -> PlatformProcess:
        """Start (or restart) process ``name``; by default wait until it is ready."""
        service, role = self.roles[name]
        count = self._starts[name] = self._starts.get(name, 0) + 1
        env = {
            **self.env,
            f"P2KP_{service.upper()}_DATABASE_URL": self.databases[service],
            **self.own_env.get(name, {}),
        }
        args = ["serve", service, "--role", role]
        process = PlatformProcess(args, env, self.workdir / f"{name}.{count}.log", "/ready")
        self.processes[name] = process
        if wait:
            process.wait_ready(READY_SECONDS)
        return process

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hook runs, as when a machine or a container dies."""
        self.processes[name].kill()

    def api_port(self, service: str) -> int:
        name = f"{service}-api" if f"{service}-api" in self.roles else service
        return self.processes[name].port

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=ServiceRouter(self), base_url="http://p2kp", timeout=60, **kwargs)

    def tails(self) -> str:
        return "\n".join(f"--- {n}\n{p.tail(15)}" for n, p in self.processes.items())

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()


@contextmanager
def distributed_platform(
    workdir: Path, postgres: PostgresServer, kafka: KafkaBroker, **kwargs: Any
) -> Iterator[DistributedPlatform]:
    platform = DistributedPlatform(workdir, postgres, kafka, **kwargs)
    # As a deployment does it: the topics first, with their settings, then the processes.
    created = platform.command("topics", "create", "--partitions", "3")
    assert created.returncode == 0, created.stderr
    with ExitStack() as stack:
        stack.callback(platform.stop)
        for name in platform.roles:
            platform.start(name, wait=False)
        for process in platform.processes.values():
            process.wait_ready(READY_SECONDS)
        yield platform
