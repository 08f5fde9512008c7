"""What must hold after every fault, checked against the services' own PostgreSQL databases and a clean
replay of the topics: acknowledged commands found exactly once, projections equal to a clean rebuild,
per-aggregate order, the ledger's invariants, and no 5xx but for an unavailable dependency."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.load import Sent
from services.monitoring.facts import TOPICS, FactsProjection, facts_tables
from services.monitoring.generations import create_tables, digest
from shared.consumer import ConsumerRunner
from shared.contracts import registry
from shared.migrations import upgrade
from shared.transport.kafka import KafkaSubscriber
from tests.harness.distributed import DistributedPlatform
from tests.harness.postgres import PostgresServer
from tests.integration.test_handover_webhooks import Receiver
from tests.journeys import synced

# Where each command kind's events are stored.
SERVICE_OF = {"repayment": "ledger", "survey": "targeting", "person": "institutions"}
LIVE_FACTS = "monitoring.facts.g1"


@dataclass
class Figures:
    sent: int
    acknowledged: int
    found: int
    duplicates: int
    lost: int
    unavailable: int  # answers 503 or none: a dependency was down
    server_errors: int  # any other 5xx: a bug
    refused: int  # 4xx: the load is valid, so a refusal is a bug too (a lost race, say)
    digest_equal: bool | None = None

    def line(self, fault: str) -> str:
        return (
            f"{fault}: sent {self.sent}, acknowledged {self.acknowledged}, found {self.found}, "
            f"duplicates {self.duplicates}, lost {self.lost}, unavailable {self.unavailable}, "
            f"5xx {self.server_errors}, 4xx {self.refused}, "
            f"digest equal to a clean rebuild: {self.digest_equal}"
        )


async def _rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql), params))
    finally:
        await engine.dispose()


async def converge(platform: DistributedPlatform, http: httpx.AsyncClient) -> None:
    """Wait until the monitoring projection and the city feed have applied every stream of every
    service's store up to its last version (their checkpoints, no guessing): whatever was stored, a
    command that got no answer included."""
    for service in ("targeting", "institutions", "ledger", "handover"):
        streams = await _rows(
            platform.databases[service], "SELECT stream_id, max(stream_version) FROM events GROUP BY 1"
        )
        for stream, version in streams:
            for consumer in (LIVE_FACTS, "handover.feed"):
                await synced(http, {"stream_id": stream, "version": version}, consumer)


async def exactly_once(platform: DistributedPlatform, sent: list[Sent]) -> Figures:
    """Each acknowledged command is found: a repayment's idempotency key booked exactly once, a
    survey's events stored, a person in the register. No key is booked twice, acknowledged or not."""
    ledger, targeting = platform.databases["ledger"], platform.databases["targeting"]
    booked = dict(
        await _rows(
            ledger,
            "SELECT (data::jsonb)->>'idempotency_key', count(*) FROM events "
            "WHERE event_type = 'p2kp.ledger.repayment-received.v1' GROUP BY 1",
        )
    )
    acknowledged = [s for s in sent if s.acknowledged]
    surveyed = [e for s in acknowledged if s.kind == "survey" for e in (s.answer or {})["event_ids"]]
    stored = {
        r[0]
        for r in await _rows(targeting, "SELECT event_id FROM events WHERE event_id = ANY(:i)", i=surveyed)
    }
    people = [str((s.answer or {})["person_id"]) for s in acknowledged if s.kind == "person"]
    registered = {
        r[0]
        for r in await _rows(
            platform.databases["institutions"],
            "SELECT person_id FROM people WHERE person_id = ANY(:i)",
            i=people,
        )
    }

    def found(s: Sent) -> bool:
        answer = s.answer or {}
        if s.kind == "repayment":
            return booked.get(s.key) == 1
        if s.kind == "survey":
            return all(e in stored for e in answer["event_ids"])
        return str(answer["person_id"]) in registered

    statuses = Counter(s.status for s in sent)
    hits = sum(found(s) for s in acknowledged)
    return Figures(
        sent=len(sent),
        acknowledged=len(acknowledged),
        found=hits,
        duplicates=sum(n - 1 for n in booked.values() if n > 1),
        lost=len(acknowledged) - hits,
        unavailable=statuses[None] + statuses[503],
        server_errors=sum(n for status, n in statuses.items() if status and status >= 500 and status != 503),
        refused=sum(n for status, n in statuses.items() if status and 400 <= status < 500),
    )


async def in_order(platform: DistributedPlatform) -> None:
    """Every stream's versions are 1..n with no gap, in every service's store, and the monitoring
    projection has applied each stream exactly up to its last version."""
    last: dict[str, int] = {}
    for service in ("targeting", "institutions", "ledger", "handover"):
        rows = await _rows(
            platform.databases[service],
            "SELECT stream_id, count(*), min(stream_version), max(stream_version) FROM events GROUP BY 1",
        )
        for stream, count, low, high in rows:
            assert (low, high) == (1, count), f"{service} {stream}: versions {low}..{high} for {count} events"
            last[stream] = high
    applied = dict(
        await _rows(
            platform.databases["monitoring"],
            "SELECT stream_id, version FROM consumed_streams WHERE consumer = :c",
            c=LIVE_FACTS,
        )
    )
    behind = {s: (v, applied.get(s)) for s, v in last.items() if applied.get(s) != v}
    assert not behind, f"streams the projection has not applied exactly: {list(behind.items())[:5]}"


async def feed_complete(platform: DistributedPlatform) -> None:
    """The handover's city feed (what the pemkot systems pull and receive by webhook) holds every event
    of a city from every service, each once, with feed positions in per-aggregate order."""
    cities: set[str] = set()
    for service in ("targeting", "institutions", "ledger", "handover", "monitoring"):
        rows = await _rows(
            platform.databases[service], "SELECT event_id FROM events WHERE city_code IS NOT NULL"
        )
        cities |= {r[0] for r in rows}
    fed = await _rows(
        platform.databases["handover"], "SELECT event_id, stream_id, cloudevent FROM feed ORDER BY seq"
    )
    ids = [r[0] for r in fed]
    assert len(ids) == len(set(ids)), "an event twice in the feed"
    assert set(ids) == cities, f"{len(cities - set(ids))} events missing from the feed"
    by_stream: dict[str, list[int]] = {}
    for _, stream, body in fed:
        by_stream.setdefault(stream, []).append(json.loads(body)["streamversion"])
    disordered = [s for s, v in by_stream.items() if v != sorted(v)]
    assert not disordered, f"the feed is out of order for {disordered[:3]}"


async def webhooks_complete(platform: DistributedPlatform, receiver: Receiver, fault: str) -> None:
    """The pemkot system subscribed by webhook got every event of the city's feed, signed, at least
    once (it keeps the first of each id), and per aggregate in order."""
    fed = await _rows(platform.databases["handover"], "SELECT event_id FROM feed WHERE city_code = '33.74'")
    wanted = {r[0] for r in fed}
    await receiver.until(lambda: wanted <= {r.event_id for r in receiver.received}, timeout=120)
    first: dict[str, Any] = {}
    for receipt in receiver.received:
        first.setdefault(receipt.event_id, receipt)
    by_stream: dict[str, list[int]] = {}
    for receipt in first.values():
        by_stream.setdefault(receipt.stream, []).append(receipt.version)
    assert all(v == sorted(v) for v in by_stream.values()), "webhooks out of order per aggregate"
    assert receiver.unverified == 0
    print(
        f"{fault}: webhooks: {len(wanted)} feed events, {len(receiver.received)} deliveries received "
        f"({len(receiver.received) - len(first)} redelivered, dropped by id), none missing"
    )


async def ledger_invariants(platform: DistributedPlatform) -> None:
    """Every entry balances, the trial balance of every book is zero, no bank account is overdrawn,
    and each loan's principal is conserved: disbursed = still receivable + repaid principal (one loan
    per KSM, no write-offs: what the load does)."""
    url = platform.databases["ledger"]
    unbalanced = await _rows(
        url, "SELECT entry_id FROM journal_lines GROUP BY entry_id HAVING sum(debit) <> sum(credit)"
    )
    assert unbalanced == [], f"unbalanced entries: {unbalanced[:5]}"
    books = await _rows(url, "SELECT book, sum(debit) - sum(credit) FROM journal_lines GROUP BY book")
    assert books and all(total == 0 for _, total in books), books
    overdrawn = await _rows(
        url,
        "SELECT book, sum(debit) - sum(credit) FROM journal_lines WHERE account = 'bank' GROUP BY book "
        "HAVING sum(debit) - sum(credit) < 0",
    )
    assert overdrawn == [], f"a BKM's bank account below zero: {overdrawn}"
    loans = await _rows(url, "SELECT loan_id, ksm_id, principal FROM loans")
    for loan_id, ksm_id, principal in loans:
        repaid = await _rows(
            url,
            "SELECT coalesce(sum(((data::jsonb)->'allocation'->>'principal_overdue_rupiah')::bigint"
            " + ((data::jsonb)->'allocation'->>'principal_current_rupiah')::bigint), 0) FROM events "
            "WHERE stream_id = :s AND event_type = 'p2kp.ledger.repayment-received.v1'",
            s=f"loan-{loan_id}",
        )
        receivable = await _rows(
            url,
            "SELECT coalesce(sum(debit) - sum(credit), 0) FROM journal_lines WHERE account = :a",
            a=f"loans-receivable:{ksm_id}",
        )
        assert principal == receivable[0][0] + repaid[0][0], (loan_id, principal, receivable, repaid)


async def clean_rebuild_equals_live(
    platform: DistributedPlatform, postgres: PostgresServer, name: str
) -> bool:
    """Replay the platform's topics from the start into an empty database with the monitoring facts
    projection, in this process, and compare its tables with the live projection's (SHA-256 digests)."""
    url = postgres.new_database(f"clean_{name}"[:40])
    clean = create_async_engine(url)
    live = create_async_engine(platform.databases["monitoring"])
    try:
        await upgrade(clean)
        facts = facts_tables(1)
        await create_tables(clean, facts)
        projection = FactsProjection(facts, f"clean.{name}")
        projection.topics = tuple(platform.topic_prefix + t for t in TOPICS)
        subscriber = KafkaSubscriber(platform.env["P2KP_KAFKA_BOOTSTRAP"], client_id="chaos-clean")
        runner = ConsumerRunner(clean, subscriber, projection, registry=registry, dead_letters=_Kept())
        task = asyncio.create_task(runner.run())
        try:
            await runner.wait_until(lambda: _caught_up(runner), timeout=300)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with clean.connect() as a, live.connect() as b:
            rebuilt, serving = await digest(a, facts), await digest(b, facts)
        differing = sorted(t for t in rebuilt if rebuilt[t] != serving.get(t))
        if differing:
            print(f"tables differing from a clean rebuild: {differing}")
        return not differing
    finally:
        await clean.dispose()
        await live.dispose()


async def _caught_up(runner: ConsumerRunner) -> bool:
    try:
        return runner.positions != {} and await runner.lag() == 0
    except Exception:  # still joining its group
        return False


class _Kept:
    """The clean replay's dead-letter topic: kept here, so the check can say what the replay could
    not apply (it must be what the live projection could not apply either: the digests compare)."""

    def __init__(self) -> None:
        self.letters: list[Any] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, messages: Any) -> None:
        self.letters += messages


async def all_hold(
    platform: DistributedPlatform,
    postgres: PostgresServer,
    http: httpx.AsyncClient,
    sent: list[Sent],
    fault: str,
) -> Figures:
    """Every check; prints the figures the issue asks each fault to show."""
    await converge(platform, http)
    figures = await exactly_once(platform, sent)
    await in_order(platform)
    await feed_complete(platform)
    await ledger_invariants(platform)
    figures.digest_equal = await clean_rebuild_equals_live(platform, postgres, fault)
    print(figures.line(fault))
    assert figures.duplicates == 0 and figures.lost == 0, figures
    assert figures.server_errors == 0, [s for s in sent if s.status and s.status >= 500]
    assert figures.refused == 0, [s.answer for s in sent if s.status and 400 <= s.status < 500][:3]
    assert figures.digest_equal, figures
    return figures
