"""One training run: data and teacher targets cached, epochs with progressive sizes, resumable after a kill.

A run lives in one directory: what ``ResumableRun`` keeps there (``state.pt``, ``history.jsonl``,
``history.png``), and ``best.safetensors`` + ``best.json`` (the checkpoint with the best validation accuracy
so far, in the format the service loads).
"""

import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional
from tqdm import tqdm

from camserve.models.checkpoint import save_checkpoint
from camserve.models.classmap_network import ClassMapNetwork
from camserve.models.dataset import ImageFolder, Split, scan_image_folder
from camserve.models.metadata import ModelMetadata
from camserve.models.selection.devices import DeviceChoice, Precision, PrecisionChoice, autocast, training_precision
from camserve.models.training.augment import Augmentation, resize_batch, standardise
from camserve.models.training.cache import cached_images
from camserve.models.training.distill import LossWeights, Student, training_loss
from camserve.models.training.init import IMAGENET, SCRATCH, initial_network, layer_groups, set_body_trainable
from camserve.models.training.regularise import (
    MixedBatch,
    Regularisation,
    add_stochastic_depth,
    mix_batch,
    weight_average,
)
from camserve.models.training.resumable import ResumableRun, Stateful, hardware
from camserve.models.training.running_score import RunningScore
from camserve.models.training.teacher import check_teacher_classes
from camserve.models.training.teacher_targets import TeacherTargets, cached_teacher_targets

BEST_FILE = "best.safetensors"
TEACHER_NONE = "none"
TEACHER_EFFNET = "efficientnet-lite0"
IMAGENET_GROUP_LR_SCALES = (1 / 9, 1 / 3, 1.0)
PROGRESS_EVERY = 10  # steps between progress-bar updates


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. Resuming refuses a different config, so a run's log is one recipe."""

    data: str
    run_dir: str
    model_version: str = "0.0.0-dev"  # written into every checkpoint the run saves
    init: str = "scratch"
    teacher: str = TEACHER_EFFNET
    architecture: str = "resnet34"
    sizes: tuple[int, ...] = (64, 64, 64, 64, 64, 96, 96)
    input_size: int = 128
    cache_size: int = 160
    teacher_size: int = 128
    batch_size: int = 64
    max_lr: float = 0.1
    weight_decay: float = 5e-4
    freeze_epochs: int = 0
    val_fraction: float = 0.1
    seed: int = 0
    device: DeviceChoice = "auto"
    precision: PrecisionChoice = "auto"
    loss: LossWeights = field(default_factory=LossWeights)
    augmentation: Augmentation = field(default_factory=Augmentation)
    regularisation: Regularisation = field(default_factory=Regularisation)

    @property
    def epochs(self) -> int:
        return len(self.sizes)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sizes": list(self.sizes)}

    def recipe(self) -> dict[str, Any]:
        """What a checkpoint records of the run: the settings that shaped the weights, and no paths of the
        machine that trained it (the split record identifies the data by its validation list)."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_IN_RECIPE}


# Where a run lives and what its checkpoints are called: a resumed run may change these.
RESUMABLE_CHANGES = frozenset({"run_dir", "model_version"})
# Paths of the training machine, and the version (the checkpoint's own field): not part of the recipe.
NOT_IN_RECIPE = RESUMABLE_CHANGES | {"data"}


@dataclass
class TrainingData:
    split_record: dict[str, object]  # Split.describe(): what every saved checkpoint records
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    teacher: TeacherTargets | None = None

    def to(self, device: torch.device) -> "TrainingData":
        """Photos, labels and teacher targets where the network is, so a GPU run never waits on the CPU."""
        teacher = self.teacher
        if teacher is not None:
            teacher = replace(
                teacher, imagenet_logits=teacher.imagenet_logits.to(device), two_class=teacher.two_class.to(device)
            )
        return replace(
            self,
            train_images=self.train_images.to(device),
            train_labels=self.train_labels.to(device),
            val_images=self.val_images.to(device),
            teacher=teacher,
        )


def check_config(config: TrainConfig) -> None:
    """What can be refused before any photo is decoded."""
    if config.teacher not in (TEACHER_EFFNET, TEACHER_NONE):
        raise ValueError(f"unknown teacher {config.teacher!r}; use {TEACHER_EFFNET} or {TEACHER_NONE}")
    largest = max(*config.sizes, config.teacher_size if config.teacher == TEACHER_EFFNET else 0)
    if largest > config.cache_size:
        raise ValueError(
            f"training sizes up to {largest} px need a cache of at least that size, not {config.cache_size}"
        )
    if config.batch_size < 1 or not 0.0 < config.val_fraction < 1.0:
        raise ValueError("batch_size must be positive and val_fraction between 0 and 1")


def check_split(config: TrainConfig, folder: ImageFolder, train_index: list[int], val_index: list[int]) -> None:
    if len(train_index) < config.batch_size or not val_index:
        raise ValueError(
            f"{config.data}: the split leaves {len(train_index)} training and {len(val_index)} validation photos; "
            f"training needs at least one batch ({config.batch_size}) and one validation photo"
        )
    if config.teacher == TEACHER_EFFNET:
        check_teacher_classes(folder.class_names)


def load_training_data(
    config: TrainConfig,
    folder: ImageFolder,
    split: Split,
    train_index: list[int],
    val_index: list[int],
    cache_dir: Path,
    device: torch.device,
) -> TrainingData:
    """Training photos cached at ``cache_size`` for cropping; validation photos at the serving size, as served.
    All of it ends up on ``device`` (the teacher, if any, runs there too)."""
    images = cached_images(folder, config.cache_size, cache_dir)
    labels = torch.tensor(folder.labels)
    val_folder = replace(
        folder, files=tuple(folder.files[i] for i in val_index), labels=tuple(folder.labels[i] for i in val_index)
    )
    val_images = cached_images(val_folder, config.input_size, cache_dir)
    data = TrainingData(split.describe(folder), images[train_index], labels[train_index], val_images, labels[val_index])
    if config.teacher == TEACHER_EFFNET:
        data.teacher = cached_teacher_targets(
            folder, images, train_index, config.cache_size, config.teacher_size, cache_dir, device
        )
    return data.to(device)


class Trainer:
    def __init__(self, config: TrainConfig, cache_dir: Path) -> None:
        """Every cheap check (settings, resume compatibility, split sizes, starting weights) runs before the
        photos are decoded and the teacher runs, which can take many minutes."""
        self.config = config
        check_config(config)
        self.run_dir = Path(config.run_dir)
        self.resumable = ResumableRun(self.run_dir, config.to_dict(), RESUMABLE_CHANGES, config.device, config.epochs)
        self.device = self.resumable.device
        state = self.resumable.saved
        torch.manual_seed(config.seed)
        folder = scan_image_folder(Path(config.data))
        self.class_names = folder.class_names
        # A resumed run's weights come from its state: no download, even for --init imagenet.
        network = initial_network(SCRATCH if state else config.init, config.architecture, self.class_names)
        split = Split(config.val_fraction, config.seed)
        train_index, val_index = split.indices(folder)
        check_split(config, folder, train_index, val_index)
        self.data = load_training_data(config, folder, split, train_index, val_index, cache_dir, self.device)
        teacher_classes = 0 if self.data.teacher is None else self.data.teacher.imagenet_logits.shape[1]
        self.student = Student(network, teacher_classes).to(self.device).to(memory_format=torch.channels_last)
        size = config.sizes[0]
        self.precision: Precision = training_precision(
            config.precision, self.student.network, (min(config.batch_size, 16), 3, size, size), state
        )
        regularisation = config.regularisation
        if regularisation.stochastic_depth:
            add_stochastic_depth(self.student.network, regularisation.stochastic_depth)
        self.average = (
            weight_average(self.student.network, regularisation.ema_decay) if regularisation.ema_decay else None
        )
        self.metadata = ModelMetadata(
            name=f"camserve-{config.architecture}",
            version=config.model_version,
            architecture=config.architecture,
            class_names=self.class_names,
            input_size=config.input_size,
            trained=True,
        )
        self.steps_per_epoch = len(self.data.train_labels) // config.batch_size
        self.optimiser = torch.optim.SGD(
            self._parameter_groups(), lr=config.max_lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimiser,
            max_lr=[group["lr"] for group in self.optimiser.param_groups],
            total_steps=self.steps_per_epoch * config.epochs,
            pct_start=0.25,
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        components: dict[str, Stateful] = {
            "student": self.student,
            "optimiser": self.optimiser,
            "scheduler": self.scheduler,
            "scaler": self.scaler,
        }
        if self.average is not None:
            components["average"] = self.average
        self.resumable.resume(components, self.precision)
        # Validation (accuracy, log loss) of the best checkpoint: higher accuracy, then lower loss.
        self.best = (-1.0, float("inf")) if state is None else (state["best_accuracy"], state["best_log_loss"])

    def _parameter_groups(self) -> list[dict[str, Any]]:
        groups = layer_groups(self.student.network)
        scales = IMAGENET_GROUP_LR_SCALES if self.config.init == IMAGENET else (1.0, 1.0, 1.0)
        result = [
            {"params": params, "lr": self.config.max_lr * scale} for params, scale in zip(groups, scales, strict=True)
        ]
        if self.student.aux_head is not None:
            result.append({"params": list(self.student.aux_head.parameters()), "lr": self.config.max_lr})
        return result

    def run(self) -> Path:
        for epoch in self.resumable.epochs_left():
            started = time.perf_counter()
            train_loss, train_accuracy = self._train_epoch(epoch)
            val_log_loss, val_accuracy = self._validate()
            improved = (val_accuracy, -val_log_loss) > (self.best[0], -self.best[1])
            record = {
                "epoch": epoch,
                "size": self.config.sizes[epoch - 1],
                "lr": self.scheduler.get_last_lr()[-1],
                "train_loss": round(train_loss, 5),
                "train_accuracy": round(train_accuracy, 5),
                "val_log_loss": round(val_log_loss, 5),
                "val_accuracy": round(val_accuracy, 5),
                **self.resumable.clock(started),
                "best": improved,
            }
            if improved:
                self.best = (val_accuracy, val_log_loss)
                self._save_best(record)
            self.resumable.end_epoch(record, {"best_accuracy": self.best[0], "best_log_loss": self.best[1]})
            print(
                f"epoch {epoch}/{self.config.epochs}: val accuracy {val_accuracy:.4f}, "
                f"log loss {val_log_loss:.4f}{' (best)' if improved else ''}",
                file=sys.stderr,
            )
        return self.run_dir / BEST_FILE

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        config = self.config
        size = config.sizes[epoch - 1]
        set_body_trainable(self.student.network, epoch > config.freeze_epochs)
        self.student.train()
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        # Stochastic depth draws from torch's global generator: seeded per epoch, a resumed run draws as an
        # unbroken one does.
        torch.manual_seed(config.seed * 1000 + epoch)
        order = torch.randperm(len(self.data.train_labels), generator=generator).to(self.device)
        running = RunningScore(self.device)
        bar = tqdm(range(self.steps_per_epoch), desc=f"epoch {epoch}/{config.epochs} {size}px", unit="batch")
        for step in bar:
            index = order[step * config.batch_size : (step + 1) * config.batch_size]
            images = standardise(config.augmentation(self.data.train_images[index], size, generator), self.metadata)
            mixed = mix_batch(images, config.regularisation, generator)
            labels = self.data.train_labels[index]
            two_class = imagenet = None
            if self.data.teacher is not None:
                imagenet, two_class = self.data.teacher.imagenet_logits[index], self.data.teacher.two_class[index]
            running.add(*self._step(mixed, labels, two_class, imagenet), labels)
            if step % PROGRESS_EVERY == 0 or step == self.steps_per_epoch - 1:
                loss, accuracy = running.loss_and_accuracy()
                bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.3f}")
        return running.loss_and_accuracy()

    def _step(
        self, mixed: MixedBatch, labels: torch.Tensor, two_class: torch.Tensor | None, imagenet: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.device, self.precision):
            log_probs, aux = self.student(mixed.images)
        loss = training_loss(log_probs, aux, labels, two_class, imagenet, self.config.loss)
        if (partner := mixed.partner) is not None:  # each mixed photo's targets are its own and its partner's
            theirs = training_loss(
                log_probs,
                aux,
                labels[partner],
                None if two_class is None else two_class[partner],
                None if imagenet is None else imagenet[partner],
                self.config.loss,
            )
            loss = mixed.share * loss + (1 - mixed.share) * theirs
        self.optimiser.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimiser)
        self.scaler.update()
        self.scheduler.step()
        if self.average is not None:
            self.average.update_parameters(self.student.network)
        return loss.detach(), log_probs.detach()

    @property
    def evaluated(self) -> ClassMapNetwork:
        """The weights validated and saved: the moving average when the recipe keeps one, else the network."""
        network = self.student.network if self.average is None else self.average.module
        assert isinstance(network, ClassMapNetwork)
        return network

    def _validate(self, batch_size: int = 128) -> tuple[float, float]:
        """Validation photos squashed to the serving size, no augmentation; log loss and accuracy."""
        network = self.evaluated.eval()
        log_probs = []
        with torch.inference_mode(), autocast(self.device, self.precision):
            for start in range(0, len(self.data.val_labels), batch_size):
                chunk = resize_batch(self.data.val_images[start : start + batch_size], self.config.input_size)
                log_probs.append(network(standardise(chunk, self.metadata)).float().cpu())
        stacked = torch.cat(log_probs)
        labels = self.data.val_labels.cpu()
        return float(functional.nll_loss(stacked, labels)), float((stacked.argmax(dim=1) == labels).float().mean())

    def _save_best(self, record: dict[str, Any]) -> None:
        extra = {
            "split": self.data.split_record,
            "training": {
                "config": self.config.recipe(),
                "epoch": record["epoch"],
                "val_accuracy": record["val_accuracy"],
                "val_log_loss": record["val_log_loss"],
                "wall_s": record["elapsed_s"],
                "device": self.device.type,
                "precision": self.precision,
                "hardware": hardware(self.device),
                "torch": torch.__version__,
                "teacher_train_accuracy": None if self.data.teacher is None else self.data.teacher.train_accuracy,
            },
        }
        metadata = replace(self.metadata, extra=extra)
        save_checkpoint(self.evaluated, metadata, self.run_dir / BEST_FILE)
