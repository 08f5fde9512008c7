"""The demo seeding of a first ``p2kp run``: Kota Semarang fills in the background while the platform
already serves; a second start does not seed again; a start after a SIGKILL mid-seeding finishes the same
program, figure for figure and event for event, as an uninterrupted seeding."""

from __future__ import annotations

import shutil
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.processes import PlatformProcess, platform_process
from tests.harness.tokens import ADMIN

KELURAHAN = 4  # the default is all 177 of Kota Semarang; a few keep the test short
SERVICES = ("targeting", "institutions", "ledger", "handover", "monitoring")
AS_OF = "2026-10-31"  # the simulator's last day: the figures no longer move with the clock after it
DEADLINE = 600.0  # seconds for one seeding on a loaded two-core machine


@dataclass
class Seeded:
    data_dir: Path
    first_status: dict[str, Any]
    status: dict[str, Any]
    figures: dict[str, Any]
    events: dict[str, int]


def demo_env(data_dir: Path) -> dict[str, str]:
    return {
        "P2KP_DATA_DIR": str(data_dir),
        "P2KP_DEMO_SEED": "true",
        "P2KP_DEMO_KELURAHAN": str(KELURAHAN),
    }


def started(data_dir: Path, log: Path) -> AbstractContextManager[PlatformProcess]:
    return platform_process(["run"], demo_env(data_dir), log, "/monitoring/ready")


def client(platform: PlatformProcess) -> httpx.Client:
    return httpx.Client(base_url=platform.base, headers=ADMIN, timeout=70)


def seeding(http: httpx.Client, **wait_for: int) -> dict[str, Any]:
    answer = http.get("/demo/seeding", params=wait_for)
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    assert status["state"] != "failed", status
    return status


def until_seeded(http: httpx.Client, **until: int) -> dict[str, Any]:
    """Wait on the seeding's own status: it answers once the seeding ends (or has done ``done``
    commands), or after 60 s still seeding."""
    deadline, status = time.monotonic() + DEADLINE, {}
    while time.monotonic() < deadline:
        status = seeding(http, wait=60, **until)
        if status["state"] not in ("starting", "seeding") or status["done"] >= until.get("done", 10**9):
            return status
    raise TimeoutError(f"still seeding after {DEADLINE}s: {status}")


def figures(http: httpx.Client) -> dict[str, Any]:
    """What the dashboard shows of the program on its last day."""
    return {
        path: http.get(f"/monitoring/{path}", params={"as_of": AS_OF}).json()
        for path in ("overview", "cities/33.74", "portfolio", "handovers")
    }


def event_counts(http: httpx.Client) -> dict[str, int]:
    """Every service's stored events, counted through its audit query."""
    counts = {}
    for service in SERVICES:
        count, after = 0, 0
        while True:
            page = http.get(f"/{service}/audit", params={"after": after, "limit": 1000}).json()
            count += len(page["entries"])
            if page["next_after"] is None:
                break
            after = page["next_after"]
        counts[service] = count
    return counts


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """A first start seeded to the end, uninterrupted; stopped, so its data dir can be copied."""
    root = tmp_path_factory.mktemp("demo")
    with started(root / "var", root / "run.log") as platform, client(platform) as http:
        first = seeding(http)
        overview = http.get("/monitoring/overview")  # the dashboard serves while the demo is seeded
        assert overview.status_code == 200, overview.text
        status = until_seeded(http)
        return Seeded(root / "var", first, status, figures(http), event_counts(http))


def test_first_start_seeds_kota_semarang_in_the_background(seeded: Seeded) -> None:
    assert seeded.first_status["state"] in ("starting", "seeding")
    assert seeded.first_status["done"] < seeded.status["total"]
    assert seeded.status["state"] == "done" and seeded.status["kelurahan"] == KELURAHAN
    assert seeded.status["done"] == seeded.status["total"] and seeded.status["resumed"] == 0
    assert (seeded.data_dir / "demo-seed.json").exists()

    [semarang] = seeded.figures["overview"]["by_progress"]
    assert semarang["city_code"] == "33.74" and semarang["name"] == "Kota Semarang"
    city = seeded.figures["cities/33.74"]
    kelurahan = [k["kelurahan_code"] for k in city["kelurahan"]]
    assert len(kelurahan) >= KELURAHAN - 1 and all(k.startswith("33.74.") for k in kelurahan)
    assert len({k[:8] for k in kelurahan}) == len(kelurahan), "the first kelurahan of each kecamatan"
    summary = city["summary"]
    assert summary["bkm_active"] >= 1 and sum(summary["ksm"].values()) > 0
    assert summary["blm_received"] > 0 and summary["passed_to_ksm"] > 0
    assert summary["handover_stage"] == "parallel run"
    assert seeded.figures["portfolio"], "UPK indicators of the kelurahan with loans"
    assert seeded.events["targeting"] > 0 and seeded.events["ledger"] > 0


def test_a_second_start_does_not_seed_again(seeded: Seeded, tmp_path: Path) -> None:
    again = tmp_path / "var"
    shutil.copytree(seeded.data_dir, again)
    with started(again, tmp_path / "run.log") as platform, client(platform) as http:
        status = until_seeded(http)
        assert status["state"] == "done" and status["done"] == seeded.status["done"]
        assert event_counts(http) == seeded.events
        assert figures(http) == seeded.figures


def test_a_seeding_killed_midway_resumes_to_the_same_program(seeded: Seeded, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with started(data_dir, tmp_path / "run.log") as platform, client(platform) as http:
        halfway = seeded.status["total"] // 2
        status = until_seeded(http, done=halfway)
        assert status["state"] == "seeding", "killed before the seeding ends"
        platform.proc.kill()  # SIGKILL: no shutdown code runs, a command may be cut off mid-way
        platform.proc.wait()

    with started(data_dir, tmp_path / "run2.log") as platform, client(platform) as http:
        status = until_seeded(http)
        assert status["state"] == "done", platform.tail()
        assert status["resumed"] >= halfway and status["done"] == seeded.status["done"]
        assert figures(http) == seeded.figures
        assert event_counts(http) == seeded.events
