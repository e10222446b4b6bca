"""scripts/candidate_report.sh on a 32 px resnet34 and the synthetic photos: every step leaves its file, the
copy beside them is calibrated and quantised, and a rerun repeats nothing. The localization step scores three
tiny annotated photos. About a minute on 2 cores."""

import json
import os
import subprocess
import sys
from pathlib import Path

from camserve.models.metadata import load_metadata
from tests.support.annotated import write_annotated_folder

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "candidate_report.sh"
JSON_STEPS = ("val-uncalibrated", "calibration", "val", "fullres", "val-tta", "fullres-zoom", "gate")


def run_report(checkpoint: Path, out: Path, photos: Path, dev: Path) -> subprocess.CompletedProcess[str]:
    """The report, with the candidate's own copy standing in for the shipped model: it records the same
    split (camserve release versus needs one), and its int8 graph exists by the time the comparisons run."""
    shipped = out / checkpoint.name
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "SIZE_ROUNDS": "1",
        "COST_ROUNDS": "1",
        "SHIPPED": str(shipped),
        "DEV": str(dev),
    }
    command = [str(SCRIPT), str(checkpoint), str(out), str(photos), str(photos)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_every_step_once_then_nothing_again(checkpoint_with_split: Path, image_folder: Path, tmp_path: Path) -> None:
    out, dev = tmp_path / "report", write_annotated_folder(tmp_path / "dev")
    done = run_report(checkpoint_with_split, out, image_folder, dev)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    reports = {step: json.loads((out / f"{step}.json").read_text()) for step in JSON_STEPS}
    assert reports["val"]["accuracy"] == reports["val-uncalibrated"]["accuracy"]  # temperature moves no label
    assert reports["calibration"]["temperature"] > 0
    assert json.loads((out / "sizes.json").read_text())["sizes"].keys() == {"144", "176", "224"}
    cost = json.loads((out / "cost.json").read_text())["graphs"]
    assert cost.keys() == {"shipped-int8", "candidate-int8", "candidate-fp32"}
    assert json.loads((out / "versus.json").read_text())["validation"]["answers_fixed"] == 0
    localization = json.loads((out / "localization.json").read_text())
    assert localization["photos"] == 3 and localization["old"]["kinds"] == localization["new"]["kinds"]
    # Against itself, no map is measurably better, so the rule (on maps, since there are annotations) says no.
    decision = (out / "decision.txt").read_text()
    assert "FAILED head pointing measurably higher" in decision and "does not replace" in decision
    copy = out / "tiny.safetensors"
    assert load_metadata(copy).temperature == reports["calibration"]["temperature"]
    assert copy.with_suffix(".int8.xml").is_file() and copy.with_suffix(".gate.json").is_file()
    assert not list(out.glob("*.partial"))

    stamps = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    again = run_report(checkpoint_with_split, out, image_folder, dev)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("have ") == len(JSON_STEPS) + 5  # and sizes, versus, cost, localization, decision
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == stamps
