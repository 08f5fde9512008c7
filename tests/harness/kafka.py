"""Kafka for tests: a single-node KRaft broker from the Maven jars (local-services.md §1), or an existing one.

The broker is a plain `java kafka.Kafka` process; readiness means the "Kafka Server started" log line and a
successful metadata request from aiokafka.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from tests.harness import ServiceUnavailable, die_with_parent, free_port, run_sync

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_DIR = REPO_ROOT / "deploy" / "kafka"
DEFAULT_LIBS_DIR = DEFAULT_CONFIG_DIR / "target" / "kafka-libs"
READY_LINE = "Kafka Server started"

# Sized for a 2-core test machine: small heap (enough once the dedupe buffer is small), serial GC (no GC
# thread pool), C1 only for a faster start, and die on OOM instead of hanging the test session.
JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]


def kafka_version(libs_dir: Path) -> str:
    """The broker version, from the kafka_2.13-X.Y.Z.jar file name."""
    for jar in sorted(libs_dir.glob("kafka_2.*-*.jar")):
        m = re.fullmatch(r"kafka_2\.\d+-(\d+\.\d+\.\d+)\.jar", jar.name)
        if m:
            return m.group(1)
    raise ServiceUnavailable(f"no kafka_2.13-<version>.jar in {libs_dir} (run `make kafka-libs`)")


async def broker_answers(bootstrap: str, timeout_ms: int = 5000) -> dict[str, object]:
    """One metadata round trip through the aiokafka admin client; raises if the broker does not serve."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        cluster: dict[str, object] = await admin.describe_cluster()
        return cluster
    finally:
        await admin.close()


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1) -> None:
    """Create topics (replication factor 1); topics that already exist are fine."""
    topics = [NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in names]
    if not topics:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        response = await admin.create_topics(topics)
    finally:
        await admin.close()
    # aiokafka returns per-topic error codes instead of raising.
    for topic, code, *rest in response.topic_errors:
        if code and code != TopicAlreadyExistsError.errno:
            detail = rest[0] if rest and rest[0] else ""
            raise for_code(code)(f"create topic {topic!r}: {detail}")


class KafkaBroker:
    """A reachable Kafka bootstrap address plus how it was obtained."""

    can_restart = False

    def __init__(
        self, bootstrap: str, how: str, version: str = "unknown", on_close: Callable[[], None] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.how = how
        self.version = version
        self.started_in = 0.0
        self._on_close = on_close

    def probe(self) -> None:
        """Raise unless the broker answers a metadata request."""
        run_sync(lambda: broker_answers(self.bootstrap))

    def start(self) -> None:
        raise NotImplementedError(f"cannot start/stop this Kafka ({self.how})")

    def stop(self) -> None:
        raise NotImplementedError(f"cannot start/stop this Kafka ({self.how})")

    def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


class LocalKafka(KafkaBroker):
    """A combined broker+controller JVM with its config and data in a /tmp work dir."""

    can_restart = True

    def __init__(
        self,
        libs_dir: str | os.PathLike[str] = DEFAULT_LIBS_DIR,
        *,
        config_dir: str | os.PathLike[str] = DEFAULT_CONFIG_DIR,
        startup_timeout: float = 90.0,
    ) -> None:
        self.libs_dir = Path(libs_dir).resolve()
        if not self.libs_dir.is_dir():
            raise ServiceUnavailable(f"no Kafka jars: {self.libs_dir} is missing (run `make kafka-libs`)")
        java = shutil.which("java")
        if java is None:
            raise ServiceUnavailable("no `java` on PATH to run the Kafka broker")
        self.java = java
        self.config_dir = Path(config_dir)
        self.startup_timeout = startup_timeout
        super().__init__("", how="", version=kafka_version(self.libs_dir))
        self.port = self.controller_port = 0
        self._pick_ports()
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def _pick_ports(self) -> None:
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        jars = self._shown(self.libs_dir)
        self.how = f"local KRaft broker on {self.bootstrap} (java kafka.Kafka, jars from {jars})"

    @staticmethod
    def _shown(path: Path) -> str:
        try:
            return str(path.relative_to(REPO_ROOT))
        except ValueError:
            return str(path)

    @property
    def logfile(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "kafka.out"

    def _java(self, *args: str) -> list[str]:
        assert self.workdir is not None
        return [
            self.java,
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",
            *args,
        ]

    def _prepare(self) -> None:
        """Work dir, server.properties, log4j2 config and a formatted (fresh cluster id) log dir."""
        self.workdir = Path(tempfile.mkdtemp(prefix="kafka-test.", dir="/tmp"))
        self._write_properties()
        shutil.copyfile(self.config_dir / "log4j2.properties", self.workdir / "log4j2.properties")
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Static quorum (controller.quorum.voters) => format without --standalone.
        fmt = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",  # one id in 64 starts with "-": as a separate word, an option
                "-c",
                str(self.workdir / "server.properties"),
                "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if fmt.returncode != 0:
            raise RuntimeError(
                f"Kafka StorageTool format failed (rc={fmt.returncode}):\n{fmt.stdout}{fmt.stderr}"
            )

    def _write_properties(self) -> None:
        assert self.workdir is not None
        template = (self.config_dir / "server.properties.template").read_text()
        props = (
            template.replace("@PORT@", str(self.port))
            .replace("@CPORT@", str(self.controller_port))
            .replace("@DATA@", str(self.workdir / "data"))
        )
        (self.workdir / "server.properties").write_text(props)

    def _tail(self, lines: int = 40) -> str:
        """The broker's notable lines (errors, causes) followed by the last `lines` lines of its output."""
        if self.workdir is None or not self.logfile.exists():
            return "(no broker output)"
        text = self.logfile.read_text(errors="replace").splitlines()
        # A Java stack trace easily pushes the actual cause out of a plain tail.
        notable = [ln for ln in text[:-lines] if re.search(r"\b(ERROR|FATAL)\b|^Caused by:", ln)][:10]
        head = ["(earlier notable lines)", *notable, "(last lines)"] if notable else []
        return "\n".join([*head, *text[-lines:]])

    def start(self) -> None:
        """Start the broker (formatting a new work dir on first use) and wait until it serves clients."""
        if self.proc is not None:
            return
        t0 = time.monotonic()
        first = self.workdir is None
        if first:
            self._prepare()
        for attempt in range(3):
            try:
                self._launch()
                break
            except RuntimeError as exc:
                # Someone may take a port between free_port() and the bind. Only a first start may move
                # (the ports live in server.properties only, not in the formatted log dir); after that,
                # clients hold this bootstrap address.
                if not first or attempt == 2 or "Address already in use" not in str(exc):
                    raise
                log.warning(
                    "Kafka port %s or %s was taken meanwhile; retrying", self.port, self.controller_port
                )
                self._pick_ports()
                self._write_properties()
        if first:  # the header reports the cold start (format included), not a later restart
            self.started_in = time.monotonic() - t0

    def _launch(self) -> None:
        assert self.workdir is not None
        t0 = time.monotonic()
        offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        self._out = open(self.logfile, "ab")  # closed in stop(): the broker writes to it
        self.proc = subprocess.Popen(
            self._java("kafka.Kafka", str(self.workdir / "server.properties")),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        try:
            self._wait_ready(offset, t0 + self.startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, offset: int, deadline: float) -> None:
        assert self.proc is not None
        logged = False
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Kafka broker exited with rc={self.proc.returncode} during startup; output tail:\n"
                    f"{self._tail()}"
                )
            if not logged:
                with open(self.logfile, "rb") as f:
                    f.seek(offset)
                    logged = READY_LINE.encode() in f.read()
            if logged:
                # The port can accept before the broker is unfenced, so also insist on a metadata answer.
                try:
                    self.probe()
                    return
                except Exception as exc:
                    last_error = exc
            time.sleep(0.2)
        what = "a metadata answer" if logged else f"{READY_LINE!r}"
        raise TimeoutError(
            f"Kafka broker on {self.bootstrap} not ready after {self.startup_timeout:.0f} s "
            f"(waiting for {what}; last client error: {last_error!r}); output tail:\n{self._tail()}"
        )

    def stop(self) -> None:
        """SIGTERM (controlled shutdown), up to 30 s, then SIGKILL. Data dir and ports stay for start()."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    log.warning("Kafka broker pid %s ignored SIGTERM for 30 s; killing it", proc.pid)
                    proc.kill()
                    proc.wait()
        if self._out is not None:
            self._out.close()
            self._out = None

    def close(self) -> None:
        """Stop the broker and remove its work dir; safe to call more than once."""
        try:
            self.stop()
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None


@contextmanager
def local_kafka(libs_dir: str | os.PathLike[str] = DEFAULT_LIBS_DIR) -> Iterator[LocalKafka]:
    """Start a throwaway single-node broker, yield it, and remove every trace of it afterwards."""
    broker = LocalKafka(libs_dir)
    try:
        broker.start()
        log.info("Kafka %s ready in %.1f s on %s", broker.version, broker.started_in, broker.bootstrap)
        yield broker
    finally:
        broker.close()


def container_kafka(image: str = "confluentinc/cp-kafka:7.6.0") -> KafkaBroker:
    """Kafka in a Docker container via testcontainers (only when a Docker engine answers)."""
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers <= 4.14
        from testcontainers.kafka import KafkaContainer

    t0 = time.monotonic()
    container = KafkaContainer(image).with_kraft().start()
    try:
        broker = KafkaBroker(
            container.get_bootstrap_server(),
            how=f"testcontainers {image}",
            version=f"{image.rpartition(':')[2]} (Confluent Platform)",
            on_close=container.stop,
        )
        broker.probe()
        broker.started_in = time.monotonic() - t0
    except BaseException:
        container.stop()
        raise
    return broker
