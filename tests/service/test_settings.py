"""The memory budget's size: as set, or derived from the memory limit less what the process needs besides; the
inference lanes: measured by default, or a positive count."""

import pytest
from pydantic import ValidationError

from camserve.service import settings as settings_module
from camserve.service.settings import MEMORY_AT_REST_BYTES, MIB, MIN_MEMORY_BUDGET_BYTES, Settings


def test_a_budget_that_is_set_is_the_budget() -> None:
    assert Settings(memory_budget_bytes=300 * MIB).memory_budget() == 300 * MIB


def test_the_default_budget_is_the_limit_less_the_process_at_rest_and_the_picture_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings_module, "memory_limit_bytes", lambda: 1536 * MIB)
    budget = Settings(render_cache_bytes=256 * MIB).memory_budget()
    assert budget == 1536 * MIB - MEMORY_AT_REST_BYTES - 256 * MIB


def test_a_small_container_still_gets_the_least_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large photos are then refused (413), small ones still served."""
    monkeypatch.setattr(settings_module, "memory_limit_bytes", lambda: 512 * MIB)
    assert Settings().memory_budget() == MIN_MEMORY_BUDGET_BYTES


def test_lanes_are_measured_by_default_and_reach_every_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {request.lanes for request in Settings().runtime_requests()} == {"auto"}
    monkeypatch.setenv("CAMSERVE_INFERENCE_LANES", "2")
    assert {request.lanes for request in Settings().runtime_requests()} == {2}


@pytest.mark.parametrize("value", ["0", "many"])
def test_lanes_are_a_positive_count_or_auto(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CAMSERVE_INFERENCE_LANES", value)
    with pytest.raises(ValidationError, match="inference_lanes"):
        Settings()
