"""PostgreSQL for tests: a throwaway local cluster (local-services.md §2) or an existing server, one API.

Each test gets its own database from `new_database()`; the server itself is shared by the whole session.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # no stubs; not in pyproject mypy overrides
from sqlalchemy.engine import make_url

from tests.harness import ServiceUnavailable, free_port, run_sync

log = logging.getLogger(__name__)

_NAME_UNSAFE = re.compile(r"[^a-z0-9_]+")


def find_pgbin() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin that holds initdb (Debian layout), or None."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]

    def major(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    return max(candidates, key=major, default=None)


class PostgresServer:
    """A reachable PostgreSQL server on which the tests may create databases.

    `admin_url` is a plain libpq-style URL (postgresql://user[:pw]@host:port/db) of a superuser, or at
    least a role with CREATEDB.
    """

    can_restart = False

    def __init__(self, admin_url: str, how: str, on_close: Callable[[], None] | None = None) -> None:
        url = make_url(admin_url)
        # asyncpg wants the bare scheme; callers may hand over a SQLAlchemy URL with a +driver suffix.
        self._admin = url.set(drivername="postgresql")
        self.how = how
        self.version = ""
        self.started_in = 0.0
        self._on_close = on_close
        self._created: list[str] = []

    @property
    def admin_dsn(self) -> str:
        return self._admin.render_as_string(hide_password=False)

    def url_for(self, database: str) -> str:
        """SQLAlchemy async URL of `database` on this server."""
        return self._admin.set(drivername="postgresql+asyncpg", database=database).render_as_string(
            hide_password=False
        )

    def dsn_for(self, database: str) -> str:
        """Plain asyncpg DSN of `database` on this server."""
        return self._admin.set(database=database).render_as_string(hide_password=False)

    def probe(self) -> None:
        """Connect once and record the server version; raises if the server does not answer."""

        async def go() -> str:
            conn = await asyncpg.connect(self.admin_dsn, timeout=10)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        self.version = run_sync(go)

    def new_database(self, prefix: str = "test") -> str:
        """Create a fresh, uniquely named database and return its postgresql+asyncpg:// URL."""
        clean = _NAME_UNSAFE.sub("_", prefix.lower()).strip("_") or "test"
        name = f"{clean[:40]}_{uuid.uuid4().hex[:12]}"

        async def go() -> None:
            conn = await asyncpg.connect(self.admin_dsn, timeout=10)
            try:
                # The name is generated from [a-z0-9_] only, so quoting it is enough.
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        run_sync(go)
        self._created.append(name)
        return self.url_for(name)

    def start(self) -> None:
        raise NotImplementedError(f"cannot start/stop this PostgreSQL ({self.how})")

    def stop(self) -> None:
        raise NotImplementedError(f"cannot start/stop this PostgreSQL ({self.how})")

    def close(self) -> None:
        """Drop the databases this object created (the server is someone else's), then run on_close."""
        names, self._created = self._created, []
        if names and self._on_close is None:

            async def go() -> None:
                conn = await asyncpg.connect(self.admin_dsn, timeout=10)
                try:
                    for name in names:
                        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                finally:
                    await conn.close()

            try:
                run_sync(go)
            except Exception:
                log.warning("could not drop test databases %s", names, exc_info=True)
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


class LocalPostgres(PostgresServer):
    """A private cluster in a /tmp directory, run as the `postgres` user when we are root.

    initdb and postgres refuse to run as root, and pytest's tmp_path is mode 0700 (the postgres user
    cannot enter it), hence mkdtemp under /tmp chowned to postgres.
    """

    can_restart = True

    def __init__(self, pgbin: Path | None = None) -> None:
        found = pgbin or find_pgbin()
        if found is None:
            raise ServiceUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.pgbin = found
        self.port = free_port()
        self.running = False
        super().__init__(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", how="")
        self._use_port(self.port)
        self._as_postgres: list[str] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="pgtest.", dir="/tmp"))
        self.datadir = self.workdir / "data"
        self.logfile = self.workdir / "server.log"
        if os.geteuid() == 0:
            try:
                shutil.chown(self.workdir, "postgres", "postgres")
            except (LookupError, OSError) as exc:
                shutil.rmtree(self.workdir, ignore_errors=True)
                raise ServiceUnavailable(
                    f"running as root but cannot give {self.workdir} to postgres"
                ) from exc
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def _use_port(self, port: int) -> None:
        self.port = port
        self._admin = self._admin.set(port=port)
        self.how = f"throwaway cluster from {self.pgbin} on 127.0.0.1:{port}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [*self._as_postgres, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            tail = ""
            if self.logfile.exists():
                tail = "\n".join(self.logfile.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(
                f"{' '.join(args[:2])} failed (rc={proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                f"--- server.log tail ---\n{tail}"
            )

    def initdb(self) -> None:
        self._run(
            str(self.pgbin / "initdb"),
            *("-D", str(self.datadir)),
            *"-U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync".split(),
        )

    def start(self) -> None:
        """Start the server (initdb on first use); same data dir and port every time."""
        if self.running:
            return
        t0 = time.monotonic()
        first = not (self.datadir / "PG_VERSION").exists()
        if first:
            self.initdb()
        for attempt in range(3):
            try:
                self._pg_ctl_start()
                break
            except RuntimeError as exc:
                # Someone may take the port between free_port() and the bind. Only a first start may
                # move to another port: after that, clients hold URLs with this one.
                if not first or attempt == 2 or "Address already in use" not in str(exc):
                    raise
                log.warning("PostgreSQL port %s was taken meanwhile; retrying on another", self.port)
                self._use_port(free_port())
        self.running = True
        self.probe()
        if first:  # the header reports the cold start, not a later restart
            self.started_in = time.monotonic() - t0

    def _pg_ctl_start(self) -> None:
        # fsync & co. off: the data is throwaway and the tests want speed; -k keeps the unix socket
        # out of /var/run/postgresql, which may not exist (or may belong to another cluster).
        opts = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.pgbin / "pg_ctl"),
            *("start", "-D", str(self.datadir), "-l", str(self.logfile)),
            *("-w", "-t", "30", "-o", opts),
        )

    def stop(self) -> None:
        """Fast shutdown (disconnects clients); returns once the postmaster has exited."""
        if not self.running:
            return
        self._run(str(self.pgbin / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60")
        self.running = False

    def close(self) -> None:
        """Stop the server and remove the cluster; safe to call more than once."""
        try:
            if self.running:
                self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def local_postgres(pgbin: Path | None = None) -> Iterator[LocalPostgres]:
    """Start a throwaway cluster, yield it, and remove every trace of it afterwards."""
    server = LocalPostgres(pgbin)
    try:
        server.start()
        log.info("PostgreSQL %s ready in %.2f s (%s)", server.version, server.started_in, server.how)
        yield server
    finally:
        server.close()


def container_postgres(image: str = "postgres:15") -> PostgresServer:
    """PostgreSQL in a Docker container via testcontainers (only when a Docker engine answers)."""
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers <= 4.14
        from testcontainers.postgres import PostgresContainer

    t0 = time.monotonic()
    container = PostgresContainer(image, driver=None).start()
    try:
        server = PostgresServer(
            container.get_connection_url(), how=f"testcontainers {image}", on_close=container.stop
        )
        server.probe()
        server.started_in = time.monotonic() - t0
    except BaseException:
        container.stop()
        raise
    return server
