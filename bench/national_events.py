"""A national-size event history for the rebuild and national benchmarks: one simulated program slice,
replicated onto other real cities (as many records, or as many cities, as asked).

The slice is the program simulator's output for Kota Semarang (some kelurahan, some years at some
kelurahan density, a fixed seed): every service's CloudEvents as its relay published them. It is
simulated once and cached in ``var/bench/``, with the rate the simulator generated it at. Copy k of it
is another city's program: every UUID becomes ``uuid5(copy k, uuid)``, and Kota Semarang's codes (city,
kecamatan, kelurahan) and names become those of a real city and the kelurahan the simulator would
choose there, in stream ids, keys, headers and payloads alike. Copies are interleaved record by record,
as a national topic interleaves its cities, and each service's positions are numbered afresh in that
order. Streams that belong to no city (the program period, the training catalogue) exist once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import REPO_ROOT
from services.platform import build_embedded, quiesce
from services.simulator import simulate
from services.simulator.synthetic import City, choose_cities, choose_villages
from shared import regions
from shared.events import EventRegistry, parse_cloudevent
from shared.settings import ServiceSettings
from shared.transport import Message
from shared.transport.topics import event_topic
from tests.harness.tokens import ADMIN, bearer

SERVICES = ("targeting", "institutions", "ledger", "handover")  # what the monitoring facts read
CACHE_DIR = REPO_ROOT / "var" / "bench"
SEED = 1
YEARS = 2  # the rebuild phase's slice
FORMAT = 1  # of the cache file: bump when what it holds changes (a header field more does not)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # a JSON string token
POSITION = "\x00position\x00"  # stands for the envelope's position in a template
EVERY_CITY = 10_000  # more than there are kabupaten/kota (514)
MEMO = 4096  # rewritten strings remembered per copy (stream ids and codes recur; event ids do not)


@dataclass(frozen=True)
class Record:
    """One published record: which service's topic, its key and headers, the CloudEvent (JSON)."""

    service: str
    key: str
    headers: tuple[tuple[str, str], ...]
    value: str


@dataclass(frozen=True)
class Generation:
    """How the simulator generated a slice: its report's figures (events the services recorded,
    commands sent, seconds the run took), when, and at what size. Kept in the cache file's header, so
    a run that reads the cache still reports the rate measured when the slice was simulated."""

    events: int
    commands: int
    elapsed_seconds: float
    simulated_at: str  # ISO 8601, UTC
    kelurahan: int
    years: int
    density: int
    seed: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.elapsed_seconds if self.elapsed_seconds else 0.0

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.elapsed_seconds if self.elapsed_seconds else 0.0


@dataclass(frozen=True)
class Slice:
    """What the simulator published for one city's kelurahan, in publishing order; ``generation`` is
    None for a slice cached before its figures were recorded."""

    city: str
    kelurahan: tuple[str, ...]
    records: tuple[Record, ...]
    generation: Generation | None = None


def cache_path(kelurahan: int, years: int = YEARS, density: int = 1) -> Path:
    """The cache file of a slice; density 1 has no suffix (the rebuild phase's files stay valid)."""
    suffix = "" if density == 1 else f"-d{density}"
    return CACHE_DIR / f"rebuild-slice-v{FORMAT}-seed{SEED}-{years}y-{kelurahan}kel{suffix}.jsonl"


async def program_slice(
    kelurahan: int,
    years: int = YEARS,
    density: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Slice, bool]:
    """The slice of ``kelurahan`` kelurahan over ``years`` at ``density``, and whether it came from the
    cache (else it was simulated now; ``progress`` is told commands done and planned)."""
    path = cache_path(kelurahan, years, density)
    if path.exists():
        return _read(path), True
    found = await _simulate(kelurahan, years, density, progress)
    _write(path, found)
    return found, False


def cached_at(path: Path) -> datetime:
    """When a cache file was written (its modification time): the date of a slice with no header date."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


async def _simulate(
    kelurahan: int, years: int, density: int, progress: Callable[[int, int], None] | None
) -> Slice:
    """Drive the simulator through an embedded platform in a scratch directory, as ``p2kp simulate``."""
    with tempfile.TemporaryDirectory(prefix="bench-slice-") as scratch:
        data_dir = Path(scratch)
        platform = build_embedded(ServiceSettings(data_dir=data_dir))
        async with platform.router.lifespan_context(platform):
            transport = httpx.ASGITransport(app=platform)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://p2kp", headers=ADMIN, timeout=120
            ) as http:
                report = await simulate(
                    http,
                    cities=1,
                    kelurahan_per_city=kelurahan,
                    years=years,
                    seed=SEED,
                    progress=progress,
                    wait=lambda: quiesce(platform, timeout=300),
                    city_headers=lambda city: bearer("city_operator", city),
                    keep_log=False,
                    density=density,
                )
            await quiesce(platform, timeout=300)  # every relay has published
        records = _published(data_dir / "bus.sqlite")
    generation = Generation(
        events=report.events,
        commands=report.command_count,
        elapsed_seconds=report.elapsed_seconds,
        simulated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        kelurahan=kelurahan,
        years=years,
        density=density,
        seed=SEED,
    )
    return Slice(report.cities[0], tuple(report.kelurahan), records, generation)


def _published(bus: Path) -> tuple[Record, ...]:
    """The services' records on the embedded bus, in the order they were published."""
    topics = {event_topic(s): s for s in SERVICES}
    with contextlib.closing(sqlite3.connect(bus)) as conn:
        marks = ", ".join("?" for _ in topics)
        rows = conn.execute(
            f'SELECT topic, key, headers, value FROM bus_messages WHERE topic IN ({marks}) ORDER BY "offset"',
            tuple(topics),
        ).fetchall()
    return tuple(
        Record(topics[topic], key, tuple((k, v) for k, v in json.loads(headers)), value.decode())
        for topic, key, headers, value in rows
    )


def _write(path: Path, found: Slice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as out:
        head: dict[str, object] = {"city": found.city, "kelurahan": found.kelurahan}
        if found.generation is not None:
            head["generation"] = asdict(found.generation)
        out.write(json.dumps(head) + "\n")
        for r in found.records:
            out.write(json.dumps([r.service, r.key, r.headers, r.value]) + "\n")
    os.replace(tmp, path)


def _read(path: Path) -> Slice:
    with path.open() as lines:
        head = json.loads(next(lines))
        records = []
        for line in lines:
            service, key, headers, value = json.loads(line)
            records.append(Record(service, key, tuple((k, v) for k, v in headers), value))
    generation = Generation(**head["generation"]) if "generation" in head else None
    return Slice(head["city"], tuple(head["kelurahan"]), tuple(records), generation)


@dataclass(frozen=True)
class Template:
    """A record cut where a copy differs: ``parts`` alternates literal JSON text of the envelope and a
    string to rewrite (``POSITION`` for the position); ``national`` if its stream belongs to no city."""

    record: Record
    parts: tuple[str, ...]
    headers: tuple[tuple[str, str, bool], ...]  # name, value, whether a copy rewrites it
    position: int
    national: bool


@dataclass
class Replica:
    """Copy ``number`` of the slice, moved onto ``city``; copy 0 is the slice itself."""

    number: int
    city: City
    pattern: re.Pattern[str]
    codes: dict[str, str]
    names: dict[str, str]
    namespace: uuid.UUID = field(init=False)
    _moved: dict[str, str] = field(init=False, default_factory=dict)
    _tokens: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"p2kp-bench:rebuild-copy:{self.number}")

    def rewrite(self, text: str) -> str:
        return text if self.number == 0 else self.pattern.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        found = match.group()
        if match.lastgroup == "uuid":
            return str(uuid.uuid5(self.namespace, found))
        mapping = self.codes if match.lastgroup == "code" else self.names
        if found not in mapping:
            raise ValueError(
                f"{found!r} is not among the slice's regions: cannot move it to {self.city.name}"
            )
        return mapping[found]

    def _move(self, text: str) -> str:
        moved = self._moved.get(text)
        if moved is None:
            if len(self._moved) >= MEMO:
                self._moved.clear()
            moved = self._moved[text] = self.rewrite(text)
        return moved

    def _token(self, text: str) -> str:
        token = self._tokens.get(text)
        if token is None:
            if len(self._tokens) >= MEMO:
                self._tokens.clear()
            token = self._tokens[text] = json.dumps(self._move(text))
        return token

    def message(self, template: Template, position: int, topic: str) -> Message:
        out = []
        for n, part in enumerate(template.parts):
            if n % 2 == 0:
                out.append(part)
            else:
                out.append(str(position) if part == POSITION else self._token(part))
        return Message(
            topic=topic,
            key=self._move(template.record.key),
            value="".join(out).encode(),
            headers=tuple((k, (self._move(v) if moves else v).encode()) for k, v, moves in template.headers),
        )


class NationalHistory:
    """The slice, then copies on other cities, interleaved: as many as it takes for ``count`` records
    (the last copy cut at the count), or ``cities`` whole copies (the slice's own city among them)."""

    def __init__(self, found: Slice, count: int | None = None, *, cities: int | None = None) -> None:
        if (count is None) == (cities is None):
            raise ValueError("a national history is asked for by a record count or a number of cities")
        if cities is not None and cities < 1:
            raise ValueError("a national history has at least one city")
        self.slice = found
        source = regions.require(found.city)
        villages = [regions.require(code) for code in found.kelurahan]
        self.pattern = re.compile(
            rf"(?P<uuid>{UUID})"
            rf"|(?P<code>(?<![\d.]){re.escape(found.city)}(?:\.\d{{2}}(?:\.\d{{4}})?)?(?!\d))"
            rf"|(?P<name>\b(?:{'|'.join(re.escape(n) for n in _longest_first(source, villages))})\b)"
        )
        self.templates = [self._template(r) for r in found.records]
        national = sum(t.national for t in self.templates)
        local = len(self.templates) - national
        if cities is not None:
            copies = cities
            self.count = national + local * cities
        else:
            assert count is not None
            copies = max(1, math.ceil((count - national) / local))
            self.count = count
        chosen = _cities(found, copies)
        self.replicas = [self._replica(n, source, villages, city) for n, city in enumerate(chosen)]

    @property
    def kelurahan(self) -> int:
        return len(self.replicas) * len(self.slice.kelurahan)

    def city_codes(self) -> list[str]:
        return [r.city.code for r in self.replicas]

    def kelurahan_codes(self) -> list[str]:
        return [v.code for r in self.replicas for v in r.city.villages]

    def messages(self, topics: Mapping[str, str]) -> Iterator[Message]:
        """The records in topic order; ``topics`` names each service's topic."""
        copies = len(self.replicas)
        emitted = 0
        for template in self.templates:
            for replica in self.replicas[:1] if template.national else self.replicas:
                if emitted == self.count:
                    return
                position = (template.position - 1) * copies + replica.number + 1
                yield replica.message(template, position, topics[template.record.service])
                emitted += 1

    def check(self, registry: EventRegistry) -> None:
        """Every record of the first and the last copy is a CloudEvent the platform reads; copy 0 says
        what the simulator published, and the last copy's streams, cities and kelurahan are its own."""
        last = self.replicas[-1]
        for template in self.templates:
            original = parse_cloudevent(json.loads(template.record.value), registry)
            itself = parse_cloudevent(json.loads(self.replicas[0].message(template, 1, "").value), registry)
            if (itself.payload, itself.stream_id) != (original.payload, original.stream_id):
                raise AssertionError(f"copy 0 of {original.event_id} differs from the simulator's record")
            if template.national or last.number == 0:
                continue
            moved = parse_cloudevent(json.loads(last.message(template, 1, "").value), registry)
            code = getattr(moved.payload, "kelurahan_code", last.city.villages[0].code)
            if (
                any(m.lastgroup != "uuid" for m in self.pattern.finditer(moved.stream_id))
                or moved.stream_id == original.stream_id
                or moved.metadata.city_code not in (None, last.city.code)
                or code not in last.codes.values()
            ):
                raise AssertionError(
                    f"copy {last.number} of {original.event_id} is not all in {last.city.name}"
                )

    def _template(self, record: Record) -> Template:
        envelope = json.loads(record.value)
        position = int(envelope["position"])
        envelope["position"] = POSITION
        text = json.dumps(envelope, separators=(",", ":"))  # as shared.relay.message_for writes it
        parts: list[str] = []
        last = 0
        for token in STRING.finditer(text):
            value = json.loads(token.group())
            if value == POSITION or self.pattern.search(value):
                parts += [text[last : token.start()], value]
                last = token.end()
        parts.append(text[last:])
        headers = tuple((k, v, bool(self.pattern.search(v))) for k, v in record.headers)
        national = not self.pattern.search(record.key)
        return Template(record, tuple(parts), headers, position, national)

    def _replica(
        self, number: int, source: regions.Region, villages: list[regions.Region], city: City
    ) -> Replica:
        codes = {source.code: city.code}
        names = {source.name: city.name}
        for old, new in zip(villages, city.villages, strict=True):
            codes[old.code] = new.code
            codes.setdefault(old.code[:8], new.code[:8])  # the kecamatan
            names.setdefault(old.name, new.name)
        return Replica(number, city, self.pattern, codes, names)


def _longest_first(source: regions.Region, villages: list[regions.Region]) -> list[str]:
    return sorted({source.name, *(v.name for v in villages)}, key=len, reverse=True)


def _cities(found: Slice, copies: int) -> list[City]:
    """The slice's own city, then the cities the simulator would run next that have enough kelurahan."""
    wanted = len(found.kelurahan)
    chosen = [choose_villages(regions.require(found.city), wanted)]
    for region in choose_cities(EVERY_CITY):
        if len(chosen) == copies:
            break
        city = choose_villages(region, wanted)
        if region.code != found.city and len(city.villages) == wanted:
            chosen.append(city)
    if len(chosen) < copies:
        raise ValueError(
            f"{copies} copies of a {wanted}-kelurahan slice need {copies} cities; only {len(chosen)} have "
            f"{wanted} kelurahan: ask for fewer cities (national benchmark) or fewer events, or simulate a "
            f"larger slice (BENCH_REBUILD_KELURAHAN): fewer copies for as many events"
        )
    return chosen
