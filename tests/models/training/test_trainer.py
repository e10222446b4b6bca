"""A training run leaves a servable checkpoint, a log and a plot, and resumes after a kill as if never stopped.

The runs use a resnet-shaped tiny body (``tiny_architecture``) on 24 synthetic 48x40 photos, so each epoch is
a handful of small steps.
"""

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from camserve.models.checkpoint import load_checkpoint
from camserve.models.dataset import Split, scan_image_folder
from camserve.models.inference.preprocess import prepare
from camserve.models.metadata import metadata_path
from camserve.models.selection import devices
from camserve.models.training import teacher_targets
from camserve.models.training.augment import standardise
from camserve.models.training.history import read_history
from camserve.models.training.resumable import HISTORY_FILE, STATE_FILE, ResumableRun
from camserve.models.training.teacher import IMAGENET_CAT_CLASSES, IMAGENET_DOG_CLASSES
from camserve.models.training.trainer import BEST_FILE, TrainConfig, Trainer

pytest.importorskip("matplotlib")  # history.png; part of the .[train] extra


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def epochs_trained(monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> list[int]:
    """Spy on ``Trainer._train_epoch``; with ``fail_at``, that epoch is 'killed' (KeyboardInterrupt) before training."""
    seen: list[int] = []
    original: Callable[[Trainer, int], tuple[float, float]] = Trainer._train_epoch

    def spy(self: Trainer, epoch: int) -> tuple[float, float]:
        if epoch == fail_at:
            raise KeyboardInterrupt
        seen.append(epoch)
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", spy)
    return seen


def state_of(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in trainer.student.state_dict().items()}


def test_config_epochs_and_dict() -> None:
    """The config dict is what resuming compares and what the checkpoint records; it must be plain data."""
    config = TrainConfig(data="d", run_dir="r", sizes=(32, 48, 64))
    assert config.epochs == 3
    as_dict = config.to_dict()
    assert as_dict["sizes"] == [32, 48, 64]
    assert as_dict["loss"]["label_smoothing"] == config.loss.label_smoothing
    assert as_dict["augmentation"]["min_area"] == config.augmentation.min_area
    json.dumps(as_dict)


def test_run_leaves_a_servable_checkpoint_log_and_plot(config: TrainConfig, cache_dir: Path) -> None:
    """best.safetensors must load in the service, say it is trained, and record the split and the recipe."""
    trainer = Trainer(config, cache_dir)
    best = trainer.run()
    run_dir = Path(config.run_dir)
    assert best == run_dir / BEST_FILE
    assert {p.name for p in run_dir.iterdir()} == {STATE_FILE, HISTORY_FILE, "history.png", BEST_FILE, "best.json"}
    assert metadata_path(best) == run_dir / "best.json"

    (record,) = read_history(run_dir / HISTORY_FILE)
    assert record["epoch"] == 1
    assert record["size"] == 32
    assert record["best"] is True
    assert 0.0 <= record["val_accuracy"] <= 1.0
    assert record["val_log_loss"] >= 0.0

    network, metadata = load_checkpoint(best)
    assert metadata.trained is True
    assert metadata.class_names == ("cat", "dog")
    assert metadata.architecture == config.architecture
    assert metadata.input_size == 32
    folder = scan_image_folder(Path(config.data))
    assert metadata.extra["split"] == Split(0.25, 0).describe(folder)
    training = metadata.extra["training"]
    assert training["config"] == config.recipe()
    assert metadata.version == config.model_version
    assert training["epoch"] == 1
    assert training["val_accuracy"] == record["val_accuracy"]
    assert training["device"] == "cpu"
    assert training["precision"] == "fp32"

    # The saved network is the trained one (fp16 on disk), not a fresh or stale copy.
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        expected = trainer.student.network.eval()(images)
        torch.testing.assert_close(network(images), expected, atol=2e-2, rtol=0)
    state = torch.load(run_dir / STATE_FILE, weights_only=True)
    assert state["epochs_done"] == 1
    assert state["config"] == config.to_dict()


def test_training_learns_the_synthetic_colours(config: TrainConfig, cache_dir: Path) -> None:
    """Red against blue is trivially separable: two short epochs must reach high validation accuracy."""
    config = replace(config, sizes=(32, 32))
    Trainer(config, cache_dir).run()
    history = read_history(Path(config.run_dir) / HISTORY_FILE)
    assert [r["epoch"] for r in history] == [1, 2]
    assert max(r["val_accuracy"] for r in history) >= 0.8
    assert history[-1]["val_log_loss"] < 0.69  # better than a coin's log(2)


def test_resume_refuses_a_changed_config(config: TrainConfig, cache_dir: Path) -> None:
    """One run directory holds one recipe; the error names what changed and the run is left alone."""
    Trainer(config, cache_dir).run()
    history = (Path(config.run_dir) / HISTORY_FILE).read_text()
    with pytest.raises(ValueError, match=r"different settings \(max_lr\)"):
        Trainer(replace(config, max_lr=0.01), cache_dir)
    with pytest.raises(ValueError, match=r"\(batch_size, sizes\)"):
        Trainer(replace(config, sizes=(32, 32), batch_size=2), cache_dir)
    assert (Path(config.run_dir) / HISTORY_FILE).read_text() == history


def test_moved_run_dir_still_resumes(config: TrainConfig, cache_dir: Path, tmp_path: Path) -> None:
    """The run directory's own path is not part of the recipe: a copied or moved run carries on."""
    Trainer(config, cache_dir).run()
    moved = tmp_path / "moved"
    shutil.copytree(config.run_dir, moved)
    resumed = Trainer(replace(config, run_dir=str(moved)), cache_dir)
    assert resumed.resumable.epochs_done == 1


def test_finished_run_is_not_trained_again(
    config: TrainConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rerunning the command after it finished resumes at the end: nothing to do, the log unchanged."""
    Trainer(config, cache_dir).run()
    history = read_history(Path(config.run_dir) / HISTORY_FILE)
    trained = epochs_trained(monkeypatch)
    Trainer(config, cache_dir).run()
    assert trained == []
    assert read_history(Path(config.run_dir) / HISTORY_FILE) == history


def test_interrupted_run_resumes_where_it_stopped(
    config: TrainConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Killed during epoch 2 of 2, the rerun trains epoch 2 only and ends exactly where an unbroken run ends."""
    config = replace(config, sizes=(32, 40))
    with monkeypatch.context() as patch:
        epochs_trained(patch, fail_at=2)
        with pytest.raises(KeyboardInterrupt):
            Trainer(config, cache_dir).run()
    run_dir = Path(config.run_dir)
    assert [r["epoch"] for r in read_history(run_dir / HISTORY_FILE)] == [1]

    trained = epochs_trained(monkeypatch)
    resumed = Trainer(config, cache_dir)
    assert resumed.resumable.epochs_done == 1
    resumed.run()
    assert trained == [2]
    history = read_history(run_dir / HISTORY_FILE)
    assert [r["epoch"] for r in history] == [1, 2]
    assert [r["size"] for r in history] == [32, 40]
    assert torch.load(run_dir / STATE_FILE, weights_only=True)["epochs_done"] == 2
    assert resumed.scheduler.last_epoch == 2 * resumed.steps_per_epoch

    unbroken = Trainer(replace(config, run_dir=str(tmp_path / "unbroken")), cache_dir)
    unbroken.run()
    expected = state_of(unbroken)
    for name, tensor in state_of(resumed).items():
        torch.testing.assert_close(tensor, expected[name], msg=name)


def test_kill_between_log_line_and_state_logs_the_epoch_once(
    config: TrainConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Epoch 2 was logged but its state never saved: the rerun redoes epoch 2 and the log has it once."""
    config = replace(config, sizes=(32, 32))
    original = ResumableRun.save_state

    def save_then_die(self: ResumableRun, values: Mapping[str, object]) -> None:
        if self.epochs_done == 2:
            raise KeyboardInterrupt
        original(self, values)

    with monkeypatch.context() as patch:
        patch.setattr(ResumableRun, "save_state", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            Trainer(config, cache_dir).run()
    log = Path(config.run_dir) / HISTORY_FILE
    assert [r["epoch"] for r in read_history(log)] == [1, 2]
    trained = epochs_trained(monkeypatch)
    Trainer(config, cache_dir).run()
    assert trained == [2]
    assert [r["epoch"] for r in read_history(log)] == [1, 2]


def test_frozen_body_epochs_train_the_head_only(config: TrainConfig, cache_dir: Path) -> None:
    """With --freeze-epochs the body keeps its starting weights (no gradient, no weight decay) while the head learns."""
    trainer = Trainer(replace(config, freeze_epochs=1), cache_dir)
    body = {name: p.detach().clone() for name, p in trainer.student.network.body.named_parameters()}
    head = trainer.student.network.class_maps.weight.detach().clone()
    trainer.run()
    for name, parameter in trainer.student.network.body.named_parameters():
        torch.testing.assert_close(parameter.detach(), body[name], msg=name, rtol=0, atol=0)
    assert not torch.allclose(trainer.student.network.class_maps.weight, head)


class ColourTeacher(nn.Module):
    """Stands in for EfficientNet-Lite0: red photos look like ImageNet cats, blue ones like dogs."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        red_minus_blue = (images[:, 0] - images[:, 2]).mean(dim=(1, 2))
        logits = torch.zeros(len(images), 1000)
        logits[:, IMAGENET_CAT_CLASSES] = 3 * red_minus_blue[:, None]
        logits[:, IMAGENET_DOG_CLASSES] = -3 * red_minus_blue[:, None]
        return logits


def test_distillation_run_drops_the_auxiliary_head_from_the_checkpoint(
    config: TrainConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 1000-class head trains with the student but must not reach the served checkpoint."""
    monkeypatch.setattr(teacher_targets, "load_teacher", ColourTeacher)
    config = replace(config, teacher="efficientnet-lite0", teacher_size=32)
    trainer = Trainer(config, cache_dir)
    assert trainer.student.aux_head is not None
    assert trainer.student.aux_head.out_features == 1000
    assert trainer.data.teacher is not None
    assert len(trainer.data.teacher.imagenet_logits) == len(trainer.data.train_labels)
    assert len(trainer.data.teacher.two_class) == len(trainer.data.train_labels)
    head_before = trainer.student.aux_head.weight.detach().clone()
    best = trainer.run()
    assert not torch.allclose(trainer.student.aux_head.weight, head_before)
    network, _ = load_checkpoint(best)  # strict: an aux_head tensor in the file would be "unexpected"
    assert not hasattr(network, "aux_head")
    state = torch.load(Path(config.run_dir) / STATE_FILE, weights_only=True)
    assert any(name.startswith("aux_head.") for name in state["student"])


def test_unknown_teacher_is_refused(config: TrainConfig, cache_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown teacher 'gpt'"):
        Trainer(replace(config, teacher="gpt"), cache_dir)


def test_validation_photos_are_the_services_inputs(config: TrainConfig, cache_dir: Path) -> None:
    """The best checkpoint is picked on validation scores, so validation must see exactly what serving sees:
    the photo decoded and squashed straight to the serving size, not a resize of the training cache."""
    config = replace(config, input_size=36)
    trainer = Trainer(config, cache_dir)
    folder = scan_image_folder(Path(config.data))
    _, val = Split(config.val_fraction, config.seed).indices(folder)
    assert trainer.data.val_images.shape == (len(val), 3, 36, 36)
    metadata = replace(trainer.metadata, input_size=36)
    first = torch.from_numpy(prepare(folder.files[val[0]].read_bytes(), metadata, 10**7).pixels)
    torch.testing.assert_close(standardise(trainer.data.val_images[:1].float(), metadata)[0], first)


@pytest.mark.parametrize(
    "change",
    [
        {"sizes": (32, 64)},
        {"teacher_size": 64, "teacher": "efficientnet-lite0"},
        {"batch_size": 0},
        {"val_fraction": 1.0},
    ],
)
def test_impossible_settings_are_refused_before_any_decoding(
    config: TrainConfig, cache_dir: Path, change: dict[str, object]
) -> None:
    """Sizes beyond the cache would silently upscale; these must fail at once, with nothing cached."""
    with pytest.raises(ValueError):
        Trainer(replace(config, **change), cache_dir)
    assert not cache_dir.exists()


def test_auto_precision_is_measured_once_and_kept_on_resume(
    config: TrainConfig, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first start times fp32 against bf16 on the CPU; a resumed run keeps that answer, so a machine that
    measures differently later cannot change the arithmetic halfway through a run."""
    auto = replace(config, precision="auto", sizes=(32, 32))
    with monkeypatch.context() as patch:
        patch.setattr(devices, "fastest_cpu_precision", lambda step: "bf16")
        epochs_trained(patch, fail_at=2)
        with pytest.raises(KeyboardInterrupt):
            Trainer(auto, cache_dir).run()
    monkeypatch.setattr(devices, "fastest_cpu_precision", lambda step: "fp32")
    resumed = Trainer(auto, cache_dir)
    assert resumed.precision == "bf16"
    resumed.run()
    training = json.loads(metadata_path(Path(auto.run_dir) / BEST_FILE).read_text())["extra"]["training"]
    assert training["precision"] == "bf16"
