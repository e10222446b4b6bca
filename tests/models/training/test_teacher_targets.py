"""Teacher targets are computed once per data set, cached beside the images, and calibrated on training photos."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from camserve.models.dataset import ImageFolder, Split, scan_image_folder
from camserve.models.training import teacher_targets
from camserve.models.training.cache import cached_images
from camserve.models.training.teacher import IMAGENET_CAT_CLASSES, IMAGENET_DOG_CLASSES
from camserve.models.training.teacher_targets import cached_teacher_targets

CPU = torch.device("cpu")


class ColourTeacher(nn.Module):
    """Red photos score high on ImageNet cats, blue ones on dogs, with a dog-favouring offset to calibrate away."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        red_minus_blue = (images[:, 0] - images[:, 2]).mean(dim=(1, 2))
        logits = torch.zeros(len(images), 1000)
        logits[:, IMAGENET_CAT_CLASSES] = 3 * red_minus_blue[:, None]
        logits[:, IMAGENET_DOG_CLASSES] = 1.0 - 3 * red_minus_blue[:, None]
        return logits


@pytest.fixture
def folder(image_folder: Path) -> ImageFolder:
    return scan_image_folder(image_folder)


@pytest.fixture
def images(folder: ImageFolder, tmp_path: Path) -> torch.Tensor:
    return cached_images(folder, 32, tmp_path / "images")


def test_targets_are_cached_and_calibrated_on_training_photos(
    folder: ImageFolder, images: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Targets cover the training photos only; the two-class target is a distribution that agrees with labels."""
    teacher = ColourTeacher()
    monkeypatch.setattr(teacher_targets, "load_teacher", lambda: teacher)
    train_index, _ = Split(0.25, seed=0).indices(folder)
    cache = tmp_path / "cache"
    targets = cached_teacher_targets(folder, images, train_index, 32, 24, cache, CPU)
    imagenet, two_class = targets.imagenet_logits, targets.two_class
    assert teacher.calls == 1
    assert targets.train_accuracy == 1.0
    assert imagenet.shape == (len(train_index), 1000)
    assert imagenet.dtype == torch.float16
    assert two_class.shape == (len(train_index), 2)
    torch.testing.assert_close(two_class.sum(dim=1), torch.ones(len(train_index)))
    labels = torch.tensor(folder.labels)[train_index]
    assert torch.equal(two_class.argmax(dim=1), labels)
    path = cache / f"teacher-efficientnet-lite0-{folder.digest()}-32to24px.safetensors"
    assert sorted(p.name for p in cache.iterdir()) == [path.name]
    cached = load_file(str(path))["logits"]
    assert cached.shape == (len(folder.files), 1000)  # every photo: validation too, for a later split
    torch.testing.assert_close(cached[train_index], imagenet)


def test_second_call_reads_the_cache_instead_of_the_teacher(
    folder: ImageFolder, images: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed run must not load or run the teacher again, and gets the same targets."""
    monkeypatch.setattr(teacher_targets, "load_teacher", ColourTeacher)
    train_index, _ = Split(0.25, seed=0).indices(folder)
    first = cached_teacher_targets(folder, images, train_index, 32, 24, tmp_path, CPU)

    def no_teacher() -> nn.Module:
        raise AssertionError("the teacher ran again although its outputs are cached")

    monkeypatch.setattr(teacher_targets, "load_teacher", no_teacher)
    again = cached_teacher_targets(folder, images, train_index, 32, 24, tmp_path, CPU)
    torch.testing.assert_close(again.imagenet_logits, first.imagenet_logits)
    torch.testing.assert_close(again.two_class, first.two_class)
    with pytest.raises(AssertionError, match="ran again"):
        cached_teacher_targets(folder, images, train_index, 32, 32, tmp_path, CPU)


def test_calibration_never_sees_validation_labels(
    folder: ImageFolder, images: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flipping a validation label must not change the training targets."""
    monkeypatch.setattr(teacher_targets, "load_teacher", ColourTeacher)
    train_index, val_index = Split(0.25, seed=0).indices(folder)
    assert val_index
    before = cached_teacher_targets(folder, images, train_index, 32, 24, tmp_path, CPU).two_class
    labels = list(folder.labels)
    labels[val_index[0]] = 1 - labels[val_index[0]]
    relabelled = ImageFolder(folder.root, folder.class_names, folder.files, tuple(labels))
    after = cached_teacher_targets(relabelled, images, train_index, 32, 24, tmp_path, CPU).two_class
    torch.testing.assert_close(after, before)


def test_a_teacher_that_gets_most_photos_wrong_is_refused(
    folder: ImageFolder, images: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weights loaded by position can be silently wrong; a teacher near chance must stop the run, not guide it."""

    class ConstantTeacher(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(images), 1000)

    monkeypatch.setattr(teacher_targets, "load_teacher", ConstantTeacher)
    train_index, _ = Split(0.25, seed=0).indices(folder)
    with pytest.raises(ValueError, match="--teacher none"):
        cached_teacher_targets(folder, images, train_index, 32, 24, tmp_path, CPU)
