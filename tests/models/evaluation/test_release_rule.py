"""The release rule: each condition can stop a candidate, only a candidate that meets all four ships, and a
report folder is read as candidate_report.sh leaves it."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from camserve.models.evaluation.release_rule import MAX_FREE_COST, MAX_MAPS_COST, conditions, decide, map_conditions


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


def localization(
    head_interval: tuple[float, float] = (0.02, 0.12), energy_interval: tuple[float, float] = (0.01, 0.05)
) -> dict[str, Any]:
    """A localization.json as ``camserve release localization`` writes it, the served CAM only."""
    figures = {"pointing": 0.9, "head_pointing": 0.7, "energy": 0.44, "iou": 0.43}
    return {
        "photos": 185,
        "old": {"version": "2.0.0", "kinds": {"cam": figures}},
        "new": {"version": "2.1.0", "kinds": {"cam": {**figures, "head_pointing": 0.8, "energy": 0.47}}},
        "differences": {
            "cam": {
                "pointing_difference_95": [-0.01, 0.03],
                "head_pointing_difference_95": list(head_interval),
                "energy_difference_95": list(energy_interval),
                "iou_difference_95": [0.0, 0.02],
            }
        },
    }


def failed_maps(
    versus: dict[str, Any], maps: dict[str, Any], cost: dict[str, Any], int8_passed: bool = True
) -> list[str]:
    return [c.name for c in map_conditions(versus, maps, cost, int8_passed) if not c.held]


def test_better_maps_at_level_accuracy_and_under_twice_the_cost_ship_without_a_log_loss_gain() -> None:
    versus, cost = report(accuracy_gain=0.0, log_loss_interval=(-0.01, 0.02), cost_ratio=MAX_MAPS_COST)
    assert failed_maps(versus, localization(), cost) == []


@pytest.mark.parametrize(
    ("maps", "cost_ratio", "int8_passed", "accuracy_gain", "stopped_by"),
    [
        (localization(head_interval=(-0.01, 0.1)), 1.5, True, 0.0, ["head pointing measurably higher"]),
        (localization(energy_interval=(-0.002, 0.03)), 1.5, True, 0.0, ["energy on the animal measurably higher"]),
        (localization(), 2.01, True, 0.0, ["cost at most 2.0x"]),
        (localization(), 1.5, False, 0.0, ["int8 passed the gate"]),
        (localization(), 1.5, True, -0.001, ["accuracy not lower"]),
    ],
    ids=["head-within-noise", "energy-within-noise", "too-costly", "int8-failed", "less-accurate"],
)
def test_each_condition_of_the_maps_rule_can_stop_it(
    maps: dict[str, Any], cost_ratio: float, int8_passed: bool, accuracy_gain: float, stopped_by: list[str]
) -> None:
    versus, cost = report(accuracy_gain=accuracy_gain, cost_ratio=cost_ratio)
    assert failed_maps(versus, maps, cost, int8_passed) == stopped_by


def test_a_report_folder_with_localization_figures_is_judged_on_its_maps(tmp_path: Path) -> None:
    versus, cost = report(log_loss_interval=(-0.01, 0.02))
    versus["new"]["weights"] = str(tmp_path / "candidate.safetensors")
    for name, figures in (("versus", versus), ("cost", cost), ("localization", localization())):
        (tmp_path / f"{name}.json").write_text(json.dumps(figures))
    decision = decide(tmp_path)
    names = [c.name for c in decision.conditions]
    assert "log loss measurably lower" not in names and "head pointing measurably higher" in names
    assert [c.name for c in decision.conditions if not c.held] == ["int8 passed the gate"]  # no gate record
    assert "0.700 -> 0.800 [+0.020, +0.120] on 185 photos" in decision.format()
