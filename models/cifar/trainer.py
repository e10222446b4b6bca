"""One lesson network trained on CIFAR-10 with its notebook recipe, resumable after a kill at any moment.

A run directory holds what ``ResumableRun`` keeps there (``state.pt``, and ``history.jsonl`` and
``history.png`` with the test-set scores per epoch, as the notebook printed), and at the end
``final.safetensors`` + ``final.json`` (the checkpoint the service loads) and ``result.json`` (the scores with
and without TTA). The notebook validated on the test set and kept the last epoch's weights; so does this,
with no choosing of a best epoch on the test set.
"""

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional
from tqdm import tqdm

from camserve.models.checkpoint import save_checkpoint
from camserve.models.cifar.archive import CIFAR10_MEAN, CIFAR10_STD, SIDE, load_cifar
from camserve.models.cifar.augment import pad_crop_flip
from camserve.models.cifar.evaluation import limited_test_indices, score
from camserve.models.cifar.recipes import RECIPES
from camserve.models.cifar.schedule import Recipe
from camserve.models.files import atomic_write
from camserve.models.metadata import ModelMetadata
from camserve.models.network import build_network
from camserve.models.selection.devices import DeviceChoice, Precision, PrecisionChoice, autocast, training_precision
from camserve.models.training.augment import standardise
from camserve.models.training.resumable import ResumableRun, Stateful, hardware
from camserve.models.training.running_score import RunningScore

FINAL_FILE = "final.safetensors"
RESULT_FILE = "result.json"
RESUMABLE_CHANGES = frozenset({"run_dir", "model_version", "archive"})


@dataclass(frozen=True)
class CifarConfig:
    """Everything that defines a run; resuming refuses other values (but a moved archive or run directory)."""

    archive: str
    run_dir: str
    architecture: str = "lesson7-resnet2"
    # Each epoch takes this fraction of the training set's batches, so a smoke run keeps the recipe's shape
    # (fits, cycles, restarts) at a fraction of the cost. 1.0 is the lesson.
    epoch_fraction: float = 1.0
    test_limit: int | None = None  # score on this many test images (a seeded sample); None: all 10,000
    seed: int = 0
    model_version: str = "0.0.0-dev"
    device: DeviceChoice = "auto"
    precision: PrecisionChoice = "auto"

    def __post_init__(self) -> None:
        if self.architecture not in RECIPES:
            raise ValueError(f"no lesson recipe for {self.architecture!r}; known: {', '.join(RECIPES)}")
        if not 0.0 < self.epoch_fraction <= 1.0:
            raise ValueError(f"epoch_fraction must lie in (0, 1], got {self.epoch_fraction}")
        if self.test_limit is not None and self.test_limit < 1:
            raise ValueError(f"test_limit must be positive, got {self.test_limit}")

    @property
    def recipe(self) -> Recipe:
        return RECIPES[self.architecture]


class CifarTrainer:
    def __init__(self, config: CifarConfig, cache_dir: Path) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.resumable = ResumableRun(
            self.run_dir, asdict(config), RESUMABLE_CHANGES, config.device, config.recipe.epochs
        )
        self.device = self.resumable.device
        torch.manual_seed(config.seed)
        data = load_cifar(Path(config.archive), cache_dir)
        self.network = build_network(config.architecture, len(data.class_names)).to(self.device)
        self.network = self.network.to(memory_format=torch.channels_last)
        batch_shape = (min(config.recipe.batch_size, 64), 3, SIDE, SIDE)
        self.precision: Precision = training_precision(
            config.precision, self.network, batch_shape, self.resumable.saved
        )
        self.metadata = ModelMetadata(
            name=f"camserve-{config.architecture}",
            version=config.model_version,
            architecture=config.architecture,
            class_names=data.class_names,
            input_size=SIDE,
            mean=CIFAR10_MEAN,
            std=CIFAR10_STD,
            trained=True,
        )
        self.train_images = torch.from_numpy(data.train_images).to(self.device)
        self.train_labels = torch.from_numpy(data.train_labels).to(self.device)
        test_index = limited_test_indices(len(data.test_labels), config.test_limit, config.seed)
        self.test_images = torch.from_numpy(data.test_images[test_index]).to(self.device)
        self.test_labels = data.test_labels[test_index]
        self.archive_sha256 = data.archive_sha256
        recipe = config.recipe
        batches = len(data.train_labels) // recipe.batch_size
        self.steps_per_epoch = max(1, round(batches * config.epoch_fraction))
        self.optimiser = torch.optim.SGD(
            self.network.parameters(),
            lr=recipe.fits[0].lr,
            momentum=recipe.momentum,
            weight_decay=recipe.weight_decay,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        components: dict[str, Stateful] = {"network": self.network, "optimiser": self.optimiser, "scaler": self.scaler}
        self.resumable.resume(components, self.precision)

    def run(self) -> dict[str, Any]:
        """Train the epochs left, then (once) save the final checkpoint and score it with and without TTA."""
        recipe = self.config.recipe
        for epoch in self.resumable.epochs_left():
            started = time.perf_counter()
            fit_index, fit_epoch = recipe.locate(epoch - 1)
            if fit_epoch == 0:
                self.optimiser.state.clear()  # fastai 0.7 builds a new optimiser for every fit call
            rates = recipe.fits[fit_index].learning_rates(self.steps_per_epoch)
            epoch_rates = rates[fit_epoch * self.steps_per_epoch : (fit_epoch + 1) * self.steps_per_epoch]
            train_loss, train_accuracy = self._train_epoch(epoch - 1, epoch_rates)
            test = score(self.network, self.test_images, self.test_labels, self.metadata, self.precision, tta=False)
            record = {
                "epoch": epoch,
                "fit": fit_index + 1,
                "lr": epoch_rates[-1],
                "train_loss": round(train_loss, 5),
                "train_accuracy": round(train_accuracy, 5),
                "val_log_loss": round(test.log_loss, 5),
                "val_accuracy": round(test.accuracy, 5),
                **self.resumable.clock(started),
            }
            self.resumable.end_epoch(record, {})
            print(
                f"{self.config.architecture} epoch {epoch}/{recipe.epochs}: test accuracy {test.accuracy:.4f}, "
                f"log loss {test.log_loss:.4f}",
                file=sys.stderr,
            )
        return self._finish()

    def _train_epoch(self, index: int, rates: list[float]) -> tuple[float, float]:
        """The 0-based epoch ``index``, one step at each of ``rates``; training loss and accuracy."""
        self.network.train()
        batch_size = self.config.recipe.batch_size
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + index)
        order = torch.randperm(len(self.train_labels), generator=generator).to(self.device)
        running = RunningScore(self.device)
        bar = tqdm(rates, desc=f"{self.config.architecture} epoch {index + 1}", unit="batch", mininterval=5)
        for step, rate in enumerate(bar):
            batch = order[step * batch_size : (step + 1) * batch_size]
            labels = self.train_labels[batch]
            running.add(*self.step(self.train_images[batch], labels, rate, generator), labels)
        return running.loss_and_accuracy()

    def step(
        self, images: torch.Tensor, labels: torch.Tensor, rate: float, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step at ``rate`` on a batch of uint8 images, augmented here; the loss and log-probabilities."""
        batch = standardise(pad_crop_flip(images, generator), self.metadata)
        for group in self.optimiser.param_groups:
            group["lr"] = rate
        with autocast(self.device, self.precision):
            log_probs = self.network(batch)
        loss: torch.Tensor = functional.nll_loss(log_probs.float(), labels)
        self.optimiser.zero_grad(set_to_none=True)
        torch.autograd.backward(self.scaler.scale(loss))
        self.scaler.step(self.optimiser)
        self.scaler.update()
        return loss.detach(), log_probs.detach()

    def _finish(self) -> dict[str, Any]:
        result_path = self.run_dir / RESULT_FILE
        if result_path.is_file():
            stored: dict[str, Any] = json.loads(result_path.read_text())
            return stored
        args = (self.network, self.test_images, self.test_labels, self.metadata, self.precision)
        plain, tta = score(*args, tta=False, seed=self.config.seed), score(*args, tta=True, seed=self.config.seed)
        result = {
            "architecture": self.config.architecture,
            "epochs": self.config.recipe.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "epoch_fraction": self.config.epoch_fraction,
            "test_images": len(self.test_labels),
            "parameters": sum(p.numel() for p in self.network.parameters()),
            "map_size": list(self._map_size()),
            "train_wall_s": round(self.resumable.elapsed_s, 1),
            "accuracy": plain.accuracy,
            "log_loss": plain.log_loss,
            "tta_accuracy": tta.accuracy,
            "tta_log_loss": tta.log_loss,
            "device": self.device.type,
            "precision": self.precision,
            "hardware": hardware(self.device),
            "torch": torch.__version__,
            "archive_sha256": self.archive_sha256,
        }
        extra = {"training": {"config": _recipe_record(self.config), **result}}
        # float32 on disk: these networks are small (Resnet2 is 8 MB), and BnLayer's stored batch statistics
        # would lose digits in fp16.
        save_checkpoint(self.network, replace(self.metadata, extra=extra), self.run_dir / FINAL_FILE, torch.float32)
        with atomic_write(result_path) as staged:
            staged.write_text(json.dumps(result, indent=2) + "\n")
        return result

    def _map_size(self) -> tuple[int, int]:
        with torch.inference_mode():
            _, maps = self.network.eval().forward_with_maps(torch.zeros(1, 3, SIDE, SIDE, device=self.device))
        return int(maps.shape[2]), int(maps.shape[3])


def _recipe_record(config: CifarConfig) -> dict[str, Any]:
    """What the checkpoint records of the run: no paths of the training machine."""
    return {
        **{k: v for k, v in asdict(config).items() if k not in RESUMABLE_CHANGES},
        "recipe": asdict(config.recipe),
    }
