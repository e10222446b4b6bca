"""``camserve evaluate --localization``: every map kind on the tiny checkpoint, its three files, and the
refusals (an unknown kind, another mode beside it)."""

import json
from pathlib import Path

import pytest

from camserve.cli import main
from camserve.models.evaluation.localization_kinds import KINDS
from tests.support.annotated import write_annotated_folder
from tests.support.networks import write_tiny_checkpoint


@pytest.fixture
def tiny_resnet(tiny_architecture: str, tmp_path: Path) -> Path:
    """The smallest CAM network with weights, so Grad-CAM has gradients and the test stays quick."""
    return write_tiny_checkpoint(tmp_path / "tiny-resnet.safetensors", architecture=tiny_architecture)


def test_every_kind_writes_the_report_table_and_sheet(
    tiny_resnet: Path, cpu_fp32: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = write_annotated_folder(tmp_path / "photos"), tmp_path / "out"
    args = ["evaluate", "--localization", "--data", str(data), "--weights", str(tiny_resnet), "--json"]
    assert main([*args, "--localization-output", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["kinds"]) == list(KINDS) and "per_photo" not in printed
    report = json.loads((out / "localization.json").read_text())
    assert (report["runtime"], report["input_size"], report["photos"]) == ("torch", 32, 3)
    for kind, figures in report["kinds"].items():
        assert all(0.0 <= figures[f] <= 1.0 for f in ("pointing", "head_pointing", "energy", "iou")), kind
    assert len(report["per_photo"]) == 3 and (out / "worst-misses.png").is_file()
    assert "kind - cam" in (out / "localization.txt").read_text()


def test_the_annotations_can_live_elsewhere_and_kinds_be_chosen(
    tiny_resnet: Path, cpu_fp32: None, tmp_path: Path
) -> None:
    data, out = write_annotated_folder(tmp_path / "photos"), tmp_path / "out"
    annotations = (data / "annotations.json").rename(tmp_path / "outlines.json")
    args = ["evaluate", "--localization", "--data", str(data), "--weights", str(tiny_resnet)]
    assert (
        main([*args, "--annotations", str(annotations), "--kinds", "blob,flat", "--localization-output", str(out)]) == 0
    )
    report = json.loads((out / "localization.json").read_text())
    assert list(report["kinds"]) == ["blob", "flat"] and "worst_misses" not in report


def test_unknown_kinds_and_mixed_modes_are_refused(
    tiny_resnet: Path, cpu_fp32: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "--localization", "--data", str(tmp_path), "--weights", str(tiny_resnet)]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--kinds", "cam,saliency"])
    assert exited.value.code == 2 and "unknown map kinds ['saliency']" in capsys.readouterr().err
    assert main([*args, "--tta"]) == 2
    assert "--localization is scored on its own" in capsys.readouterr().err
