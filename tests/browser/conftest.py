"""Fixtures for tests in a real headless Chromium: the browser, a fresh page per test, screenshots,
and the embedded platform to point them at.

Everything is async (Playwright's async API on the session's event loop), like the rest of the suite.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import Error as PlaywrightError

from tests.conftest import _on_ci
from tests.harness import ServiceUnavailable
from tests.harness.browser import chromium, find_chromium, save_screenshot
from tests.harness.processes import PlatformProcess, platform_process

log = logging.getLogger(__name__)

BROWSER_USED = pytest.StashKey[str]()
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Remembered so the page fixture's teardown knows whether to keep a screenshot of the failure.
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if used := terminalreporter.config.stash.get(BROWSER_USED, None):
        terminalreporter.write_sep("-", "browser used")
        terminalreporter.write_line(used)


@pytest.fixture(scope="session")
async def browser(request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session; tests get isolated contexts through `page`."""
    try:
        executable = find_chromium()
    except ServiceUnavailable as exc:
        reason = f"no browser for the browser tests: {exc}"
        if _on_ci():
            # As with PostgreSQL and Kafka: on CI a run where every browser test skipped is not a pass.
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    async with chromium(executable) as launched:
        request.config.stash[BROWSER_USED] = (
            f"Chromium {launched.version} ({executable}) driven by Playwright {version('playwright')}"
        )
        yield launched


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A new page in its own browser context: no cookies or storage carried over from other tests.

    When the test fails, the page is saved as screenshots/<test name>-failed.png.
    """
    context = await browser.new_context()
    try:
        opened = await context.new_page()
        yield opened
        if request.node.stash.get(CALL_FAILED, False):
            try:
                log.warning(
                    "screenshot of the failure: %s",
                    await save_screenshot(opened, f"{request.node.name}-failed"),
                )
            except PlaywrightError:
                log.warning("no screenshot of the failure: the page is gone", exc_info=True)
    finally:
        await context.close()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[], Awaitable[Path]]:
    """`await screenshot()` saves the test's page as <artifacts>/screenshots/<test name>.png."""
    return lambda: save_screenshot(page, request.node.name)


@pytest.fixture(scope="module")
def embedded_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """`p2kp run` on a free port with an empty data directory, shared by the tests of one module.

    `.base` is its URL; `.tail()` its last log lines.
    """
    root = tmp_path_factory.mktemp("platform")
    env = {"P2KP_DATA_DIR": str(root / "var"), "P2KP_LOG_JSON": "true"}
    with platform_process(["run"], env, root / "run.log", "/monitoring/ready") as platform:
        yield platform
