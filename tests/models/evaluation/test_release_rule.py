"""The release rule: each condition can stop a candidate, only a candidate that meets all four ships, and a
report folder is read as candidate_report.sh leaves it."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from camserve.models.evaluation.release_rule import MAX_FREE_COST, conditions, decide


def report(
    accuracy_gain: float = 0.003,
    accuracy_interval: tuple[float, float] = (-0.002, 0.009),
    log_loss_interval: tuple[float, float] = (-0.03, -0.01),
    cost_ratio: float = 1.1,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A versus.json and a cost.json as ``camserve release versus`` and ``graphs`` write them, the same on both
    sets."""
    one_set = {
        "old": {"accuracy": 0.974},
        "new": {"accuracy": 0.974 + accuracy_gain},
        "accuracy_difference_95": list(accuracy_interval),
        "log_loss_difference_95": list(log_loss_interval),
    }
    versus = {
        "old": {"weights": "weights/shipped.safetensors", "version": "2.0.0"},
        "new": {"weights": "runs/candidate.safetensors", "version": "2.1.0"},
        "validation": one_set,
        "full_resolution": copy.deepcopy(one_set),
    }
    cost = {
        "graphs": {
            "shipped-int8": {"8": {"ratio_to_first": 1.0}},
            "candidate-int8": {"8": {"ratio_to_first": cost_ratio}},
        }
    }
    return versus, cost


def failed(versus: dict[str, Any], cost: dict[str, Any], int8_passed: bool = True) -> list[str]:
    return [condition.name for condition in conditions(versus, cost, int8_passed) if not condition.held]


def test_a_cheap_candidate_with_a_measurably_lower_log_loss_ships() -> None:
    assert failed(*report()) == []


def test_lower_accuracy_on_either_set_stops_it() -> None:
    versus, cost = report()
    versus["full_resolution"]["new"]["accuracy"] = 0.973
    assert failed(versus, cost) == ["accuracy not lower"]


def test_a_log_loss_gain_inside_the_noise_stops_it() -> None:
    versus, cost = report()
    versus["validation"]["log_loss_difference_95"] = [-0.02, 0.001]
    assert failed(versus, cost) == ["log loss measurably lower"]


def test_failing_the_int8_gate_stops_it() -> None:
    assert failed(*report(), int8_passed=False) == ["int8 passed the gate"]


@pytest.mark.parametrize(
    ("accuracy_interval", "ships"),
    [((-0.002, 0.009), False), ((0.001, 0.012), True)],
    ids=["gain-within-noise", "measurable-gain"],
)
def test_a_costlier_forward_needs_a_measurable_gain_in_accuracy(
    accuracy_interval: tuple[float, float], ships: bool
) -> None:
    """Candidate 2.1.0's case: level accuracy, lower log loss, 2.89 times the forward."""
    versus, cost = report(accuracy_interval=accuracy_interval, cost_ratio=2.89)
    assert (failed(versus, cost) == []) is ships
    assert failed(*report(cost_ratio=MAX_FREE_COST)) == []


def test_a_report_folder_without_a_gate_record_does_not_ship(tmp_path: Path) -> None:
    """The candidate named in versus.json has no gate record beside it, so int8 did not pass."""
    versus, cost = report()
    versus["new"]["weights"] = str(tmp_path / "candidate.safetensors")
    (tmp_path / "versus.json").write_text(json.dumps(versus))
    (tmp_path / "cost.json").write_text(json.dumps(cost))
    decision = decide(tmp_path)
    assert not decision.ship
    assert [c.name for c in decision.conditions if not c.held] == ["int8 passed the gate"]
    lines = decision.format().splitlines()
    assert lines[2].startswith("FAILED int8 passed the gate") and lines[0].startswith("held   accuracy not lower")
    assert lines[-1] == "2.1.0 does not replace 2.0.0"
