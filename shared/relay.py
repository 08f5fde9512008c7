"""The outbox relay: publishes a service's stored events to its topic, in position order, at least once.

A row is marked published only after the transport acknowledged it, so a relay killed mid-batch re-sends
the unmarked rest on restart (consumers drop the duplicates by stream version). One relay per service is
active at a time: a PostgreSQL advisory lock elects it; on SQLite a file lock allows one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import events, is_sqlite, outbox
from shared.events import Actor, EventMetadata, build_cloudevent, utcnow
from shared.transport import Message, Publisher, PublishFailed

log = structlog.get_logger(__name__)


def message_for(row: Any, source: str, topic: str) -> Message:
    """The Kafka record for one stored event: keyed by stream, id and type also in headers."""
    envelope = build_cloudevent(
        event_id=row.event_id,
        source=source,
        event_type=row.event_type,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        position=row.position,
        time=row.recorded_at,
        metadata=EventMetadata(
            correlation_id=row.correlation_id,
            causation_id=row.causation_id,
            actor=Actor(row.actor_subject, row.actor_role, tuple(row.actor_scope.split())),
            city_code=row.city_code,
        ),
        data=row.data,
    )
    return Message(
        topic=topic,
        key=row.stream_id,
        value=json.dumps(envelope, separators=(",", ":")).encode(),
        # The CloudEvents Kafka binding, structured mode: the whole envelope is the value.
        headers=(
            ("content-type", b"application/cloudevents+json; charset=UTF-8"),
            ("ce_id", row.event_id.encode()),
            ("ce_type", row.event_type.encode()),
            ("ce_streamversion", str(row.stream_version).encode()),
            ("ce_correlationid", row.correlation_id.encode()),
        ),
    )


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        *,
        name: str,
        source: str,
        topic: str,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        lock_path: str | None = None,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.name = name
        self.source = source
        self.topic = topic
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lock_path = lock_path
        self._wake = asyncio.Event()
        self.leading = asyncio.Event()  # set while this instance is the elected relay
        self.published_total = 0

    def wake(self) -> None:
        """Called after a command commits, so publishing does not wait for the next poll."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; return how many were published."""
        async with self.engine.connect() as conn:
            rows = list(
                await conn.execute(
                    select(events)
                    .join(outbox, outbox.c.position == events.c.position)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.position)
                    .limit(self.batch_size)
                )
            )
        if not rows:
            return 0
        messages = [message_for(r, self.source, self.topic) for r in rows]
        try:
            await self.publisher.publish(messages)
        except PublishFailed as failure:
            # Keep what the broker took; the rest is retried from the same position, in order.
            await self._mark([r.position for r in rows[: failure.acked]])
            raise
        await self._mark([r.position for r in rows])
        return len(rows)

    async def _mark(self, positions: list[int]) -> None:
        if not positions:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                update(outbox).where(outbox.c.position.in_(positions)).values(published_at=utcnow())
            )
        self.published_total += len(positions)

    async def backlog(self) -> int:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
            return int(result.scalar_one())

    async def run(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """Publish forever (until cancelled), as the elected relay of this service."""
        async with self._leadership():
            self.leading.set()
            log.info("relay.leader", relay=self.name)
            backoff = self.poll_interval
            while not stopping():
                # Cleared before reading, so a commit that lands while we publish wakes the next round.
                self._wake.clear()
                try:
                    published = await self.publish_pending()
                    backoff = self.poll_interval
                except Exception as exc:  # the broker or database is away: retry, never drop
                    log.warning("relay.publish_failed", relay=self.name, error=repr(exc))
                    published = 0
                    backoff = min(backoff * 2, 5.0)
                    await asyncio.sleep(backoff)
                    continue
                if published < self.batch_size:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                    # arrives as the wake-up does, and the relay would never stop.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_interval):
                            await self._wake.wait()

    @asynccontextmanager
    async def _leadership(self) -> AsyncIterator[None]:
        if is_sqlite(self.engine):
            async with self._file_lock():
                yield
            return
        key = zlib.crc32(f"p2kp-relay:{self.name}".encode())
        # A session-level advisory lock lives as long as this connection: if the process dies the
        # server drops the connection and another instance's relay takes over.
        async with self.engine.connect() as conn:
            while not (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar():
                await conn.rollback()
                await asyncio.sleep(1.0)
            await conn.commit()
            try:
                yield
            finally:
                self.leading.clear()
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()

    @asynccontextmanager
    async def _file_lock(self) -> AsyncIterator[None]:
        if self.lock_path is None:
            yield
            return
        with open(self.lock_path, "a+") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(1.0)
            try:
                yield
            finally:
                self.leading.clear()
                fcntl.flock(handle, fcntl.LOCK_UN)
