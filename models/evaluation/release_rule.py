"""Whether a candidate replaces the shipped checkpoint, by the release rule, from its report's measurements.

The rule was fixed before any candidate's figures were read. Where the report has no localization figures
(no annotated photos), ship only if all hold:

1. accuracy is not lower, on the validation split and on the full-resolution stand-ins;
2. log loss is measurably lower on both (the 95% interval of the difference lies below zero);
3. int8 passed the accuracy gate, so the candidate serves at the shipped model's precision;
4. its int8 forward costs at most ``MAX_FREE_COST`` times the shipped one's per photo in a batch of 8, or
   it is measurably more accurate on both sets (the interval lies above zero).

Where it has them (``localization.json``, from ``camserve release localization``: the shipped checkpoint's
served CAM against the candidate's on the same annotated photos), a candidate is judged on its maps instead
(issue 29). Ship only if all hold:

1. accuracy is not lower, on the validation split and on the full-resolution stand-ins;
2. head pointing is measurably higher (the 95% interval of the difference lies above zero);
3. energy on the animal is measurably higher;
4. int8 passed the accuracy gate;
5. its int8 forward costs at most ``MAX_MAPS_COST`` times the shipped one's per photo in a batch of 8.

It reads a candidate report's folder: ``versus.json`` (``versus``: the shipped checkpoint against the
candidate on the same photos), ``cost.json`` (``graph_timing``: both int8 forwards timed in turns, the
candidate's graph named ``candidate-int8``) and the gate record beside the candidate's weights.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camserve.models.evaluation.gate import load_gate_record

__all__ = [
    "CANDIDATE_GRAPH",
    "COST_BATCH",
    "MAX_FREE_COST",
    "MAX_MAPS_COST",
    "SETS",
    "Condition",
    "Decision",
    "conditions",
    "decide",
    "map_conditions",
]

MAX_FREE_COST = 1.25
MAX_MAPS_COST = 2.0
SERVED_MAP = "cam"
MAP_FIGURES = (("head_pointing", "head pointing"), ("energy", "energy on the animal"))
SETS = ("validation", "full_resolution")
COST_BATCH = "8"
CANDIDATE_GRAPH = "candidate-int8"


@dataclass(frozen=True)
class Condition:
    name: str
    held: bool
    figures: str


@dataclass(frozen=True)
class Decision:
    """The rule's verdict on one report: each condition with its figures, and the two versions it weighed."""

    conditions: tuple[Condition, ...]
    old_version: str
    new_version: str

    @property
    def ship(self) -> bool:
        return all(condition.held for condition in self.conditions)

    def format(self) -> str:
        lines = [f"{'held' if c.held else 'FAILED':<7}{c.name}: {c.figures}" for c in self.conditions]
        verdict = "replaces" if self.ship else "does not replace"
        return "\n".join([*lines, f"{self.new_version} {verdict} {self.old_version}"])


def _accuracy_not_lower(versus: dict[str, Any]) -> Condition:
    gains = {name: versus[name]["new"]["accuracy"] - versus[name]["old"]["accuracy"] for name in SETS}
    return Condition(
        "accuracy not lower",
        all(gain >= 0 for gain in gains.values()),
        ", ".join(
            f"{name} {gain * 100:+.2f} points {_interval(versus[name]['accuracy_difference_95'], 100)}"
            for name, gain in gains.items()
        ),
    )


def _cost_ratio(cost: dict[str, Any]) -> float:
    ratio: float = cost["graphs"][CANDIDATE_GRAPH][COST_BATCH]["ratio_to_first"]
    return ratio


def conditions(versus: dict[str, Any], cost: dict[str, Any], int8_passed: bool) -> list[Condition]:
    """The rule's four conditions on a report's measurements, without localization figures."""
    measurable = all(versus[name]["accuracy_difference_95"][0] > 0 for name in SETS)
    ratio = _cost_ratio(cost)
    return [
        _accuracy_not_lower(versus),
        Condition(
            "log loss measurably lower",
            all(versus[name]["log_loss_difference_95"][1] < 0 for name in SETS),
            ", ".join(f"{name} {_interval(versus[name]['log_loss_difference_95'])}" for name in SETS),
        ),
        Condition("int8 passed the gate", int8_passed, "gate record beside the candidate"),
        Condition(
            f"cost at most {MAX_FREE_COST}x, or accuracy measurably higher",
            ratio <= MAX_FREE_COST or measurable,
            f"int8 forward {ratio:.2f}x the shipped one's; accuracy gain measurable on both sets: {measurable}",
        ),
    ]


def map_conditions(
    versus: dict[str, Any], localization: dict[str, Any], cost: dict[str, Any], int8_passed: bool
) -> list[Condition]:
    """The rule's five conditions on a report with localization figures: the served map must find the animal
    measurably better, at no loss of accuracy and at most MAX_MAPS_COST times the forward."""
    differences = localization["differences"][SERVED_MAP]
    old, new = localization["old"]["kinds"][SERVED_MAP], localization["new"]["kinds"][SERVED_MAP]
    ratio = _cost_ratio(cost)
    return [
        _accuracy_not_lower(versus),
        *(
            Condition(
                f"{name} measurably higher",
                differences[f"{figure}_difference_95"][0] > 0,
                f"{old[figure]:.3f} -> {new[figure]:.3f} {_interval(differences[f'{figure}_difference_95'])} "
                f"on {localization['photos']} photos",
            )
            for figure, name in MAP_FIGURES
        ),
        Condition("int8 passed the gate", int8_passed, "gate record beside the candidate"),
        Condition(
            f"cost at most {MAX_MAPS_COST}x", ratio <= MAX_MAPS_COST, f"int8 forward {ratio:.2f}x the shipped one's"
        ),
    ]


def _interval(bounds: list[float], scale: float = 1.0) -> str:
    return f"[{bounds[0] * scale:+.3f}, {bounds[1] * scale:+.3f}]"


def decide(report: Path) -> Decision:
    """The rule on a candidate report's folder (the maps rule where it holds ``localization.json``); the gate
    record is read beside the weights versus.json names."""
    versus = json.loads((report / "versus.json").read_text())
    cost = json.loads((report / "cost.json").read_text())
    record = load_gate_record(Path(versus["new"]["weights"]))
    int8_passed = record is not None and record.passed("openvino", "int8")
    maps = report / "localization.json"
    held = (
        map_conditions(versus, json.loads(maps.read_text()), cost, int8_passed)
        if maps.is_file()
        else conditions(versus, cost, int8_passed)
    )
    return Decision(tuple(held), versus["old"]["version"], versus["new"]["version"])
