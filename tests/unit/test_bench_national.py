"""The national benchmark's pure parts (bench/national.py, bench/national_events.py): no servers."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.machine import Machine
from bench.national import (
    BEGIN,
    END,
    QUICK,
    SECTION,
    Result,
    first_answers,
    parse_args,
    read_mix,
    shortfall,
    summarize,
    update_docs,
)
from bench.national_events import (
    Generation,
    NationalHistory,
    Record,
    Slice,
    cache_path,
)
from services.simulator.synthetic import choose_villages
from shared import regions
from shared.clock import today

SEMARANG = "33.74"


def _record(service: str, key: str, position: int, data: dict[str, str]) -> Record:
    event_id = str(uuid.uuid4())
    value = {"id": event_id, "source": f"/p2kp/{service}", "position": position, "data": data}
    return Record(service, key, (("ce_id", event_id),), json.dumps(value, separators=(",", ":")))


def _slice(kelurahan: int = 3) -> Slice:
    """A tiny slice shaped like the simulator's: one stream of no city, two events a kelurahan."""
    villages = choose_villages(regions.require(SEMARANG), kelurahan).villages
    records = [_record("targeting", "program-period-KOTAKU", 1, {"code": "KOTAKU"})]
    for n, village in enumerate(villages):
        stream = f"kelurahan-{village.code}"
        data = {"kelurahan_code": village.code, "city_code": SEMARANG, "name": village.name}
        records.append(_record("targeting", stream, 2 + 2 * n, data))
        records.append(
            _record("institutions", f"ksm-{uuid.uuid4()}", 1 + n, {"kelurahan_code": village.code})
        )
    return Slice(SEMARANG, tuple(v.code for v in villages), tuple(records))


def test_a_history_of_n_cities_has_n_cities_and_their_own_kelurahan() -> None:
    found = _slice(3)
    history = NationalHistory(found, cities=5)

    cities = history.city_codes()
    kelurahan = history.kelurahan_codes()
    assert len(cities) == len(set(cities)) == 5
    assert cities[0] == SEMARANG
    assert history.kelurahan == len(kelurahan) == len(set(kelurahan)) == 15
    for replica in history.replicas:
        assert all(v.code.startswith(replica.city.code + ".") for v in replica.city.villages)
    # the stream of no city once, every kelurahan's two events in every copy
    assert history.count == 1 + 6 * 5

    messages = list(history.messages({"targeting": "t", "institutions": "i"}))
    assert len(messages) == history.count
    seen = {json.loads(m.value)["data"].get("kelurahan_code") for m in messages} - {None}
    assert seen == set(kelurahan)
    keys = [m.key for m in messages]
    assert len(set(keys)) == len(keys)  # every copy's streams are its own (uuid5 and codes re-keyed)


def test_a_history_by_record_count_still_cuts_the_last_copy() -> None:
    history = NationalHistory(_slice(3), 20)
    assert history.count == 20
    assert len(history.replicas) == math.ceil((20 - 1) / 6)
    assert len(list(history.messages({"targeting": "t", "institutions": "i"}))) == 20


def test_a_history_is_asked_for_by_count_or_by_cities_not_both() -> None:
    with pytest.raises(ValueError, match="record count or a number of cities"):
        NationalHistory(_slice(2), 10, cities=2)
    with pytest.raises(ValueError, match="record count or a number of cities"):
        NationalHistory(_slice(2))


def test_too_many_cities_for_the_slice_say_so() -> None:
    with pytest.raises(ValueError, match=r"only \d+ have"):
        NationalHistory(_slice(2), cities=10_000)


def test_the_rebuild_phase_keeps_its_cache_names() -> None:
    assert cache_path(4).name == "rebuild-slice-v1-seed1-2y-4kel.jsonl"
    assert cache_path(20, 2, 1).name == "rebuild-slice-v1-seed1-2y-20kel.jsonl"
    assert cache_path(41, 3, 4).name == "rebuild-slice-v1-seed1-3y-41kel-d4.jsonl"


def test_generation_rates() -> None:
    g = Generation(1000, 250, 10.0, "2026-11-29T00:00:00+00:00", 4, 1, 2, 1)
    assert (g.events_per_second, g.commands_per_second) == (100.0, 25.0)


def test_summary_percentiles_in_milliseconds() -> None:
    s = summarize([n / 1000 for n in range(1, 101)], errors=2)
    assert s.count == 100
    assert s.p50_ms == pytest.approx(50.5)
    assert s.p95_ms == pytest.approx(95.05)
    assert s.p99_ms == pytest.approx(99.01)
    assert s.max_ms == pytest.approx(100.0)
    assert s.errors == 2


def test_summary_of_nothing_is_not_a_number() -> None:
    s = summarize([], errors=3)
    assert s.count == 0 and s.errors == 3
    assert math.isnan(s.p95_ms) and math.isnan(s.max_ms)


def test_too_few_events_say_by_how_much_and_what_to_raise() -> None:
    assert shortfall(10_000_000, 10_000_000, 30, 1000.0) is None
    why = shortfall(9_000_030, 10_000_000, 30, 1000.0)
    assert why is not None
    assert "9,000,030 records, 999,970 fewer than --min-events 10,000,000" in why
    assert "1,000 records a kelurahan" in why
    assert "about 10,000 kelurahan" in why
    assert "--kelurahan" in why and "--density" in why and "--years" in why


def test_quick_and_full_sizes() -> None:
    quick = parse_args(["--quick"])
    assert quick.sizes == QUICK and not quick.docs
    assert quick.sizes.slice_kelurahan == 4
    full = parse_args([])
    assert full.docs
    assert (full.sizes.cities, full.sizes.kelurahan, full.sizes.years) == (275, 11_275, 3)
    assert full.sizes.slice_kelurahan == 41
    assert full.sizes.min_events == 10_000_000 and full.sizes.readers == 20
    assert parse_args(["--quick", "--docs", "--readers", "7"]).sizes.readers == 7


def _result() -> Result:
    result = Result(QUICK)
    result.provenance = {
        "cache_file": "var/bench/x.jsonl",
        "from_cache": True,
        "cached_at": "2026-11-29T00:00:00+00:00",
        "kelurahan": 4,
        "years": 1,
        "density": 2,
        "records": 1234,
        "generation": None,
    }
    result.figures |= {
        "national_events": 3000,
        "national_cities": 3,
        "national_kelurahan": 12,
        "national_publish_events_per_s": 9000,
        "national_publish_seconds": 0.3,
    }
    return result


def test_the_docs_block_is_added_once_then_replaced(tmp_path: Path) -> None:
    machine = Machine(2, "cpu", 24.0, "3.11", "3.40", "0.1", "0.2", "2.0", datetime(2026, 11, 29, tzinfo=UTC))
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nintro\n")
    update_docs(page, _result(), machine)
    first = page.read_text()
    assert first.startswith("# Benchmarks\n\nintro\n")
    assert first.count(SECTION) == 1 and first.count(BEGIN) == 1 and first.count(END) == 1
    assert "3,000 records, 3 cities, 12 kelurahan" in first

    page.write_text(first.replace(END, END + "\n\nprose after the block\n"))
    update_docs(page, _result(), machine)
    second = page.read_text()
    assert second.count(BEGIN) == 1 and second.count(SECTION) == 1
    assert second.rstrip("\n").endswith(END + "\n\nprose after the block")


class _Reading:
    """An in-process app answering the readers (``/broken`` with a 500), and a sleep that records each
    pause and stops the readers after a dozen: only the reader is under test."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.pauses: list[float] = []
        self.stop = asyncio.Event()
        self.paths = {"a": lambda rng: "/a", "broken": lambda rng: "/broken"}

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request.url.path)
        return httpx.Response(500 if request.url.path == "/broken" else 200, text="{}")

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if len(self.pauses) >= 12:
            self.stop.set()

    async def read(self, **how: Any) -> dict[str, Any]:
        transport = httpx.MockTransport(self.answer)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await read_mix(
                http, self.paths, readers=3, seed=1, stop=self.stop, sleep=self.sleep, **how
            )


async def test_readers_pause_between_pages_to_read_them() -> None:
    reading = _Reading()
    found = await reading.read(seconds=60, pause=1.0)
    # Each of the 3 readers arrives within the first second, then pauses after each page it reads.
    pauses = reading.pauses
    assert len(pauses) >= 12 and len(pauses) == 3 + len(reading.asked)
    assert all(0 <= p <= 1.5 for p in pauses) and sum(p >= 0.5 for p in pauses) >= len(reading.asked)
    assert len(found["a"].seconds) + len(found["broken"].errors) == len(reading.asked)
    assert found["broken"].seconds == [] and all("500" in e for e in found["broken"].errors)


async def test_readers_with_no_pause_ask_again_at_once() -> None:
    reading = _Reading()
    found = await reading.read(seconds=0.05)
    assert reading.pauses == [] and len(reading.asked) > 3
    assert len(found["a"].seconds) + len(found["broken"].errors) == len(reading.asked)


async def test_first_answers_are_asked_as_of_yesterday_keeping_each_pages_own_query() -> None:
    """Today's pages are kept warm: timing what computing a page takes asks for yesterday, a day the
    warmer does not keep. A province's portfolio stays a province's (``?within=`` kept beside it)."""
    asked: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return httpx.Response(200, text="[]")

    paths = {"portfolio": lambda rng: "/portfolio?within=33", "city": lambda rng: "/cities/33.74"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://test") as http:
        found = await first_answers(http, paths)
    assert set(found) == {"portfolio", "city", "portfolio_national"}
    yesterday = (today() - timedelta(days=1)).isoformat()
    assert [(u.path, dict(u.params)) for u in asked] == [
        ("/portfolio", {"within": "33", "as_of": yesterday}),
        ("/cities/33.74", {"as_of": yesterday}),
        ("/portfolio", {"as_of": yesterday}),
    ]
