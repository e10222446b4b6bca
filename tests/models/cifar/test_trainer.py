"""A lesson network trained with its recipe on a tiny archive: the run's files, a checkpoint the service
loads, and resuming after a kill as if never stopped."""

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from camserve.models.checkpoint import load_checkpoint
from camserve.models.cifar.archive import CIFAR10_MEAN
from camserve.models.cifar.trainer import FINAL_FILE, RESULT_FILE, CifarConfig, CifarTrainer
from camserve.models.training.history import read_history
from camserve.models.training.resumable import HISTORY_FILE, STATE_FILE

pytest.importorskip("matplotlib")  # history.png


@pytest.fixture
def config(cifar_archive: Path, tmp_path: Path) -> CifarConfig:
    """ConvBnNet2: BnLayers, and a recipe of two fits (2 constant epochs, then 2 one-epoch cosine cycles)."""
    return CifarConfig(
        archive=str(cifar_archive),
        run_dir=str(tmp_path / "run"),
        architecture="lesson7-convbnnet2",
        device="cpu",
        precision="fp32",
    )


def killed_at(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """The 0-based ``epoch`` is 'killed' (KeyboardInterrupt) before it trains."""
    original: Callable[[CifarTrainer, int, list[float]], tuple[float, float]] = CifarTrainer._train_epoch

    def spy(self: CifarTrainer, index: int, rates: list[float]) -> tuple[float, float]:
        if index == epoch:
            raise KeyboardInterrupt
        return original(self, index, rates)

    monkeypatch.setattr(CifarTrainer, "_train_epoch", spy)


def test_run_leaves_a_servable_checkpoint_history_and_result(config: CifarConfig, tmp_path: Path) -> None:
    trainer = CifarTrainer(config, tmp_path / "cache")
    result = trainer.run()
    run_dir = Path(config.run_dir)
    assert {p.name for p in run_dir.iterdir()} == {
        STATE_FILE,
        HISTORY_FILE,
        "history.png",
        FINAL_FILE,
        "final.json",
        RESULT_FILE,
    }
    history = read_history(run_dir / HISTORY_FILE)
    assert [(r["epoch"], r["fit"]) for r in history] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert json.loads((run_dir / RESULT_FILE).read_text()) == result
    assert result["epochs"] == 4 and result["steps_per_epoch"] == 1 and result["test_images"] == 12
    assert result["map_size"] == [2, 2]
    assert 0.0 <= result["tta_accuracy"] <= 1.0 and result["tta_log_loss"] > 0

    network, metadata = load_checkpoint(run_dir / FINAL_FILE)
    assert metadata.architecture == "lesson7-convbnnet2"
    assert metadata.class_names == ("airplane", "bird", "cat")
    assert metadata.input_size == 32 and metadata.mean == CIFAR10_MEAN and metadata.trained
    assert metadata.extra["training"]["config"]["recipe"]["weight_decay"] == 0.0
    assert "archive" not in metadata.extra["training"]["config"]
    # The checkpoint is the trained network, float32, with BnLayer's last batch statistics (the trainer runs
    # channels_last, so the two forwards round differently in the last digits).
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(network(images), trainer.network.eval()(images), atol=1e-5, rtol=1e-5)


def test_a_killed_run_resumes_to_the_same_weights(
    config: CifarConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed at the first epoch of the second fit (where the optimiser restarts), then rerun: the history has
    each epoch once and the weights equal an uninterrupted run's."""
    whole = replace(config, run_dir=str(tmp_path / "whole"))
    CifarTrainer(whole, tmp_path / "cache").run()
    with monkeypatch.context() as patch:
        killed_at(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            CifarTrainer(config, tmp_path / "cache").run()
    assert torch.load(Path(config.run_dir) / STATE_FILE, weights_only=True)["epochs_done"] == 2
    assert not (Path(config.run_dir) / FINAL_FILE).exists()
    resumed = CifarTrainer(config, tmp_path / "cache")
    assert resumed.resumable.epochs_done == 2
    resumed.run()
    assert [r["epoch"] for r in read_history(Path(config.run_dir) / HISTORY_FILE)] == [1, 2, 3, 4]
    ours, _ = load_checkpoint(Path(config.run_dir) / FINAL_FILE)
    theirs, _ = load_checkpoint(Path(whole.run_dir) / FINAL_FILE)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_a_run_with_other_settings_is_refused(config: CifarConfig, tmp_path: Path) -> None:
    CifarTrainer(replace(config, architecture="lesson7-convnet2"), tmp_path / "cache").run()
    with pytest.raises(ValueError, match="different settings"):
        CifarTrainer(config, tmp_path / "cache")


def test_bad_settings_are_refused_before_any_work(cifar_archive: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no lesson recipe"):
        CifarConfig(archive=str(cifar_archive), run_dir=str(tmp_path), architecture="resnet34")
    with pytest.raises(ValueError, match="epoch_fraction"):
        CifarConfig(archive=str(cifar_archive), run_dir=str(tmp_path), epoch_fraction=0.0)
