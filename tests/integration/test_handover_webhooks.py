"""Webhook delivery of a city's feed, to a real HTTP receiver (uvicorn, in the test's own event loop),
from a real database: SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import uvicorn
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.handover.readmodels import MIGRATIONS, feed, subscriptions
from services.handover.webhooks import (
    SIGNATURE_HEADER,
    WebhookDelivery,
    create_subscription,
    get_subscription,
    list_subscriptions,
    redeliver,
    replay,
    sign,
    verify,
)
from shared.db import create_engine
from shared.errors import Conflict, NotFound
from shared.events import utcnow
from shared.migrations import upgrade

CITY = "33.74"
OTHER_CITY = "35.78"
STREAMS = 3


@dataclass(frozen=True)
class FeedRow:
    seq: int
    event_id: str
    stream: str
    version: int


@dataclass(frozen=True)
class Receipt:
    subscription: str
    delivery: str
    event_id: str
    stream: str
    version: int
    content_type: str


class Receiver:
    """A pemkot system: checks every signature, records what it was sent, and can be made to fail.

    ``refuse`` holds request numbers (from 1) answered 503 without recording anything, ``lose_ack``
    request numbers recorded but answered 503 too: the event arrived, its acknowledgement did not.
    ``meanwhile`` runs something while a request numbered so is in flight, before it is answered."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.received: list[Receipt] = []
        self.refuse: set[int] = set()
        self.lose_ack: set[int] = set()
        self.meanwhile: dict[int, Callable[[], Awaitable[None]]] = {}
        self.requests = 0
        self.failed = 0
        self.unverified = 0
        self.url = ""
        self.app = Starlette(routes=[Route("/hook/{name}", self.hook, methods=["POST"])])
        self._changed = asyncio.Event()

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.requests += 1
        try:
            secret = self.secrets.get(request.headers.get("X-P2KP-Subscription", ""), "")
            if not verify(secret, request.headers.get(SIGNATURE_HEADER, ""), body, now=time.time()):
                self.unverified += 1
                return Response(status_code=401)
            if self.requests in self.refuse:
                self.failed += 1
                return Response(status_code=503)
            event = json.loads(body)
            self.received.append(
                Receipt(
                    subscription=request.headers["X-P2KP-Subscription"],
                    delivery=request.headers["X-P2KP-Delivery"],
                    event_id=event["id"],
                    stream=event["streamid"],
                    version=event["streamversion"],
                    content_type=request.headers["Content-Type"],
                )
            )
            if action := self.meanwhile.get(self.requests):
                await action()
            if self.requests in self.lose_ack:
                self.failed += 1
                return Response(status_code=503)
            return Response(status_code=204)
        finally:
            self._changed.set()

    def of(self, subscription: str) -> list[Receipt]:
        return [r for r in self.received if r.subscription == subscription]

    def deliveries(self, subscription: str) -> list[str]:
        """The delivery ids a receiver keeps: the first of each, in arrival order."""
        return list(dict.fromkeys(r.delivery for r in self.of(subscription)))

    async def until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving(Receiver()) as running:
        yield running


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[Receiver]:
    """``receiver`` listening on a free loopback port (``receiver.url``), in this event loop."""
    config = uvicorn.Config(
        receiver.app, host="127.0.0.1", port=0, log_level="warning", log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(5):
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    yield receiver
    server.should_exit = True
    async with asyncio.timeout(5):
        await task


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_url)
    await upgrade(engine, MIGRATIONS)
    yield engine
    await engine.dispose()


async def add_to_feed(engine: AsyncEngine, versions: Iterable[int]) -> list[FeedRow]:
    """Events of ``STREAMS`` aggregates of CITY, interleaved version by version, with one event of
    another city after each round; return CITY's rows in feed order."""
    rows = []
    async with engine.begin() as conn:
        for version in versions:
            for city, stream in [
                *((CITY, f"kelurahan-{CITY}-{s}") for s in range(STREAMS)),
                (OTHER_CITY, "x"),
            ]:
                event_id = str(uuid.uuid4())
                envelope = {
                    "specversion": "1.0",
                    "id": event_id,
                    "source": "/p2kp/targeting",
                    "type": "targeting.KelurahanVerified",
                    "subject": stream,
                    "streamid": stream,
                    "streamversion": version,
                    "citycode": city,
                    "data": {"note": "ü ✓"},  # the body is sent byte for byte, not ASCII-escaped
                }
                result = await conn.execute(
                    feed.insert().values(
                        city_code=city,
                        event_id=event_id,
                        stream_id=stream,
                        stream_version=version,
                        type=envelope["type"],
                        cloudevent=json.dumps(envelope, ensure_ascii=False),
                        recorded_at=utcnow(),
                    )
                )
                if city == CITY:
                    (seq,) = result.inserted_primary_key or (0,)
                    rows.append(FeedRow(seq, event_id, stream, version))
    return rows


async def subscribe(engine: AsyncEngine, receiver: Receiver, name: str, start_seq: int | None = 0) -> str:
    subscription_id, secret = await create_subscription(
        engine, CITY, f"{receiver.url}/{name}", "pemkot-semarang", start_seq=start_seq
    )
    receiver.secrets[subscription_id] = secret
    return subscription_id


async def state(engine: AsyncEngine, subscription_id: str) -> dict[str, object]:
    found = await get_subscription(engine, subscription_id)
    assert found is not None
    return found


async def time_passes(engine: AsyncEngine, subscription_id: str) -> None:
    """The backoff is over: the subscription's next attempt is due now."""
    async with engine.begin() as conn:
        await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.subscription_id == subscription_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def test_every_event_arrives_signed_in_order_per_aggregate_even_across_an_outage(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    rows = await add_to_feed(engine, range(1, 21))
    seq_of = {r.event_id: r.seq for r in rows}
    first = await subscribe(engine, receiver, "a")
    second = await subscribe(engine, receiver, "b")
    # Down for the first four requests and again for two mid-stream; one acknowledgement gets lost.
    receiver.refuse = {1, 2, 3, 4, 61, 62}
    receiver.lose_ack = {90}
    worker = WebhookDelivery(engine, backoff_base=0.02, poll_interval=0.01)
    running = asyncio.create_task(worker.run())
    try:
        await receiver.until(lambda: all(len(receiver.deliveries(s)) == len(rows) for s in (first, second)))
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    assert receiver.unverified == 0
    assert receiver.failed == 7  # the outage was real: every refusal was retried until it got through
    assert receiver.requests == 2 * len(rows) + 7
    for subscription in (first, second):
        got = receiver.of(subscription)
        # Every event of the city exactly once after dedupe, none of the other city's, in feed order.
        assert receiver.deliveries(subscription) == [r.event_id for r in rows]
        assert all(r.delivery == r.event_id and r.content_type == "application/cloudevents+json" for r in got)
        for stream in {r.stream for r in rows}:
            versions = list({r.delivery: r.version for r in got if r.stream == stream}.values())
            assert versions == list(range(1, 21))
        # Sequential: the arrival order never goes back, a redelivery repeats only the event just sent.
        arrived = [seq_of[r.delivery] for r in got]
        assert arrived == sorted(arrived)
    assert len(receiver.received) == 2 * len(rows) + 1  # the event whose acknowledgement was lost, twice


async def test_a_failed_delivery_waits_out_its_backoff(engine: AsyncEngine, receiver: Receiver) -> None:
    rows = await add_to_feed(engine, range(1, 3))
    subscription = await subscribe(engine, receiver, "a")
    receiver.refuse = {1, 2, 3}
    worker = WebhookDelivery(engine, backoff_base=10, backoff_max=25)

    for attempt, backoff in ((1, 10), (2, 20), (3, 25)):
        before = utcnow()
        assert await worker.deliver_due() == 0
        after = utcnow()
        now = await state(engine, subscription)
        assert (now["attempts"], now["status"], now["last_error"]) == (attempt, "active", "HTTP 503")
        due = now["next_attempt_at"]
        assert isinstance(due, datetime)
        assert before + timedelta(seconds=backoff) <= due <= after + timedelta(seconds=backoff)
        assert await worker.deliver_due() == 0  # not due yet: no request
        assert receiver.requests == attempt
        await time_passes(engine, subscription)

    assert await worker.deliver_due() == len(rows)
    now = await state(engine, subscription)
    assert (now["attempts"], now["next_attempt_at"], now["last_error"]) == (0, None, None)
    assert now["delivered_seq"] == rows[-1].seq


async def test_a_subscription_is_parked_after_n_failures_and_redelivered(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    rows = await add_to_feed(engine, range(1, 21))
    subscription = await subscribe(engine, receiver, "a")
    receiver.refuse = {11, 12, 13}  # ten get through, then the receiver is down
    worker = WebhookDelivery(engine, backoff_base=0, max_attempts=3)

    assert await worker.deliver_due() == 10
    assert await worker.deliver_due() == 0
    assert await worker.deliver_due() == 0
    parked = await state(engine, subscription)
    assert (parked["status"], parked["attempts"], parked["delivered_seq"]) == ("parked", 3, rows[9].seq)
    assert parked["last_error"] == "HTTP 503"
    # The receiver is back, but a parked subscription stays put until someone redelivers it.
    assert await worker.deliver_due() == 0
    assert receiver.requests == 13

    await redeliver(engine, subscription)
    assert await worker.deliver_due() == len(rows) - 10
    assert [r.delivery for r in receiver.of(subscription)] == [r.event_id for r in rows]  # resumed, no gaps
    resumed = await state(engine, subscription)
    assert (resumed["status"], resumed["attempts"], resumed["delivered_seq"]) == ("active", 0, rows[-1].seq)
    with pytest.raises(NotFound):
        await redeliver(engine, str(uuid.uuid4()))


async def test_a_subscription_replays_from_any_position(engine: AsyncEngine, receiver: Receiver) -> None:
    rows = await add_to_feed(engine, range(1, 11))
    subscription = await subscribe(engine, receiver, "a")
    worker = WebhookDelivery(engine)
    assert await worker.deliver_due() == len(rows)

    for k in (17, 0):
        already = len(receiver.received)
        await replay(engine, subscription, from_seq=rows[k].seq)
        assert await worker.deliver_due() == len(rows) - k - 1
        assert [r.delivery for r in receiver.received[already:]] == [r.event_id for r in rows[k + 1 :]]
    assert (await state(engine, subscription))["delivered_seq"] == rows[-1].seq

    # A replay while an event is in flight wins: that event's acknowledgement does not move the position.
    already = receiver.requests
    receiver.meanwhile[already + 5] = lambda: replay(engine, subscription, from_seq=rows[2].seq)
    await replay(engine, subscription, from_seq=0)
    assert await worker.deliver_due() == 4
    assert (await state(engine, subscription))["delivered_seq"] == rows[2].seq
    assert await worker.deliver_due() == len(rows) - 3
    assert [r.delivery for r in receiver.received[already:]] == [r.event_id for r in rows[:5] + rows[3:]]
    with pytest.raises(NotFound):
        await replay(engine, str(uuid.uuid4()), from_seq=0)


def test_a_tampered_or_stale_signature_is_refused() -> None:
    secret, body, sent = "s3cret", b'{"id":"e-1"}', 1_760_000_000
    header = sign(secret, sent, body)

    assert header.startswith(f"t={sent},v1=")
    assert verify(secret, header, body, now=sent + 299)
    assert not verify("other", header, body, now=sent)
    assert not verify(secret, header, body + b" ", now=sent)
    assert not verify(secret, header, body, now=sent + 301)  # replayed later
    assert not verify(secret, header, body, now=sent - 301)  # from the future
    assert not verify(secret, header.replace(f"t={sent}", f"t={sent + 1}"), body, now=sent)
    for malformed in ("", "garbage", f"t={sent}", f"v1={header.split('v1=')[1]}", "t=soon,v1=ab"):
        assert not verify(secret, malformed, body, now=sent)


async def test_a_new_subscription_starts_at_the_end_unless_asked_for_everything(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    old = await add_to_feed(engine, range(1, 6))
    newcomer = await subscribe(engine, receiver, "new", start_seq=None)
    everything = await subscribe(engine, receiver, "all")
    worker = WebhookDelivery(engine)

    # Its own city's last position, though the other city's feed is further along.
    assert (await state(engine, newcomer))["delivered_seq"] == old[-1].seq
    assert await worker.deliver_due() == len(old)
    assert receiver.of(newcomer) == []
    new = await add_to_feed(engine, range(6, 8))
    assert await worker.deliver_due() == 2 * len(new)
    assert receiver.deliveries(newcomer) == [r.event_id for r in new]
    assert receiver.deliveries(everything) == [r.event_id for r in old + new]

    with pytest.raises(Conflict, match="already receives"):
        await create_subscription(engine, CITY, f"{receiver.url}/new", "someone-else")
    await create_subscription(engine, OTHER_CITY, f"{receiver.url}/new", "pemkot-malang")  # another city's
    listed = await list_subscriptions(engine, CITY)
    assert {s["subscription_id"] for s in listed} == {newcomer, everything}
    assert all("secret" not in s for s in listed)
    assert "secret" not in await state(engine, newcomer)
    assert await get_subscription(engine, str(uuid.uuid4())) is None


async def test_new_feed_rows_go_out_on_wake_without_waiting_for_the_poll(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    rows = await add_to_feed(engine, range(1, 3))
    subscription = await subscribe(engine, receiver, "a")
    worker = WebhookDelivery(engine, poll_interval=60)
    running = asyncio.create_task(worker.run())
    try:
        await receiver.until(lambda: len(receiver.deliveries(subscription)) == len(rows))
        rows += await add_to_feed(engine, range(3, 5))
        worker.wake()
        await receiver.until(lambda: len(receiver.deliveries(subscription)) == len(rows), timeout=5)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert receiver.deliveries(subscription) == [r.event_id for r in rows]
