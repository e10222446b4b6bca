"""Fine-tune a dilated-last-stage network (``resnet34-os16``) from a shipped stride-32 checkpoint, on a CPU.

Dilation changes only the last stage: conv1..layer3 compute exactly what they did, so they are frozen (with
their batch norms in eval mode) and run once per photo; their outputs are kept in the run directory and the
epochs train only the last stage and the class-map head on them. Every batch norm stays in eval mode while
training: the served network uses running statistics, and small CPU batches would make batch statistics
noisy. (Re-estimating the last stage's running statistics at the new geometry raised the validation log loss
in a probe, so 2.0.0's are kept.)

The run directory holds the feature cache, ``ResumableRun``'s state and log, and the checkpoint after each
epoch; rerunning the same command resumes after the last finished epoch. ``camserve finetune-os16`` runs it.
"""

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional

from camserve.models.checkpoint import load_checkpoint, save_checkpoint
from camserve.models.classmap_network import ClassMapNetwork
from camserve.models.dataset import ImageFolder, recorded_split, scan_image_folder, validation_indices
from camserve.models.files import atomic_write
from camserve.models.inference.preprocess import standardise
from camserve.models.metadata import ModelMetadata
from camserve.models.network import build_network
from camserve.models.training.cache import decode_all
from camserve.models.training.resumable import ResumableRun, hardware

CHECKPOINT_NAME = "camserve-resnet34-os16.safetensors"
DECODE_CHUNK = 250
LOG_EVERY = 20  # steps between progress lines


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tune; resuming refuses other settings (but the paths may move)."""

    data: str
    weights: str
    run_dir: str
    architecture: str = "resnet34-os16"
    model_version: str = "3.0.0-rc"
    train_photos: int = 7000  # a seeded sample of the recorded training split; 0 for all
    monitor_photos: int = 500  # a seeded sample of the recorded validation split, checked each epoch
    epoch_photos: int = 0  # photos per epoch, a fresh seeded draw from the cached ones each epoch; 0 for all
    epochs: int = 2
    batch_size: int = 32
    lr: float = 2e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    seed: int = 0


RESUMABLE_CHANGES = frozenset({"data", "weights", "run_dir"})


def stem_and_stage(network: ClassMapNetwork) -> tuple[nn.Module, nn.Module]:
    """conv1..layer3 (unchanged by the dilation) and the last stage, of a body that is an ``nn.Sequential``."""
    body = network.body
    if not isinstance(body, nn.Sequential):
        raise ValueError("fine-tuning the last stage needs a body that is an nn.Sequential of stages")
    return body[:-1], body[-1]


def starting_network(config: FinetuneConfig) -> tuple[ClassMapNetwork, ModelMetadata]:
    """The dilated network holding the shipped checkpoint's weights, unchanged (same names and shapes)."""
    shipped, metadata = load_checkpoint(Path(config.weights))
    network = build_network(config.architecture, metadata.num_classes)
    network.load_state_dict(shipped.state_dict())
    return network.eval(), metadata


def chosen_photos(folder: ImageFolder, metadata: ModelMetadata, config: FinetuneConfig) -> dict[str, list[int]]:
    """Seeded samples of the checkpoint's own training and validation photos (refused if the split differs)."""
    val = validation_indices(folder, metadata.extra)
    train, _ = recorded_split(metadata.extra).indices(folder)
    rng = np.random.default_rng(config.seed)
    if config.train_photos:
        train = sorted(rng.choice(train, min(config.train_photos, len(train)), replace=False).tolist())
    monitor = sorted(rng.choice(val, min(config.monitor_photos, len(val)), replace=False).tolist())
    return {"train": train, "monitor": monitor}


def stem_features(
    stem: nn.Module, folder: ImageFolder, indices: list[int], metadata: ModelMetadata, dtype: torch.dtype
) -> torch.Tensor:
    """conv1..layer3's outputs for the photos, decoded and squashed as the service does, chunk by chunk."""
    chunks = []
    for start in range(0, len(indices), DECODE_CHUNK):
        chunk = indices[start : start + DECODE_CHUNK]
        pixels = decode_all([folder.files[i] for i in chunk], metadata.input_size, workers=1)
        with torch.inference_mode():
            inputs = torch.from_numpy(standardise(pixels.numpy(), metadata))
            chunks.append(torch.cat([stem(inputs[i : i + 50]) for i in range(0, len(chunk), 50)]).to(dtype))
        print(f"stem features {start + len(chunk)}/{len(indices)}", flush=True)
    return torch.cat(chunks)


def cached_features(
    run_dir: Path, stem: nn.Module, folder: ImageFolder, photos: dict[str, list[int]], metadata: ModelMetadata
) -> dict[str, torch.Tensor]:
    """Training features as fp16 (memory), monitor features as fp32 (exact), with labels; computed once per
    choice of photos (the file is named by it, so other photos never reuse it)."""
    digest = hashlib.sha256(repr([folder.relative(i) for i in photos["train"] + photos["monitor"]]).encode())
    path = run_dir / f"features-{digest.hexdigest()[:16]}.safetensors"
    if path.is_file():
        return load_file(str(path))
    tensors = {
        "train": stem_features(stem, folder, photos["train"], metadata, torch.float16),
        "monitor": stem_features(stem, folder, photos["monitor"], metadata, torch.float32),
        "train_labels": torch.tensor([folder.labels[i] for i in photos["train"]]),
        "monitor_labels": torch.tensor([folder.labels[i] for i in photos["monitor"]]),
    }
    with atomic_write(path) as staged:
        save_file(tensors, str(staged))
    return tensors


def logits(stage: nn.Module, head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """The network's logits from layer3's output: the class maps' spatial means."""
    result: torch.Tensor = head(stage(features.float())).mean(dim=(2, 3))
    return result


def monitor_score(stage: nn.Module, head: nn.Module, features: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(accuracy, log loss) on the monitored validation photos, uncalibrated (temperature 1)."""
    monitor = features["monitor"]
    with torch.inference_mode():
        scores = torch.cat([logits(stage, head, monitor[i : i + 50]) for i in range(0, len(monitor), 50)])
    labels = features["monitor_labels"]
    accuracy = (scores.argmax(1) == labels).float().mean().item()
    return accuracy, functional.cross_entropy(scores, labels).item()


class DilatedFinetune:
    def __init__(self, config: FinetuneConfig) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.resumable = ResumableRun(self.run_dir, asdict(config), RESUMABLE_CHANGES, "cpu", config.epochs)
        torch.manual_seed(config.seed)
        self.network, self.shipped = starting_network(config)
        self.stem, self.stage = stem_and_stage(self.network)
        folder = scan_image_folder(Path(config.data), self.shipped.class_names)
        self.features = cached_features(
            self.run_dir, self.stem, folder, chosen_photos(folder, self.shipped, config), self.shipped
        )
        if self.resumable.saved is None:
            accuracy, log_loss = monitor_score(self.stage, self.network.class_maps, self.features)
            print(f"before fine-tuning: monitor accuracy {accuracy:.4f}, log loss {log_loss:.4f}", flush=True)
        parameters = [*self.stage.parameters(), *self.network.class_maps.parameters()]
        self.optimiser = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
        cached = len(self.features["train_labels"])
        self.epoch_photos = min(config.epoch_photos, cached) if config.epoch_photos else cached
        self.steps_per_epoch = self.epoch_photos // config.batch_size
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimiser, T_max=self.steps_per_epoch * config.epochs
        )
        self.resumable.resume(
            {"network": self.network, "optimiser": self.optimiser, "scheduler": self.scheduler}, "fp32"
        )

    def run(self) -> Path:
        checkpoint = self.run_dir / CHECKPOINT_NAME
        for epoch in self.resumable.epochs_left():
            started = time.perf_counter()
            train_loss, train_accuracy = self._train_epoch(epoch)
            val_accuracy, val_log_loss = monitor_score(self.stage, self.network.class_maps, self.features)
            record = {
                "epoch": epoch,
                "lr": self.scheduler.get_last_lr()[-1],
                "train_loss": round(train_loss, 5),
                "train_accuracy": round(train_accuracy, 5),
                "val_log_loss": round(val_log_loss, 5),
                "val_accuracy": round(val_accuracy, 5),
                **self.resumable.clock(started),
            }
            save_checkpoint(self.network.eval(), self._metadata(record), checkpoint)
            self.resumable.end_epoch(record, {})
            print(f"epoch {epoch}/{self.config.epochs}: {record}", flush=True)
        return checkpoint

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        """``epoch_photos`` of the cached training features in a seeded order; batch norms stay in eval mode."""
        self.network.eval()
        order = torch.randperm(len(self.features["train_labels"]), generator=torch.Generator().manual_seed(epoch))
        total_loss, correct, seen = 0.0, 0, 0
        started = time.perf_counter()
        for step in range(self.steps_per_epoch):
            batch = order[step * self.config.batch_size : (step + 1) * self.config.batch_size]
            labels = self.features["train_labels"][batch]
            scores = logits(self.stage, self.network.class_maps, self.features["train"][batch])
            loss = functional.cross_entropy(scores, labels, label_smoothing=self.config.label_smoothing)
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            self.optimiser.step()
            self.scheduler.step()
            total_loss += loss.item() * len(batch)
            correct += int((scores.argmax(1) == labels).sum())
            seen += len(batch)
            if (step + 1) % LOG_EVERY == 0:
                print(
                    f"epoch {epoch} step {step + 1}/{self.steps_per_epoch}: loss {total_loss / seen:.4f}, "
                    f"accuracy {correct / seen:.4f}, {time.perf_counter() - started:.0f} s",
                    flush=True,
                )
        return total_loss / seen, correct / seen

    def _metadata(self, record: dict[str, Any]) -> ModelMetadata:
        """The shipped checkpoint's metadata (same classes, input size, split, temperature) for the new network."""
        config = asdict(self.config)
        recipe = {key: value for key, value in config.items() if key not in RESUMABLE_CHANGES}
        return ModelMetadata(
            name="camserve-resnet34-os16",
            version=self.config.model_version,
            architecture=self.config.architecture,
            class_names=self.shipped.class_names,
            input_size=self.shipped.input_size,
            mean=self.shipped.mean,
            std=self.shipped.std,
            trained=True,
            extra={
                "split": self.shipped.extra["split"],
                "training": {
                    "config": recipe,
                    "init": f"{self.shipped.name} {self.shipped.version}, last stage dilated",
                    **record,
                    "hardware": hardware(torch.device("cpu")),
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                },
            },
            temperature=self.shipped.temperature,
        )
