"""What the security tests share: the two cities and the request each example builds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OWN, OTHER = "33.74", "35.78"  # Kota Semarang, Kota Surabaya


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes]] | None = None


def kelurahan(city: str) -> str:
    """The kelurahan of ``city`` the fixture nominated (the facilitators' own is in OWN)."""
    return f"{city}.01.1001"


def indicators(n: int) -> dict[str, Any]:
    return {"population": 5000 + n, "households": 1200, "poor_households": 300, "source": "BPS 2025"}
