"""Session-wide real services for the tests: PostgreSQL and Kafka, chosen per local-services.md §3.

Order of preference: env URLs, then testcontainers when a Docker engine answers, then the local launchers.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest
from sqlalchemy.engine import make_url

from shared.transport.topics import ensure_topics, platform_topics
from tests.harness import ServiceUnavailable, docker_engine_answers
from tests.harness.kafka import DEFAULT_LIBS_DIR, KafkaBroker, LocalKafka, container_kafka
from tests.harness.postgres import LocalPostgres, PostgresServer, container_postgres

log = logging.getLogger(__name__)

TESTS_DIR = Path(__file__).resolve().parent
UNIT_DIR = TESTS_DIR / "unit"
INTEGRATION_DIR = TESTS_DIR / "integration"

S = TypeVar("S", PostgresServer, KafkaBroker)


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


_docker_answer: bool | None = None


def _docker() -> bool:
    """Ask the Docker engine once per session; the probe costs ~3 ms without an engine, 3 s on a hang."""
    global _docker_answer
    if _docker_answer is None:
        _docker_answer = docker_engine_answers()
    return _docker_answer


def _provide_postgres() -> PostgresServer:
    if url := os.environ.get("TEST_DATABASE_URL"):
        shown = make_url(url).render_as_string(hide_password=True)
        server = PostgresServer(url, how=f"existing server from TEST_DATABASE_URL={shown}")
        try:
            server.probe()
        except Exception as exc:
            # An explicit URL that does not answer is a configuration error, not a reason to fall back.
            raise ServiceUnavailable(f"TEST_DATABASE_URL={shown} does not answer: {exc!r}") from exc
        return server
    reasons = []
    if _docker():
        try:
            return container_postgres()
        except Exception as exc:
            log.warning("testcontainers PostgreSQL failed; trying the local server binaries", exc_info=True)
            reasons.append(f"testcontainers PostgreSQL failed: {exc!r}")
    else:
        reasons.append("no Docker engine answers")
    try:
        local = LocalPostgres()
    except ServiceUnavailable as exc:
        reasons.append(str(exc))
        raise ServiceUnavailable("; ".join(reasons)) from exc
    try:
        local.start()
    except BaseException:
        local.close()
        raise
    return local


def _provide_kafka() -> KafkaBroker:
    if bootstrap := os.environ.get("TEST_KAFKA_BOOTSTRAP"):
        broker = KafkaBroker(bootstrap, how=f"existing broker from TEST_KAFKA_BOOTSTRAP={bootstrap}")
        try:
            broker.probe()
        except Exception as exc:
            raise ServiceUnavailable(f"TEST_KAFKA_BOOTSTRAP={bootstrap} does not answer: {exc!r}") from exc
        return broker
    reasons = []
    if _docker():
        try:
            return container_kafka()
        except Exception as exc:
            log.warning("testcontainers Kafka failed; trying the local broker jars", exc_info=True)
            reasons.append(f"testcontainers Kafka failed: {exc!r}")
    else:
        reasons.append("no Docker engine answers")
    try:
        local = LocalKafka(os.environ.get("KAFKA_LIBS", DEFAULT_LIBS_DIR))
    except ServiceUnavailable as exc:
        reasons.append(str(exc))
        raise ServiceUnavailable("; ".join(reasons)) from exc
    try:
        local.start()
    except BaseException:
        local.close()
        raise
    return local


@dataclass
class _Slot(Generic[S]):
    """One session-wide service: started at most once, shared by every fixture that needs it."""

    what: str
    hint: str
    provide: Callable[[], S]
    service: S | None = None
    error: str | None = None
    attempted: bool = False
    closed: bool = False

    def ensure(self) -> None:
        if self.attempted:
            return
        self.attempted = True
        try:
            self.service = self.provide()
        except Exception as exc:
            text = str(exc) if isinstance(exc, ServiceUnavailable) else f"{type(exc).__name__}: {exc}"
            self.error = text.rstrip()
            log.error("%s unavailable: %s", self.what, self.error)

    def require(self) -> S:
        self.ensure()
        if self.service is None or self.closed:
            reason = f"no {self.what} for the integration tests: {self.error}. {self.hint}"
            if _on_ci():
                # On CI a missing service must be loud: a run where everything skipped is not a pass.
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        return self.service

    def describe(self) -> str:
        if self.service is not None:
            s = self.service
            # started_in stays 0 for a server we only connected to (env URL).
            took = f" (ready in {s.started_in:.1f} s)" if s.started_in else ""
            return f"{self.what} {s.version} - {s.how}{took}"
        if self.error is not None:
            return f"{self.what} UNAVAILABLE - {self.error}"
        return f"{self.what} not started (not needed by the selected tests)"

    def close(self) -> None:
        # The service object stays for describe(); `closed` makes a second call (atexit) a no-op.
        if self.service is None or self.closed:
            return
        self.closed = True
        try:
            self.service.close()
        except Exception:
            log.warning("could not stop %s cleanly", self.what, exc_info=True)


POSTGRES = _Slot[PostgresServer](
    "PostgreSQL",
    "Set TEST_DATABASE_URL, start a Docker engine, or install the server (deploy/ensure-postgres.sh).",
    _provide_postgres,
)
KAFKA = _Slot[KafkaBroker](
    "Kafka",
    "Set TEST_KAFKA_BOOTSTRAP, start a Docker engine, or build the broker jars (`make kafka-libs`; java).",
    _provide_kafka,
)
SLOTS: tuple[_Slot[PostgresServer] | _Slot[KafkaBroker], ...] = (POSTGRES, KAFKA)


def _close_all() -> None:
    for slot in reversed(SLOTS):
        slot.close()


# Safety net for exits that skip pytest_sessionfinish (e.g. an internal error during collection).
atexit.register(_close_all)


def _unit_tests_only(config: pytest.Config) -> bool:
    """True when every path on the command line is under tests/unit, so `pytest tests/unit` stays fast."""
    if not config.args:
        return False
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if not path.is_relative_to(UNIT_DIR):
            return False
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # Start eagerly so the report header can say what the run used; fixtures reuse the same objects.
    config = session.config
    listing_only = config.option.collectonly or getattr(config.option, "showfixtures", False)
    if listing_only or _unit_tests_only(config):
        return
    for slot in SLOTS:
        slot.ensure()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"services: {slot.describe()}" for slot in SLOTS]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Repeated here because -q hides the report header.
    if any(slot.attempted for slot in SLOTS):
        terminalreporter.write_sep("-", "services used")
        for slot in SLOTS:
            terminalreporter.write_line(slot.describe())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _close_all()


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """The session's PostgreSQL server; use `new_database()` (or the `pg_url` fixture) for a database."""
    return POSTGRES.require()


@pytest.fixture(scope="session")
def kafka() -> KafkaBroker:
    """The session's Kafka broker (`.bootstrap`, `.version`, `.how`; `stop()`/`start()` if `can_restart`),
    with the platform's topics created as a deployment creates them (``p2kp topics create``): three
    partitions each, so the tests see events of different streams interleave as production does."""
    broker = KAFKA.require()
    asyncio.run(ensure_topics(broker.bootstrap, platform_topics(3, 1), replication_factor=1))
    return broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: KafkaBroker) -> str:
    """host:port of the session's Kafka broker."""
    return kafka.bootstrap


@pytest.fixture
def pg_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database for this test, as a postgresql+asyncpg:// SQLAlchemy URL."""
    return postgres.new_database(request.node.name)
