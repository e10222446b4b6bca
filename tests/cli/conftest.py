"""Fixtures the command-line tests share."""

import pytest


@pytest.fixture
def cpu_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands follow CAMSERVE_DEVICE, CAMSERVE_PRECISION and CAMSERVE_BACKEND; pin them for reproducible
    numbers, and so that the test-only architectures load in this process (``auto`` would time runtimes in
    subprocesses, where they are not registered)."""
    monkeypatch.setenv("CAMSERVE_DEVICE", "cpu")
    monkeypatch.setenv("CAMSERVE_PRECISION", "fp32")
    monkeypatch.setenv("CAMSERVE_BACKEND", "torch")
