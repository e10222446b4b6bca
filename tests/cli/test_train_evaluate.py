"""``camserve train`` and ``camserve evaluate``: reports, fast failures with advice, argument checks."""

import json
import shutil
from pathlib import Path
from urllib.error import URLError

import pytest

from camserve.cli import build_parser, main
from camserve.models.checkpoint import load_checkpoint
from camserve.models.network import CamNetwork, build_network
from tests.support.networks import write_red_patch_checkpoint
from tests.support.photos import SYNTHETIC_PER_CLASS, write_image_folder, write_patch_folder


@pytest.fixture
def photos_with_a_broken_one(image_folder: Path, tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    shutil.copytree(image_folder, root)
    (root / "dog" / "zz-broken.jpg").write_bytes(b"\xff\xd8\xff truncated")
    return root


def test_evaluate_json_report(
    tiny_checkpoint: Path, photos_with_a_broken_one: Path, cpu_fp32: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON has the run's settings, the metrics, and the unreadable photo, which is not counted."""
    args = ["evaluate", "--data", str(photos_with_a_broken_one), "--weights", str(tiny_checkpoint), "--json"]
    assert main(args) == 1  # like predict: an unreadable photo is a failure the caller should see
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "weights",
        "data",
        "split",
        "tta",
        "zoom",
        "input_size",
        "precision",
        "photos",
        "accuracy",
        "log_loss",
        "per_class",
        "confusion",
        "unreadable",
    }
    assert report["weights"] == str(tiny_checkpoint)
    assert (report["split"], report["tta"], report["input_size"], report["precision"]) == ("all", False, 32, "fp32")
    assert report["photos"] == 2 * SYNTHETIC_PER_CLASS
    assert sum(map(sum, report["confusion"]["counts"])) == 2 * SYNTHETIC_PER_CLASS
    assert set(report["per_class"]) == {"cat", "dog"}
    (unreadable,) = report["unreadable"]
    assert unreadable["photo"] == "dog/zz-broken.jpg"
    assert unreadable["error"]


def test_evaluate_text_report_with_weights_from_the_environment_and_input_size(
    tiny_checkpoint: Path,
    image_folder: Path,
    cpu_fp32: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--input-size overrides the checkpoint's size (to compare sizes); weights come from CAMSERVE_WEIGHTS_PATH."""
    monkeypatch.setenv("CAMSERVE_WEIGHTS_PATH", str(tiny_checkpoint))
    assert main(["evaluate", "--data", str(image_folder), "--input-size", "48", "--tta"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{image_folder} (all, tta on, zoom off, fp32, 48 px)"
    assert f"photos    {2 * SYNTHETIC_PER_CLASS}" in out
    assert "confusion (rows: true, columns: predicted)" in out


def test_evaluate_zoom_reports_its_effect(tmp_path: Path, cpu_fp32: None, capsys: pytest.CaptureFixture[str]) -> None:
    """The red-patch model on small patches: the patch photos are zoomed (the crop is all red, so the answer is
    surer), the plain ones are not; the scores without zoom are the plain run's."""
    weights = str(write_red_patch_checkpoint(tmp_path / "red.safetensors"))
    photos = str(write_patch_folder(tmp_path / "photos"))
    assert main(["evaluate", "--data", photos, "--weights", weights, "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--data", photos, "--weights", weights, "--json", "--zoom", "--batch-size", "4"]) == 0
    zoomed = json.loads(capsys.readouterr().out)
    assert (plain["zoom"], zoomed["zoom"]) == (False, True)
    assert "zoom_effect" not in plain
    effect = zoomed["zoom_effect"]
    assert (effect["photos_zoomed"], effect["fraction_zoomed"]) == (3, 0.5)
    assert effect["without_zoom"]["accuracy"] == plain["accuracy"]
    assert effect["without_zoom"]["log_loss"] == pytest.approx(plain["log_loss"], abs=1e-6)
    assert zoomed["log_loss"] < plain["log_loss"]
    assert set(effect["rule"]) == {"threshold", "max_area", "margin", "max_upscale", "combine", "crop_weight"}
    assert main(["evaluate", "--data", photos, "--weights", weights, "--zoom"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{photos} (all, tta off, zoom on, fp32, 64 px)"
    assert "zoomed    3 photos (50.0%)" in out


@pytest.mark.parametrize("other", ["--tta", "--maps"])
def test_evaluate_zoom_is_scored_on_its_own(
    tiny_checkpoint: Path, image_folder: Path, cpu_fp32: None, other: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "--data", str(image_folder), "--weights", str(tiny_checkpoint), "--zoom", other]
    assert main(args) == 2
    assert "--zoom is scored on its own" in capsys.readouterr().err


def test_evaluate_rejects_a_too_small_input_size(
    tiny_checkpoint: Path, image_folder: Path, cpu_fp32: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --input-size is a one-line error with exit code 2, not a traceback."""
    args = ["evaluate", "--data", str(image_folder), "--weights", str(tiny_checkpoint), "--input-size", "16"]
    assert main(args) == 2
    assert "input_size must be at least 32" in capsys.readouterr().err


def test_evaluate_val_split_needs_a_recorded_split(
    tiny_checkpoint: Path, image_folder: Path, cpu_fp32: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint that records no split cannot tell its validation photos: exit 2 and say what to use."""
    args = ["evaluate", "--data", str(image_folder), "--weights", str(tiny_checkpoint), "--split", "val"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "records no training split" in captured.err


def test_evaluate_refuses_a_folder_without_the_models_classes(
    tiny_checkpoint: Path, tmp_path: Path, cpu_fp32: None, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_image_folder(tmp_path / "birds", {"cat": (1, 2, 3), "bird": (3, 2, 1)}, per_class=1)
    assert main(["evaluate", "--data", str(root), "--weights", str(tiny_checkpoint)]) == 2
    assert "expected a sub-folder per class ['cat', 'dog']" in capsys.readouterr().err


def test_train_then_evaluate_its_validation_split(
    image_folder: Path,
    tmp_path: Path,
    cpu_fp32: None,
    tiny_architecture: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The README's loop end to end: train, then score the checkpoint on exactly the photos it never trained on.

    A tiny resnet-shaped body (registered by the tests) keeps one epoch to a moment.
    """
    run_dir = tmp_path / "run"
    train = ["train", "--data", str(image_folder), "--run-dir", str(run_dir), "--cache-dir", str(tmp_path / "cache")]
    train += ["--architecture", tiny_architecture, "--model-version", "3.1.4"]
    train += ["--teacher", "none", "--sizes", "32", "--input-size", "32", "--batch-size", "4", "--val-fraction", "0.25"]
    train += ["--cache-size", "40"]
    assert main(train) == 0
    best = run_dir / "best.safetensors"
    assert f"best checkpoint: {best}" in capsys.readouterr().out
    _, metadata = load_checkpoint(best)
    assert metadata.trained
    assert metadata.version == "3.1.4"
    assert str(tmp_path) not in best.with_suffix(".json").read_text()  # no paths of the training machine
    assert metadata.extra["training"]["config"]["sizes"] == [32]
    assert metadata.extra["training"]["config"]["cache_size"] == 40
    assert metadata.extra["training"]["config"]["regularisation"] == {  # off unless asked for: the 2.0.0 recipe
        "mixup_alpha": 0.0,
        "cutmix_alpha": 0.0,
        "ema_decay": 0.0,
        "stochastic_depth": 0.0,
    }

    assert main(["evaluate", "--data", str(image_folder), "--weights", str(best), "--split", "val", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "val"
    assert report["photos"] == metadata.extra["split"]["val_photos"]
    assert 0 < report["photos"] < 2 * SYNTHETIC_PER_CLASS


def test_train_imagenet_offline_fails_fast_with_advice(
    image_folder: Path,
    tmp_path: Path,
    cpu_fp32: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No internet: exit 2 and point to --init scratch, before any photo is decoded."""
    from camserve.models.training import init

    def offline(architecture: str, num_classes: int, pretrained: bool = False) -> CamNetwork:
        if pretrained:
            raise URLError("[Errno -3] Temporary failure in name resolution")
        return build_network(architecture, num_classes)

    monkeypatch.setattr(init, "build_network", offline)
    cache = tmp_path / "cache"
    args = ["train", "--data", str(image_folder), "--run-dir", str(tmp_path / "run"), "--cache-dir", str(cache)]
    assert main([*args, "--init", "imagenet", "--teacher", "none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("camserve train: error: ")
    assert "--init scratch" in err
    assert not cache.exists()


def test_train_missing_data_folder(tmp_path: Path, cpu_fp32: None, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--data", str(tmp_path / "absent"), "--run-dir", str(tmp_path / "run"), "--teacher", "none"]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("sizes", ["abc", "64,x", "16", ""])
def test_train_rejects_bad_sizes(sizes: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--sizes is checked by argparse: usage error (exit 2) naming the option, before anything runs."""
    with pytest.raises(SystemExit) as exited:
        main(["train", "--data", str(tmp_path), "--sizes", sizes])
    assert exited.value.code == 2
    assert "--sizes" in capsys.readouterr().err


def test_train_regularisers_reach_the_recipe(
    image_folder: Path, tmp_path: Path, cpu_fp32: None, tiny_architecture: str
) -> None:
    """Each ablation switch on the command line lands in the run's recipe, as the checkpoint records it."""
    train = ["train", "--data", str(image_folder), "--run-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path)]
    train += ["--architecture", tiny_architecture, "--teacher", "none", "--sizes", "32", "--input-size", "32"]
    train += ["--batch-size", "4", "--val-fraction", "0.25", "--cache-size", "40", "--label-smoothing", "0"]
    train += ["--mixup-alpha", "0.2", "--cutmix-alpha", "1", "--ema-decay", "0.99", "--stochastic-depth", "0.1"]
    assert main(train) == 0
    _, metadata = load_checkpoint(tmp_path / "run" / "best.safetensors")
    recipe = metadata.extra["training"]["config"]
    assert recipe["regularisation"] == {
        "mixup_alpha": 0.2,
        "cutmix_alpha": 1.0,
        "ema_decay": 0.99,
        "stochastic_depth": 0.1,
    }
    assert recipe["loss"]["label_smoothing"] == 0.0


@pytest.mark.parametrize("option", ["--ema-decay=1", "--stochastic-depth=-0.1", "--label-smoothing=1.5"])
def test_train_rejects_out_of_range_regularisers(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--data", str(tmp_path), option])
    assert exited.value.code == 2
    assert option.split("=")[0] in capsys.readouterr().err


def test_train_sizes_are_parsed_per_epoch() -> None:
    args = build_parser().parse_args(["train", "--data", "d", "--sizes", "32,48,64"])
    assert args.sizes == [32, 48, 64]
