"""Whether a candidate replaces the shipped checkpoint, by the release rule, from its report's measurements.

The rule was fixed before any candidate's figures were read. Ship only if all hold:

1. accuracy is not lower, on the validation split and on the full-resolution stand-ins;
2. log loss is measurably lower on both (the 95% interval of the difference lies below zero);
3. int8 passed the accuracy gate, so the candidate serves at the shipped model's precision;
4. its int8 forward costs at most ``MAX_FREE_COST`` times the shipped one's per photo in a batch of 8, or
   it is measurably more accurate on both sets (the interval lies above zero).

It reads a candidate report's folder: ``versus.json`` (``versus``: the shipped checkpoint against the
candidate on the same photos), ``cost.json`` (``graph_timing``: both int8 forwards timed in turns, the
candidate's graph named ``candidate-int8``) and the gate record beside the candidate's weights.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camserve.models.evaluation.gate import load_gate_record

__all__ = ["CANDIDATE_GRAPH", "COST_BATCH", "MAX_FREE_COST", "SETS", "Condition", "Decision", "conditions", "decide"]

MAX_FREE_COST = 1.25
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


def conditions(versus: dict[str, Any], cost: dict[str, Any], int8_passed: bool) -> list[Condition]:
    """The rule's four conditions on a report's measurements."""
    gains = {name: versus[name]["new"]["accuracy"] - versus[name]["old"]["accuracy"] for name in SETS}
    measurable = all(versus[name]["accuracy_difference_95"][0] > 0 for name in SETS)
    ratio = cost["graphs"][CANDIDATE_GRAPH][COST_BATCH]["ratio_to_first"]
    return [
        Condition(
            "accuracy not lower",
            all(gain >= 0 for gain in gains.values()),
            ", ".join(
                f"{name} {gain * 100:+.2f} points {_interval(versus[name]['accuracy_difference_95'], 100)}"
                for name, gain in gains.items()
            ),
        ),
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


def _interval(bounds: list[float], scale: float = 1.0) -> str:
    return f"[{bounds[0] * scale:+.3f}, {bounds[1] * scale:+.3f}]"


def decide(report: Path) -> Decision:
    """The rule on a candidate report's folder; the gate record is read beside the weights versus.json names."""
    versus = json.loads((report / "versus.json").read_text())
    cost = json.loads((report / "cost.json").read_text())
    record = load_gate_record(Path(versus["new"]["weights"]))
    int8_passed = record is not None and record.passed("openvino", "int8")
    return Decision(tuple(conditions(versus, cost, int8_passed)), versus["old"]["version"], versus["new"]["version"])
