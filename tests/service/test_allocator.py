"""glibc's allocator settings for large photos: applied in-process, an operator's variable left to win."""

import pytest

from camserve.service import allocator


def test_both_settings_are_applied_where_the_environment_sets_neither() -> None:
    assert allocator.tune_for_large_buffers({}) == {
        "MALLOC_ARENA_MAX": allocator.ARENA_MAX,
        "MALLOC_MMAP_THRESHOLD_": allocator.MMAP_THRESHOLD_BYTES,
    }


def test_a_variable_the_operator_set_wins() -> None:
    applied = allocator.tune_for_large_buffers({"MALLOC_ARENA_MAX": "4"})
    assert applied == {"MALLOC_MMAP_THRESHOLD_": allocator.MMAP_THRESHOLD_BYTES}


def test_without_mallopt_nothing_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "libc", lambda: None)
    assert allocator.tune_for_large_buffers({}) == {}
