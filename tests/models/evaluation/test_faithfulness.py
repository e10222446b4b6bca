"""Faithfulness of the heatmaps: the curves' arithmetic, a model whose map is known, and the command."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camserve.cli import main
from camserve.models.checkpoint import load_checkpoint
from camserve.models.dataset import scan_image_folder
from camserve.models.evaluation.faithfulness import (
    METHODS,
    STEPS,
    Explainers,
    Photos,
    area,
    curve_inputs,
    load_photos,
    randomisation_stages,
    sanity_check,
    score_methods,
)
from camserve.models.inference.preprocess import standardise
from camserve.models.metadata import ModelMetadata
from camserve.models.runtimes.torch import TorchPredictor
from tests.support.networks import TINY_INPUT

FLAT = ModelMetadata("m", "1", "resnet34", ("a", "b"), 32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def test_curves_remove_and_add_the_most_salient_pixels_first() -> None:
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 32, 32)).astype(np.float32)
    saliency = np.zeros((32, 32), np.float32)
    saliency[5, 7] = 1.0  # one pixel stands out: it goes first
    deletion, insertion = curve_inputs(pixels, saliency, FLAT)
    assert deletion.shape == insertion.shape == (STEPS + 1, 3, 32, 32)
    np.testing.assert_allclose(deletion[0], standardise(pixels, FLAT), atol=1e-5)
    np.testing.assert_allclose(deletion[-1], 0.0, atol=1e-5)  # every pixel at the mean colour
    np.testing.assert_allclose(insertion[-1], standardise(pixels, FLAT), atol=1e-5)
    np.testing.assert_allclose(deletion[1][:, 5, 7], 0.0, atol=1e-5)
    np.testing.assert_allclose(insertion[1][:, 5, 7], standardise(pixels, FLAT)[:, 5, 7], atol=1e-5)
    assert not np.allclose(insertion[0], standardise(pixels, FLAT))  # insertion starts from a blurred photo


def test_area_under_a_curve() -> None:
    assert area(np.ones(STEPS + 1)) == pytest.approx(1.0)
    assert area(np.linspace(1.0, 0.0, STEPS + 1)) == pytest.approx(0.5)


def red_patch_folder(root: Path, count: int = 6) -> Path:
    """White photos with a red square somewhere: the red-patch model's map fires exactly there."""
    rng = np.random.default_rng(0)
    for name in ("red", "other"):
        (root / name).mkdir(parents=True)
    for index in range(count):
        pixels = np.full((TINY_INPUT, TINY_INPUT, 3), 255, np.uint8)
        top, left = rng.integers(0, TINY_INPUT - 16, size=2)
        pixels[top : top + 16, left : left + 16] = (255, 0, 0)
        Image.fromarray(pixels).save(root / "red" / f"{index}.png")
    return root


def test_a_map_that_knows_where_the_evidence_is_beats_the_baselines(
    red_patch_predictor: TorchPredictor, tmp_path: Path
) -> None:
    folder = scan_image_folder(red_patch_folder(tmp_path / "photos"), ("red", "other"))
    photos = load_photos(folder, range(len(folder.files)), red_patch_predictor, 10**7)
    assert (photos.targets == 0).all()
    explainers = Explainers(red_patch_predictor.model, red_patch_predictor.metadata)
    scores = score_methods(photos, explainers, red_patch_predictor, methods=("cam", "random", "centre"))
    for baseline in ("random", "centre"):
        assert scores["cam"]["deletion_auc"] < scores[baseline]["deletion_auc"]
        assert scores["cam"]["insertion_auc"] > scores[baseline]["insertion_auc"]
    assert len(scores["cam"]["deletion_curve"]) == STEPS + 1


def test_the_squared_cam_keeps_the_cams_curves_and_the_contrastive_map_still_finds_the_patch(
    red_patch_predictor: TorchPredictor, tmp_path: Path
) -> None:
    folder = scan_image_folder(red_patch_folder(tmp_path / "photos"), ("red", "other"))
    photos = load_photos(folder, range(len(folder.files)), red_patch_predictor, 10**7)
    explainers = Explainers(red_patch_predictor.model, red_patch_predictor.metadata)
    methods = ("cam", "squared", "contrastive", "centre")
    scores = score_methods(photos, explainers, red_patch_predictor, methods=methods)
    for curve in ("deletion_curve", "insertion_curve"):  # the same pixels in the same order
        assert scores["squared"][curve] == scores["cam"][curve]
    assert scores["contrastive"]["deletion_auc"] < scores["centre"]["deletion_auc"]
    np.testing.assert_allclose(
        explainers("squared", photos.inputs, photos.targets), explainers("cam", photos.inputs, photos.targets) ** 2
    )


def test_the_sanity_check_randomises_weighted_layers_from_the_top(tiny_checkpoint: Path, tmp_path: Path) -> None:
    network, metadata = load_checkpoint(tiny_checkpoint)
    stages = [name for name, _ in randomisation_stages(network)]
    assert stages[0] == "class_maps" and stages[1] == "body.7"  # resnet34's layer4
    assert "body.2" not in stages  # the ReLU has no weights
    before = {name: tensor.clone() for name, tensor in network.state_dict().items()}
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 3, 32, 32)).astype(np.float32)
    photos = Photos(pixels, standardise(pixels, metadata), np.zeros(2, int), np.ones(2))
    report = sanity_check(network, photos, metadata)
    assert [stage["randomised_through"] for stage in report["stages"]] == stages
    assert all(-1.0 <= stage["cam"] <= 1.0 for stage in report["stages"])
    for name, tensor in network.state_dict().items():  # the caller's network is left trained
        assert (tensor == before[name]).all(), name


def test_evaluate_maps_writes_the_table_json_and_curves(
    tiny_checkpoint: Path, image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "faith"
    args = ["evaluate", "--maps", "--data", str(image_folder), "--weights", str(tiny_checkpoint)]
    assert main([*args, "--limit", "4", "--sanity-photos", "2", "--maps-output", str(out)]) == 0
    report = json.loads((out / "faithfulness.json").read_text())
    assert report["photos"] == 4
    assert set(report["methods"]) == set(METHODS)
    assert {"serving_forward", "gradcam_pytorch", "gradcam++_pytorch"} <= set(report["cost_ms_per_photo"])
    assert Image.open(out / "faithfulness.png").format == "PNG"
    assert "deletion" in capsys.readouterr().out
