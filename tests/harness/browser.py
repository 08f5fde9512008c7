"""The system Chromium for the browser tests, driven by Playwright's async API.

Playwright's own browser download (`playwright install`) is never used: it fails on a closed network.
The tests run Debian's Chromium instead, which deploy/ensure-chromium.sh installs.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from tests.harness import ServiceUnavailable

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = (Path("/usr/bin/chromium"), Path("/usr/bin/chromium-headless-shell"))
# Playwright passes --no-sandbox itself (chromium_sandbox=False), which Chromium needs as root. The
# background-networking, component-update and sync switches stop it dialling Google on a closed network.
LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def find_chromium() -> Path:
    """TEST_CHROMIUM if set, else /usr/bin/chromium, else /usr/bin/chromium-headless-shell."""
    if explicit := os.environ.get("TEST_CHROMIUM"):
        # An explicit path that does not work is a configuration error, not a reason to look elsewhere.
        if not os.access(explicit, os.X_OK):
            raise ServiceUnavailable(f"TEST_CHROMIUM={explicit} is not an executable file")
        return Path(explicit)
    for candidate in CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise ServiceUnavailable(
        f"no Chromium at {' or '.join(map(str, CANDIDATES))} (deploy/ensure-chromium.sh installs it)"
    )


@asynccontextmanager
async def chromium(executable: Path | None = None) -> AsyncIterator[Browser]:
    """A headless Chromium for the duration of the block; Playwright gives it a fresh profile."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable or find_chromium(),
            headless=True,
            chromium_sandbox=False,
            args=LAUNCH_ARGS,
        )
        try:
            yield browser
        finally:
            await browser.close()


def artifacts_dir() -> Path:
    """Where browser tests leave files for people: P2KP_TEST_ARTIFACTS, else var/test-artifacts."""
    return Path(os.environ.get("P2KP_TEST_ARTIFACTS") or REPO / "var" / "test-artifacts")


async def save_screenshot(page: Page, name: str) -> Path:
    """A full-page PNG at <artifacts>/screenshots/<name>.png (overwritten by the next run)."""
    path = artifacts_dir() / "screenshots" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=True)
    return path
