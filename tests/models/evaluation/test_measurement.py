"""Turns, timing and result records: the conventions every release command and benchmark measures by."""

import json
from pathlib import Path

import pytest

from camserve.models.evaluation.measurement import machine_facts, timed, turns, write_results


def test_turns_alternate_the_order_each_round() -> None:
    assert turns(2) == [(0, "a"), (0, "b"), (1, "b"), (1, "a")]
    assert turns(2, ("a", "b", "c")) == [(0, "a"), (0, "b"), (0, "c"), (1, "c"), (1, "b"), (1, "a")]


def test_timed_returns_the_median_and_the_last_result() -> None:
    calls = iter(range(3))
    milliseconds, last = timed(3, lambda: next(calls))
    assert last == 2
    assert milliseconds >= 0.0
    with pytest.raises(ValueError, match="at least one"):
        timed(0, lambda: None)


def test_a_record_names_the_machine_and_is_written_as_json(tmp_path: Path) -> None:
    facts = machine_facts(0.5, 0.7)
    assert facts["machine"]["load_average_1m"] == {"before": 0.5, "after": 0.7}
    assert set(facts["machine"]["cpu_flags"]) and facts["torch"]["version"]
    write_results(tmp_path / "deep" / "r.json", {"environment": facts})
    assert json.loads((tmp_path / "deep" / "r.json").read_text())["environment"] == facts
