"""Webhook delivery of a city's feed to pemkot systems.

A pemkot system subscribes a URL to its city's feed and receives every event of the feed, one HTTP POST
per event, with these guarantees:

- Signed and timestamped: ``X-P2KP-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`` over
  ``"<t>." + body`` with the subscription's secret. A receiver checks it with :func:`verify`, which
  also refuses a timestamp further than ``tolerance`` seconds from its clock (a replayed request).
- In order: one subscription's events are sent strictly one after the other, in feed order, the next
  only after the previous was acknowledged (2xx). The feed keeps each aggregate's events in the order
  they happened, so a receiver gets every aggregate's events in version order.
- At least once: the position is committed after each acknowledgement, so a crash between the two
  re-sends that one event. Receivers drop duplicates by ``X-P2KP-Delivery`` (the event id).
- Backoff: a failure (non-2xx, connection error, timeout) holds the subscription back for
  ``backoff_base * 2 ** (attempts - 1)`` seconds, at most ``backoff_max``, then retries the same event.
- Parking: after ``max_attempts`` failures in a row the subscription is parked and nothing is sent
  until it is redelivered (:func:`redeliver`), which resumes from the first undelivered event.
- Replay: :func:`replay` moves a subscription to any feed position; everything after it is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.handover.readmodels import feed, subscriptions
from shared.db import is_sqlite
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import as_utc, utcnow

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-P2KP-Signature"
DELIVERY_HEADER = "X-P2KP-Delivery"
SUBSCRIPTION_HEADER = "X-P2KP-Subscription"
CONTENT_TYPE = "application/cloudevents+json"

ACTIVE = "active"
PARKED = "parked"

_BATCH = 100  # feed rows read at a time for one subscription
_CONCURRENT = 8  # subscriptions delivered at once: each holds a database connection meanwhile


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-P2KP-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` seconds of ``now``."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    # Every candidate is compared, in constant time, so timing tells nothing about which one was close.
    matches = [hmac.compare_digest(expected.encode(), c.encode()) for c in candidates]
    return any(matches)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class WebhookDelivery:
    """The background worker that sends each active subscription its city's undelivered events."""

    name = "webhooks"

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        max_attempts: int = 8,
        poll_interval: float = 0.5,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.engine = engine
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.transport = transport
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._busy: set[str] = set()  # subscriptions this instance is delivering right now
        self._slots = asyncio.Semaphore(_CONCURRENT)

    def wake(self) -> None:
        """Called when feed rows arrive, so delivery does not wait for the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver forever (until cancelled)."""
        async with self._new_client() as client:
            self._client = client
            try:
                pause = self.poll_interval
                while True:
                    # Cleared before reading, so a row that lands during a pass wakes the next one.
                    self._wake.clear()
                    try:
                        await self.deliver_due()
                        pause = self.poll_interval
                    except Exception as exc:  # the database is away: retry, never give up
                        log.warning("webhooks.pass_failed", error=repr(exc))
                        pause = min(pause * 2, 5.0)
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(pause):
                            await self._wake.wait()
            finally:
                self._client = None

    async def deliver_due(self) -> int:
        """One pass over the subscriptions due now; return how many events were delivered."""
        async with self.engine.connect() as conn:
            due = (
                await conn.execute(
                    select(subscriptions.c.subscription_id)
                    .where(subscriptions.c.status == ACTIVE, _due(utcnow()))
                    .order_by(subscriptions.c.subscription_id)
                )
            ).scalars()
            ids = list(due)
        if not ids:
            return 0
        async with self._http() as client:
            results = await asyncio.gather(*(self._deliver(client, i) for i in ids), return_exceptions=True)
        delivered = 0
        for subscription_id, result in zip(ids, results, strict=True):
            if isinstance(result, int):
                delivered += result
            elif isinstance(result, Exception):
                # One subscription's database trouble must not stop the others; it is retried next pass.
                log.warning(
                    "webhooks.subscription_failed", subscription_id=subscription_id, error=repr(result)
                )
            else:
                raise result
        return delivered

    async def _deliver(self, client: httpx.AsyncClient, subscription_id: str) -> int:
        if subscription_id in self._busy:
            return 0
        self._busy.add(subscription_id)
        try:
            async with self._slots, self.engine.connect() as conn, _exclusive(conn, subscription_id) as mine:
                return await self._send_pending(conn, client, subscription_id) if mine else 0
        finally:
            self._busy.discard(subscription_id)

    async def _send_pending(
        self, conn: AsyncConnection, client: httpx.AsyncClient, subscription_id: str
    ) -> int:
        delivered = 0
        while True:
            # Read again each round: an API call may have parked, redelivered or replayed it meanwhile.
            sub = (
                await conn.execute(
                    select(subscriptions).where(
                        subscriptions.c.subscription_id == subscription_id,
                        subscriptions.c.status == ACTIVE,
                        _due(utcnow()),
                    )
                )
            ).one_or_none()
            rows: list[Any] = []
            if sub is not None:
                rows = list(
                    await conn.execute(
                        select(feed.c.seq, feed.c.event_id, feed.c.cloudevent)
                        .where(feed.c.city_code == sub.city_code, feed.c.seq > sub.delivered_seq)
                        .order_by(feed.c.seq)
                        .limit(_BATCH)
                    )
                )
            # No transaction is held while a request is in flight (on SQLite a read takes the write lock).
            await conn.commit()
            if sub is None or not rows:
                return delivered
            position, attempts = sub.delivered_seq, sub.attempts
            for row in rows:
                error = await self._post(client, sub, row)
                if error is not None:
                    await self._failed(conn, sub.subscription_id, position, attempts, error)
                    return delivered
                if not await _advance(conn, subscription_id, position, row.seq):
                    log.info("webhooks.position_moved", subscription_id=subscription_id, seq=row.seq)
                    return delivered
                position, attempts = row.seq, 0
                delivered += 1

    async def _post(self, client: httpx.AsyncClient, sub: Any, row: Any) -> str | None:
        """Send one event; None when acknowledged, else why not (short, without the URL or secret)."""
        body = row.cloudevent.encode()
        headers = {
            SIGNATURE_HEADER: sign(sub.secret, int(time.time()), body),
            DELIVERY_HEADER: row.event_id,
            SUBSCRIPTION_HEADER: sub.subscription_id,
            "Content-Type": CONTENT_TYPE,
        }
        try:
            # httpx's timeouts are per phase; this bounds the whole exchange, a slow trickle included.
            async with asyncio.timeout(self.timeout):
                response = await client.post(sub.url, content=body, headers=headers)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as exc:  # anything the client raises is a failed delivery, retried later
            return type(exc).__name__
        if response.is_success:
            log.debug("webhooks.delivered", subscription_id=sub.subscription_id, seq=row.seq)
            return None
        return f"HTTP {response.status_code}"

    async def _failed(
        self, conn: AsyncConnection, subscription_id: str, position: int, before: int, error: str
    ) -> None:
        attempts = before + 1
        parked = attempts >= self.max_attempts
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1))
        result = await conn.execute(
            update(subscriptions)
            # Unless an API call moved it meanwhile: then its reset stands.
            .where(
                subscriptions.c.subscription_id == subscription_id,
                subscriptions.c.delivered_seq == position,
                subscriptions.c.attempts == before,
                subscriptions.c.status == ACTIVE,
            )
            .values(
                attempts=attempts,
                status=PARKED if parked else ACTIVE,
                next_attempt_at=None if parked else utcnow() + timedelta(seconds=delay),
                last_error=error[:500],
            )
        )
        await conn.commit()
        if result.rowcount == 0:
            return
        if parked:
            log.error("webhooks.parked", subscription_id=subscription_id, attempts=attempts, error=error)
        else:
            log.warning(
                "webhooks.failed",
                subscription_id=subscription_id,
                attempts=attempts,
                error=error,
                retry_in=delay,
            )

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=self.timeout)

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        # run() keeps one client (and its connections) for its life; a pass called on its own gets its own.
        if self._client is not None:
            yield self._client
            return
        async with self._new_client() as client:
            yield client


def _due(now: datetime) -> Any:
    return or_(subscriptions.c.next_attempt_at.is_(None), subscriptions.c.next_attempt_at <= now)


@asynccontextmanager
async def _exclusive(conn: AsyncConnection, subscription_id: str) -> AsyncIterator[bool]:
    """Whether this connection may deliver the subscription: on PostgreSQL several handover processes
    may run the worker, and two senders of one subscription would break its order. A session-level
    advisory lock lives as long as the connection, so a process that dies releases it. SQLite serves
    one process; within it ``WebhookDelivery._busy`` keeps passes apart."""
    if is_sqlite(conn.engine):
        yield True
        return
    key = zlib.crc32(f"p2kp-webhook:{subscription_id}".encode())
    locked = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
    await conn.commit()
    try:
        yield locked
    finally:
        if locked:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await conn.commit()


async def _advance(conn: AsyncConnection, subscription_id: str, position: int, seq: int) -> bool:
    """Record ``seq`` as delivered, unless the position was moved (a replay) since it was read."""
    result = await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id, subscriptions.c.delivered_seq == position)
        .values(delivered_seq=seq, attempts=0, next_attempt_at=None, last_error=None)
    )
    await conn.commit()
    return bool(result.rowcount)


# --- managing subscriptions (used by the API) --------------------------------------------------------

_PUBLIC = [c for c in subscriptions.c if c.name != "secret"]


async def create_subscription(
    engine: AsyncEngine, city_code: str, url: str, created_by: str, start_seq: int | None = None
) -> tuple[str, str]:
    """Subscribe ``url`` to the city's feed; return (subscription id, secret). The secret is shown once.

    Delivery starts after ``start_seq``; by default after the city's latest event, so only new events
    are sent. Pass 0 to receive the whole feed."""
    if start_seq is not None and start_seq < 0:
        raise InvalidInput("A feed position cannot be negative.", start_seq=start_seq)
    subscription_id = str(uuid.uuid4())
    secret = secrets.token_urlsafe(32)
    try:
        async with engine.begin() as conn:
            taken = (
                await conn.execute(
                    select(subscriptions.c.subscription_id).where(
                        subscriptions.c.city_code == city_code, subscriptions.c.url == url
                    )
                )
            ).scalar_one_or_none()
            if taken is not None:
                raise _already_subscribed(city_code, taken)
            if start_seq is None:
                latest = await conn.execute(
                    select(func.coalesce(func.max(feed.c.seq), 0)).where(feed.c.city_code == city_code)
                )
                start_seq = int(latest.scalar_one())
            await conn.execute(
                subscriptions.insert().values(
                    subscription_id=subscription_id,
                    city_code=city_code,
                    url=url,
                    secret=secret,
                    created_by=created_by,
                    created_at=utcnow(),
                    delivered_seq=start_seq,
                    status=ACTIVE,
                    attempts=0,
                )
            )
    except IntegrityError as exc:  # the same URL subscribed at the same moment by someone else
        raise _already_subscribed(city_code, None) from exc
    log.info("webhooks.subscribed", subscription_id=subscription_id, city_code=city_code, start_seq=start_seq)
    return subscription_id, secret


def _already_subscribed(city_code: str, subscription_id: str | None) -> Conflict:
    return Conflict(
        f"This URL already receives the feed of city {city_code}. Redeliver or replay that subscription "
        "instead of adding a second one.",
        city_code=city_code,
        subscription_id=subscription_id,
    )


async def redeliver(engine: AsyncEngine, subscription_id: str) -> None:
    """Resume a parked (or backing-off) subscription now, from its first undelivered event."""
    await _reset(engine, subscription_id)
    log.info("webhooks.redeliver", subscription_id=subscription_id)


async def replay(engine: AsyncEngine, subscription_id: str, from_seq: int) -> None:
    """Move a subscription to feed position ``from_seq``: every event after it is sent (again)."""
    if from_seq < 0:
        raise InvalidInput("A feed position cannot be negative.", from_seq=from_seq)
    await _reset(engine, subscription_id, delivered_seq=from_seq)
    log.info("webhooks.replay", subscription_id=subscription_id, from_seq=from_seq)


async def _reset(engine: AsyncEngine, subscription_id: str, **values: Any) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.subscription_id == subscription_id)
            .values(status=ACTIVE, attempts=0, next_attempt_at=None, **values)
        )
    if result.rowcount == 0:
        raise NotFound(
            f"There is no webhook subscription {subscription_id}.", subscription_id=subscription_id
        )


async def list_subscriptions(engine: AsyncEngine, city_code: str) -> list[dict[str, Any]]:
    """The city's subscriptions and their delivery state (never the secret)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(*_PUBLIC)
            .where(subscriptions.c.city_code == city_code)
            .order_by(subscriptions.c.created_at)
        )
        return [_public(r) for r in rows.mappings()]


async def get_subscription(engine: AsyncEngine, subscription_id: str) -> dict[str, Any] | None:
    """One subscription and its delivery state (never the secret), or None."""
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(*_PUBLIC).where(subscriptions.c.subscription_id == subscription_id)))
            .mappings()
            .one_or_none()
        )
    return None if row is None else _public(row)


def _public(row: Any) -> dict[str, Any]:
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}
