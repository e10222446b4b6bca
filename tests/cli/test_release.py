"""``camserve release``: each measurement writes its JSON with the machine it ran on, refuses bad input with
one clear line, and ``decide`` answers through its exit status."""

import json
from pathlib import Path

import pytest

from camserve.cli import main
from tests.support.annotated import write_annotated_folder


def test_versus_a_checkpoint_against_itself_changes_nothing(
    checkpoint_with_split: Path, image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "versus.json"
    photos, weights = str(image_folder), str(checkpoint_with_split)
    args = ["release", "versus", weights, weights, "--data", photos, "--fullres", photos, "--output", str(output)]
    assert main(args) == 0
    versus = json.loads(output.read_text())
    assert versus["old"] == versus["new"] == {"weights": weights, "version": "test", "input_size": 32}
    for name in ("validation", "full_resolution"):
        assert versus[name]["old"] == versus[name]["new"]
        assert (versus[name]["answers_fixed"], versus[name]["answers_broken"]) == (0, 0)
        assert versus[name]["log_loss_difference_95"] == [0.0, 0.0]
    assert versus["full_resolution"]["photos"] > versus["validation"]["photos"]
    assert "load_average_1m" in versus["machine"] and versus["measured_at"]
    assert f"wrote {output}" in capsys.readouterr().out


def test_localization_of_a_checkpoint_against_itself_differs_by_nothing(tiny_checkpoint: Path, tmp_path: Path) -> None:
    data, output = write_annotated_folder(tmp_path / "photos"), tmp_path / "localization.json"
    weights = str(tiny_checkpoint)
    assert main(["release", "localization", weights, weights, "--data", str(data), "--output", str(output)]) == 0
    compared = json.loads(output.read_text())
    assert compared["photos"] == 3 and compared["old"]["kinds"] == compared["new"]["kinds"]
    assert list(compared["old"]["kinds"]) == ["cam"]
    assert compared["differences"]["cam"] == {
        f"{figure}_difference_95": [0.0, 0.0] for figure in ("pointing", "head_pointing", "energy", "iou")
    }


@pytest.fixture
def served_tiny(checkpoint_with_split: Path, cpu_fp32: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The measurements of the served checkpoint take it from CAMSERVE_WEIGHTS_PATH."""
    monkeypatch.setenv("CAMSERVE_WEIGHTS_PATH", str(checkpoint_with_split))


def test_sizes_scores_and_times_every_size(served_tiny: None, image_folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "sizes.json"
    photos = str(image_folder)
    args = ["release", "sizes", "--data", photos, "--fullres", photos, "--sizes", "32", "48", "--rounds", "1"]
    assert main([*args, "--cost-photos", "1", "--output", str(output)]) == 0
    sizes = json.loads(output.read_text())
    assert sizes["served"] == {"runtime": "torch", "precision": "fp32", "trained_size": 32}
    assert sizes["sizes"].keys() == {"32", "48"}
    assert sizes["sizes"]["48"].keys() == {"validation", "full_resolution", "cost"}
    assert "forward_8_ms_per_photo" in sizes["sizes"]["48"]["cost"]


def test_tta_without_fullres_scores_the_validation_photos(
    served_tiny: None, image_folder: Path, tmp_path: Path
) -> None:
    output = tmp_path / "tta.json"
    assert main(["release", "tta", "--data", str(image_folder), "--rounds", "1", "--output", str(output)]) == 0
    tta = json.loads(output.read_text())
    assert "full_resolution" not in tta
    assert tta["validation"].keys() == {"photos", "plain", "mirror_tta"}
    assert tta["cost"].keys() == {"one_view_ms", "two_views_ms"}


def test_a_graph_without_a_precision_is_one_clear_line(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cost.json"
    assert main(["release", "graphs", "--graph", f"a={tiny_checkpoint}", "--output", str(output)]) == 2
    assert "camserve release graphs: error: expected NAME=CHECKPOINT:PRECISION" in capsys.readouterr().err
    assert not output.exists()


def test_decide_says_no_with_exit_status_1_and_refuses_an_incomplete_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_set = {
        "old": {"accuracy": 0.9},
        "new": {"accuracy": 0.95},
        "accuracy_difference_95": [0.01, 0.09],
        "log_loss_difference_95": [-0.2, -0.1],
    }
    versus = {
        "old": {"version": "1.0.0"},
        "new": {"version": "1.1.0", "weights": str(tmp_path / "candidate.safetensors")},
        "validation": one_set,
        "full_resolution": one_set,
    }
    (tmp_path / "versus.json").write_text(json.dumps(versus))
    assert main(["release", "decide", str(tmp_path)]) == 2
    assert "is not a complete report" in capsys.readouterr().err
    (tmp_path / "cost.json").write_text(json.dumps({"graphs": {"candidate-int8": {"8": {"ratio_to_first": 1.0}}}}))
    assert main(["release", "decide", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED int8 passed the gate" in out and out.endswith("1.1.0 does not replace 1.0.0\n")
