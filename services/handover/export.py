"""A city's full export at handover: a ZIP of JSON Lines and CSV files with a manifest of checksums.

What the handover service holds of a city is its feed (every event of every service that belongs to
the city) and the facts its readiness rests on. The export has, for each:

- ``events/<service>.jsonl``: the city's events of that service as CloudEvents, in feed order;
- ``<table>.jsonl`` and ``<table>.csv``: each readiness-facts table, the city's rows;
- ``manifest.json``: the city, when, up to which feed position, and per file its rows, bytes and
  SHA-256. A receiving system checks every file against it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.handover.readmodels import (
    audits,
    bkm_terms,
    ddub_committed,
    feed,
    target_kelurahan,
    tranches_received,
    upk_closings,
)
from shared.events import utcnow

TABLES: tuple[Table, ...] = (
    target_kelurahan,
    bkm_terms,
    ddub_committed,
    tranches_received,
    upk_closings,
    audits,
)
SERVICES = ("targeting", "institutions", "ledger", "handover")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


async def build(engine: AsyncEngine, city: str) -> tuple[bytes, dict[str, Any]]:
    """The ZIP and its manifest."""
    files: dict[str, bytes] = {}
    rows_in: dict[str, int] = {}
    async with engine.connect() as conn:
        events = (
            await conn.execute(
                select(feed.c.seq, feed.c.cloudevent).where(feed.c.city_code == city).order_by(feed.c.seq)
            )
        ).all()
        for table in TABLES:
            rows = [
                {k: _plain(v) for k, v in row.items()}
                for row in (await conn.execute(select(table).where(table.c.city_code == city))).mappings()
            ]
            files[f"{table.name}.jsonl"] = "".join(
                json.dumps(r, sort_keys=True) + "\n" for r in rows
            ).encode()
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=[c.name for c in table.columns], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            files[f"{table.name}.csv"] = text.getvalue().encode()
            rows_in[f"{table.name}.jsonl"] = rows_in[f"{table.name}.csv"] = len(rows)
    by_service: dict[str, list[str]] = {s: [] for s in SERVICES}
    for _, body in events:
        source = json.loads(body)["source"].rsplit("/", 1)[-1]
        by_service.setdefault(source, []).append(body)
    for service, bodies in by_service.items():
        files[f"events/{service}.jsonl"] = "".join(b + "\n" for b in bodies).encode()
        rows_in[f"events/{service}.jsonl"] = len(bodies)
    manifest = {
        "city_code": city,
        "generated_at": utcnow().isoformat(),
        "feed_position": events[-1][0] if events else 0,
        "files": [
            {
                "path": path,
                "rows": rows_in[path],
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            for path, data in sorted(files.items())
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(files.items()):
            archive.writestr(path, data)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    return buffer.getvalue(), manifest
