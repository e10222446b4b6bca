"""Headless Chromium for the browser tests: where it is, how it is started, and skipping (failing in CI) where
it or Playwright is missing. Shared by ``tests/e2e/conftest.py`` and the tests themselves."""

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

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
ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"
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
