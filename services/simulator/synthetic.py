"""Synthetic data for the simulator: seeded random generators, the real regions it runs in, and people
who do not exist ("Warga 12", with a NIK of the right format for where they live).

Every generator is keyed by the seed and by what it is for (a kelurahan's code, a city's), so one
kelurahan's story does not change when another is added to the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from shared import regions

SEMARANG = "33.74"


def generator(seed: int, *key: object) -> random.Random:
    # A str seed is hashed with SHA-512 by random.seed: the same across processes and PYTHONHASHSEED.
    return random.Random("/".join(map(str, (seed, *key))))


def days(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(days=rng.randint(low, high))


def rupiah(rng: random.Random, low: int, high: int, unit: int = 1000) -> int:
    """A whole-rupiah amount from ``low`` to ``high`` in steps of ``unit`` (BLM and loans are decided in
    round figures): integer arithmetic only, money is never a float."""
    return rng.randint(max(low // unit, 1), max(high // unit, 1)) * unit


def share(amount: int, percent: int, unit: int = 1000) -> int:
    """``percent`` % of ``amount``, rounded down to ``unit`` (at least one unit)."""
    return max(unit, amount * percent // 100 // unit * unit)


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later (28 February for 29 February), as a BKM's term is counted."""
    return day.replace(year=day.year + years, day=min(day.day, 28) if day.month == 2 else day.day)


def month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


# --- regions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Village:
    """A kelurahan (or desa) of the run, with its place among its kecamatan's villages (for NIK serials)."""

    code: str
    name: str
    city: str
    index_in_kecamatan: int


@dataclass(frozen=True)
class City:
    code: str
    name: str
    villages: tuple[Village, ...]


def choose_cities(cities: list[str] | int) -> list[regions.Region]:
    """The cities asked for by code, or Kota Semarang then other kota (one per province in turn, so a small
    run spans the country), then kabupaten the same way."""
    if not isinstance(cities, int):
        return [regions.require(c, regions.Level.KABUPATEN_KOTA, what="city") for c in cities]
    if cities < 1:
        raise ValueError("simulate at least one city")
    by_kind: dict[str, list[list[regions.Region]]] = {"kota": [], "kabupaten": []}
    for province in regions.children(None):
        found = regions.children(province.code)
        for kind, column in by_kind.items():
            column.append([r for r in found if r.kind == kind and r.code != SEMARANG])
    chosen = [regions.require(SEMARANG)]
    for columns in by_kind.values():
        for turn in range(max(len(c) for c in columns)):
            chosen += [c[turn] for c in columns if turn < len(c)]
    return chosen[:cities]


def choose_villages(city: regions.Region, per_city: int | None) -> City:
    """``per_city`` villages (all: None), one kecamatan after another in turn, kelurahan before desa."""
    columns = []
    for kecamatan in regions.children(city.code):
        found = regions.children(kecamatan.code)
        kelurahan_first = sorted(range(len(found)), key=lambda i: found[i].kind != "kelurahan")
        columns.append([Village(found[i].code, found[i].name, city.code, i) for i in kelurahan_first])
    chosen = [c[turn] for turn in range(max(map(len, columns), default=0)) for c in columns if turn < len(c)]
    if per_city is not None:
        chosen = chosen[:per_city]
    return City(city.code, city.name, tuple(sorted(chosen, key=lambda v: v.code)))


# --- people who do not exist ----------------------------------------------------------------------------


@dataclass
class Residents:
    """Issues NIKs of the right format, never the same twice in a run (the targeting service refuses a
    NIK registered twice in a period)."""

    issued: set[str] = field(default_factory=set)

    def nik(self, rng: random.Random, village: Village, n: int) -> str:
        """A NIK for the head of household ``n`` of ``village``: the kota and kecamatan digits of where
        they live, a birth date between 1950 and 2004 (40 added to the day for a woman), a serial."""
        woman = rng.random() < 0.3
        born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 20_088))
        day = born.day + (40 if woman else 0)
        prefix = f"{village.code[:2]}{village.code[3:5]}{village.code[6:8]}{day:02d}{born:%m%y}"
        serial = (village.index_in_kecamatan % 99) * 100 + n % 99 + 1
        while f"{prefix}{serial:04d}" in self.issued:
            serial = serial % 9999 + 1
        self.issued.add(f"{prefix}{serial:04d}")
        return f"{prefix}{serial:04d}"


def meeting(
    rng: random.Random, held_on: date, village: Village, n: int, what: str, *, size: int = 40
) -> dict[str, Any]:
    """The proof a step happened: a meeting at the kelurahan hall, its facilitator, attendance, minutes."""
    women = rng.randint(size // 4, size // 2)
    return {
        "held_on": held_on.isoformat(),
        "place": f"Balai Kelurahan {village.name}",
        "facilitator": f"faskel.{village.code[:8]}.{village.index_in_kecamatan // 3 + 1}",
        "attendance": {
            "men": size - women + rng.randint(0, size // 3),
            "women": women,
            "poor_households": rng.randint(size // 5, size // 2),
        },
        "berita_acara": f"BA/{n:02d}/{what}/{village.code}/{held_on.year}",
    }
