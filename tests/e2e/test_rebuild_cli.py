"""`p2kp projections rebuild` against a running platform: it rebuilds the monitoring facts into a new
generation, shows its progress in events/s, and the dashboard's figures are the same after the switch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.harness.processes import platform_process
from tests.harness.tokens import ADMIN

KOTAKU = {"code": "KOTAKU", "name": "Kota Tanpa Kumuh", "starts_on": "2016-01-01", "ends_on": "2024-12-31"}
FIGURES = {"population": 5200, "households": 1300, "poor_households": 420, "source": "BPS 2024"}


def test_the_rebuild_command_switches_generation_and_keeps_the_figures(tmp_path: Path) -> None:
    env = {"P2KP_DATA_DIR": str(tmp_path / "var"), "P2KP_LOG_JSON": "true"}
    with platform_process(["run"], env, tmp_path / "run.log", "/monitoring/ready") as platform:
        with httpx.Client(base_url=platform.base, headers=ADMIN, timeout=30) as http:
            assert http.post("/targeting/program-periods", json=KOTAKU).status_code == 201
            for n in range(1, 4):
                body = {"kelurahan_code": f"33.74.10.100{n}", "indicators": FIGURES}
                assert http.post("/targeting/program-periods/KOTAKU/kelurahan", json=body).status_code == 201
            status = http.get("/monitoring/projections").json()[0]
            before = status["generation"]
            command = [
                sys.executable,
                "-m",
                "services.cli",
                "projections",
                "rebuild",
                "--url",
                f"{platform.base}/monitoring",
            ]
            done = subprocess.run(
                command,
                env={**os.environ, **env, "COLUMNS": "120"},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "events/s" in done.stdout and f"generation {before + 1}" in done.stdout
            after = http.get("/monitoring/projections").json()[0]
            assert after["generation"] == before + 1 and after["consumer"].endswith(f".g{before + 1}")
            assert after["rebuilding"]["applied"] >= 5  # the period, its parameters, three nominations
