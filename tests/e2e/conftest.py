"""Headless Chromium (Debian's package, driven by Playwright) against a real ``camserve serve`` process.

Without Chromium or Playwright these tests skip, so the unit tests run anywhere; in CI (CI=true) they fail
instead, because there a missing browser means a broken set-up, not a developer's choice.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, playwright_api
from tests.support.servers import serve_camserve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="session")
def browser() -> Iterator["Browser"]:
    with playwright_api().sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_camserve(tmp_path_factory.mktemp("e2e") / "store.sqlite3") as base:
        yield base


@pytest.fixture
def page(browser: "Browser", base_url: str, request: pytest.FixtureRequest) -> Iterator["Page"]:
    """A fresh browser profile (empty localStorage) on the page; a screenshot of the end state is saved."""
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    # Refused HTTP statuses are logged as console errors too; only policy violations are the page's fault.
    opened.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    opened.goto("/")
    try:
        yield opened
        ARTIFACTS.mkdir(exist_ok=True)
        opened.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
        assert not errors, f"JavaScript errors on the page: {errors}"
    finally:
        context.close()
