"""Whether a candidate replaces the shipped checkpoint, by the release rule, from its report's measurements.

    python scripts/ship_decision.py OUT

OUT is a ``scripts/candidate_report.sh`` folder: ``versus.json`` (``bench/versus.py``, the shipped checkpoint
against the candidate on the same photos, paired bootstrap intervals), ``cost.json`` (``bench/graphs.py``,
both int8 forwards timed in turns) and the gate record beside the candidate's weights. The rule, fixed
before any candidate's figures are read, ship only if all hold:

1. accuracy is not lower, on the validation split and on the full-resolution stand-ins;
2. log loss is measurably lower on both (the 95% interval of the difference lies below zero);
3. int8 passed the accuracy gate, so the candidate serves at the shipped model's precision;
4. its int8 forward costs at most ``MAX_FREE_COST`` times the shipped one's per photo in a batch of 8, or
   it is measurably more accurate on both sets (the interval lies above zero).

Prints each condition with its figures; exit status 0 to ship, 1 not to.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camserve.models.evaluation.gate import load_gate_record

MAX_FREE_COST = 1.25
SETS = ("validation", "full_resolution")
COST_BATCH = "8"


@dataclass(frozen=True)
class Condition:
    name: str
    held: bool
    figures: str


def conditions(versus: dict[str, Any], cost: dict[str, Any], int8_passed: bool) -> list[Condition]:
    """The rule's four conditions on a report's measurements."""
    gains = {name: versus[name]["new"]["accuracy"] - versus[name]["old"]["accuracy"] for name in SETS}
    measurable = all(versus[name]["accuracy_difference_95"][0] > 0 for name in SETS)
    ratio = cost["graphs"]["candidate-int8"][COST_BATCH]["ratio_to_first"]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a candidate_report.sh folder")
    args = parser.parse_args()
    versus = json.loads((args.report / "versus.json").read_text())
    cost = json.loads((args.report / "cost.json").read_text())
    record = load_gate_record(Path(versus["new"]["weights"]))
    rule = conditions(versus, cost, record is not None and record.passed("openvino", "int8"))
    for condition in rule:
        print(f"{'held' if condition.held else 'FAILED':<7}{condition.name}: {condition.figures}")
    ship = all(condition.held for condition in rule)
    print(f"{versus['new']['version']} {'replaces' if ship else 'does not replace'} {versus['old']['version']}")
    return 0 if ship else 1


if __name__ == "__main__":
    sys.exit(main())
