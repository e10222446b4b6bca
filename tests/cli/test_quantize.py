"""``camserve quantize``: the int8 graph and the gate record beside the weights, served only as the record says."""

import json
from pathlib import Path

import pytest

from camserve.cli import main
from camserve.models.dataset import Split, scan_image_folder
from camserve.models.evaluation.gate import gate_record_path, int8_files, load_gate_record
from camserve.models.runtimes import RuntimeRequest
from camserve.models.runtimes.openvino import load
from tests.support.networks import write_tiny_checkpoint


def test_quantize_writes_the_graph_and_the_gate_record(
    checkpoint_with_split: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["quantize", "--data", str(image_folder), "--weights", str(checkpoint_with_split)]
    status = main([*args, "--fullres", str(image_folder), "--calibration-photos", "8", "--json"])
    figures = json.loads(capsys.readouterr().out)

    files = int8_files(checkpoint_with_split)
    assert files.xml.exists() and files.bin.exists()
    record = load_gate_record(checkpoint_with_split)
    assert record is not None
    assert record.artifacts["openvino:int8"] == files.sha256()
    validation = record.results["openvino:int8"]["validation"]
    split = json.loads(checkpoint_with_split.with_suffix(".json").read_text())["extra"]["split"]
    assert validation.photos == split["val_photos"]
    assert record.results["openvino:int8"]["full_resolution"].photos == len(scan_image_folder(image_folder).files)
    assert figures["openvino:int8"]["validation"]["label_agreement"] == validation.label_agreement
    assert record.measured["calibration"] == {"photos": 8, "from": "training split", "seed": 0}
    # 8 training photos calibrate; all the others are the accuracy control's.
    control = record.measured["accuracy_control"]
    assert (control["photos"], control["max_drop"]) == (split["train_photos"] - 8, 0.005)
    # The exit status is the gate's verdict, and serving follows the same record.
    assert status == (0 if record.passed("openvino", "int8") else 1)
    request = RuntimeRequest(checkpoint_with_split, precision="int8", cache_dir=checkpoint_with_split.parent)
    if status == 0:
        assert load(request).precision == "int8"
    else:
        with pytest.raises(RuntimeError, match="failed the accuracy gate"):
            load(request)


def test_no_control_photos_quantise_everything(
    checkpoint_with_split: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["quantize", "--data", str(image_folder), "--weights", str(checkpoint_with_split), "--json"]
    main([*args, "--calibration-photos", "8", "--control-photos", "0"])
    record = load_gate_record(checkpoint_with_split)
    assert record is not None
    assert record.measured["accuracy_control"]["photos"] == 0
    assert record.measured["accuracy_control"]["max_drop"] is None


def test_quantize_refuses_photos_that_are_not_the_recorded_split(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    split = Split(0.5, seed=0).describe(scan_image_folder(image_folder))
    weights = write_tiny_checkpoint(tmp_path / "tiny.safetensors", extra={"split": split})
    other = tmp_path / "other"
    for name in ("cat", "dog"):
        (other / name).mkdir(parents=True)
        (other / name / "x.jpg").write_bytes(b"")
    assert main(["quantize", "--data", str(other), "--weights", str(weights)]) == 2
    assert "not the ones the checkpoint recorded" in capsys.readouterr().err
    assert not int8_files(weights).xml.exists() and not gate_record_path(weights).exists()
