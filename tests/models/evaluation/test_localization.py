"""The localization benchmark on photos whose answer is known: the red-patch model's maps find the red
'animal' in every photo, the centred blob and the flat map find none, and the report says so with intervals."""

import json
from pathlib import Path

import pytest
from PIL import Image

from camserve.models.evaluation.localization import compare, localize, worst_misses
from camserve.models.evaluation.localization_benchmark import REPORT, SHEET, TABLE, run_benchmark
from camserve.models.evaluation.localization_data import load_annotations
from camserve.models.evaluation.localization_kinds import KINDS, NETWORK_KINDS, MapMaker
from camserve.models.runtimes.torch import TorchPredictor
from tests.support.annotated import write_annotated_folder

# The red-patch body has no weights, so no gradient reaches its features: Grad-CAM kinds are tested on the
# tiny checkpoint through the command (tests/cli/test_localization.py).
RUNTIME_KINDS = tuple(kind for kind in KINDS if kind not in NETWORK_KINDS)


def test_every_runtime_kind_on_red_patches(red_patch_predictor: TorchPredictor, tmp_path: Path) -> None:
    data = write_annotated_folder(tmp_path / "photos")
    weights = tmp_path / "not-loaded.safetensors"  # no Grad-CAM kind: the PyTorch network is not loaded
    out = tmp_path / "out"
    summary = run_benchmark(red_patch_predictor, weights, data, data / "annotations.json", RUNTIME_KINDS, 10**7, out)

    kinds = summary["kinds"]
    assert list(kinds) == list(RUNTIME_KINDS) and (summary["photos"], summary["head_boxes"]) == (3, 3)
    for kind in ("cam", "contrastive", "multiscale", "bilinear", "zoom", "squared"):
        assert (kinds[kind]["pointing"], kinds[kind]["head_pointing"]) == (1.0, 1.0), kind
        assert kinds[kind]["energy"] > 0.5 > kinds["flat"]["energy"] > kinds["blob"]["energy"], kind  # off centre
    for kind in ("blob", "flat", "squared-blob"):
        assert (kinds[kind]["pointing"], kinds[kind]["head_pointing"]) == (0.0, 0.0), kind
    for squared, plain in (("squared", "cam"), ("squared-blob", "blob")):  # contrast moves energy, not the peak
        assert kinds[squared]["versus_cam"]["pointing"] == kinds[plain].get("versus_cam", {}).get("pointing", [0, 0])
        assert kinds[squared]["energy"] != kinds[plain]["energy"]
    assert kinds["cam"]["versus_blob"]["pointing"] == [1.0, 1.0]  # a hit on every photo, every resample
    assert kinds["blob"]["versus_cam"]["head_pointing"] == [-1.0, -1.0]
    assert kinds["flat"]["versus_blob"]["pointing"] == [0.0, 0.0]  # the same peak: the same tie rule
    assert "versus_cam" not in kinds["cam"]

    assert summary["worst_misses"] == []  # the served map missed nothing
    assert json.loads((out / REPORT).read_text())["per_photo"][0]["cam"]["pointing"] is True
    assert "kind - blob" in (out / TABLE).read_text()
    assert Image.open(out / SHEET).format == "PNG"


def test_the_worst_misses_are_off_the_animal_first(red_patch_predictor: TorchPredictor, tmp_path: Path) -> None:
    data = write_annotated_folder(tmp_path / "photos")
    photos = load_annotations(data / "annotations.json")
    localization = localize(MapMaker(red_patch_predictor, ["cam", "blob"], 10**7), photos, data)
    assert worst_misses(localization, "cam") == []
    assert sorted(worst_misses(localization, "blob")) == [0, 1, 2]
    better = compare(localization, localization, "cam")
    assert better == {f"{f}_difference_95": [0.0, 0.0] for f in ("pointing", "head_pointing", "energy", "iou")}


def test_a_photo_of_another_size_than_annotated_is_refused(red_patch_predictor: TorchPredictor, tmp_path: Path) -> None:
    data = write_annotated_folder(tmp_path / "photos")
    Image.new("RGB", (10, 10)).save(data / "red" / "side.png")
    photos = load_annotations(data / "annotations.json")
    with pytest.raises(ValueError, match=r"side\.png decodes to 10 x 10, annotated 96 x 128"):
        localize(MapMaker(red_patch_predictor, ["cam"], 10**7), photos, data)


def test_grad_cam_kinds_need_the_network(red_patch_predictor: TorchPredictor) -> None:
    with pytest.raises(ValueError, match="PyTorch network"):
        MapMaker(red_patch_predictor, ["gradcam"], 10**7)
    with pytest.raises(ValueError, match="unknown map kinds"):
        MapMaker(red_patch_predictor, ["cam", "saliency"], 10**7)
