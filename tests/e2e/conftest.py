"""Headless Chromium (Debian's package, driven by Playwright) against a real ``camserve serve`` process.

Without Chromium or Playwright these tests skip, so the unit tests run anywhere; in CI (CI=true) they fail
instead, because there a missing browser means a broken set-up, not a developer's choice.
"""

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.support.servers import serve_camserve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
TIMEOUT_MS = 30_000  # inference on a busy 2-core machine can take seconds


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
    pytest.skip(
        f"browser tests skipped: {reason} (apt-get install chromium; pip install -e '.[test]')",
        allow_module_level=True,
    )


def playwright_api() -> ModuleType:
    """``playwright.sync_api`` once Chromium is known to be there; otherwise skip the caller (fail in CI)."""
    try:
        api = importlib.import_module("playwright.sync_api")
    except ImportError:
        _unavailable("playwright is not installed")
    if not CHROMIUM.exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM}")
    return api


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
