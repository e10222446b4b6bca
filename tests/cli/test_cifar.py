"""``camserve cifar``: the ablation table end to end on a tiny archive, a resumed train that only reads its
result, the test-set evaluation with and without TTA, and the trained checkpoint served through the same
class maps -> CAM -> overlay path as resnet34-CAM."""

import json
from pathlib import Path

import pytest
from PIL import Image

from camserve.cli import main
from camserve.models.cifar.ablation import TABLE_JSON, TABLE_MARKDOWN
from camserve.models.cifar.trainer import FINAL_FILE
from tests.support.photos import CHELSEA

pytest.importorskip("matplotlib")  # history.png


def test_table_evaluate_and_serve(
    cifar_archive: Path,
    tmp_path: Path,
    cpu_fp32: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, cache = tmp_path / "table", tmp_path / "cache"
    common = ["--archive", str(cifar_archive), "--cache-dir", str(cache)]
    networks = "lesson7-convnet2,lesson7-convbnnet"
    assert main(["cifar", "table", *common, "--out", str(out), "--networks", networks, "--epoch-fraction", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / TABLE_MARKDOWN).read_text()
    rows = [line for line in printed.splitlines() if line.startswith("| lesson7-")]
    assert [row.split(" | ")[0] for row in rows] == ["| lesson7-convnet2", "| lesson7-convbnnet"]
    # Ours (three classes: a head of 80 x 3 + 3 where the lesson's has 810), then the lesson's accuracy.
    assert "| 4 | 36,923 | 4x4 |" in rows[0] and "51.79%" in rows[0]
    assert "JPEG (quality 75)" in printed
    table = json.loads((out / TABLE_JSON).read_text())
    assert [row["architecture"] for row in table["rows"]] == networks.split(",")
    assert table["lesson"]["lesson7-convbnnet"]["accuracy"] == 0.68135

    weights = out / "lesson7-convbnnet" / FINAL_FILE
    # Training a finished run again trains nothing and reports the stored result.
    run = ["--run-dir", str(weights.parent), "--network", "lesson7-convbnnet"]
    assert main(["cifar", "train", *common, *run]) == 0
    result = json.loads(capsys.readouterr().out.split("\ncheckpoint: ")[0])
    assert result == table["rows"][1]

    for tta in ([], ["--tta"]):
        assert main(["cifar", "evaluate", *common, "--weights", str(weights), "--json", *tta]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["tta"] is bool(tta) and report["test_images"] == 12
    assert report["accuracy"] == result["tta_accuracy"]

    monkeypatch.setenv("CAMSERVE_WEIGHTS_PATH", str(weights))
    assert main(["predict", str(CHELSEA), "--json", "--overlay-dir", str(tmp_path / "overlays")]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert prediction["label"] in {"airplane", "bird", "cat"}
    assert Image.open(prediction["overlay"]).size == (451, 300)


def test_unknown_network_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["cifar", "train", "--network", "resnet34"])
    assert "invalid choice" in capsys.readouterr().err
