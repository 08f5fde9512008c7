"""The browser harness end to end: the embedded platform's front page in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.async_api import Page, expect

from tests.harness.processes import PlatformProcess

SERVICES = ("targeting", "institutions", "ledger", "handover", "monitoring")


async def test_front_page_links_every_service_docs(
    page: Page, embedded_platform: PlatformProcess, screenshot: Callable[[], Awaitable[Path]]
) -> None:
    response = await page.goto(embedded_platform.base + "/")
    assert response is not None and response.ok, embedded_platform.tail()
    await expect(page).to_have_title("P2KP Platform")
    await expect(page.get_by_role("heading", level=1)).to_have_text("P2KP Platform")

    for service in SERVICES:
        link = page.get_by_role("link", name=service, exact=True)
        await expect(link).to_have_attribute("href", f"/{service}/docs")
        # Followed by URL rather than clicked: Swagger UI loads its scripts from a CDN this network lacks.
        docs = await page.request.get(await link.evaluate("a => a.href"))
        assert docs.ok, f"{service} docs: HTTP {docs.status}"
        assert f"P2KP {service} service" in await docs.text()

    saved = await screenshot()
    assert saved.read_bytes().startswith(b"\x89PNG")
