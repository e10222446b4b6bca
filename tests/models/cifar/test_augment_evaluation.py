"""The lesson's augmentation (reflect-pad 4, random 32 crop, random flip) and its TTA: the plain view and four
augmented ones, probabilities averaged."""

import numpy as np
import torch

from camserve.models.cifar.augment import PAD, pad_crop_flip, reflect_pad
from camserve.models.cifar.evaluation import Scores, limited_test_indices, predict_probabilities, score
from camserve.models.cifar.networks import LessonNetwork
from camserve.models.metadata import ModelMetadata
from camserve.models.training.augment import standardise

METADATA = ModelMetadata(name="t", version="t", architecture="lesson7-convnet2", class_names=("a", "b"), input_size=32)


def images(count: int = 6) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, 32, 32), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)


def test_each_view_is_a_crop_of_the_reflect_padded_image_or_its_mirror() -> None:
    batch = images(64)
    views = pad_crop_flip(batch, torch.Generator().manual_seed(0))
    padded = reflect_pad(batch.float(), PAD)
    assert views.shape == (64, 3, 32, 32)
    flipped = 0
    for view, source in zip(views, padded, strict=True):
        crops = [source[:, top : top + 32, left : left + 32] for top in range(9) for left in range(9)]
        if any(torch.equal(view, crop) for crop in crops):
            continue
        assert any(torch.equal(view, crop.flip(-1)) for crop in crops)
        flipped += 1
    assert 16 < flipped < 48  # about half are mirrored


def test_reflect_padding_repeats_the_edge_as_opencv_border_reflect() -> None:
    row = torch.arange(1.0, 6.0).view(1, 1, 1, 5).expand(1, 1, 5, 5)
    padded = reflect_pad(row, 2)
    assert padded.shape == (1, 1, 9, 9)
    assert padded[0, 0, 0].tolist() == [2, 1, 1, 2, 3, 4, 5, 5, 4]
    assert torch.equal(padded[0, 0, :, 2], torch.ones(9))


def test_without_padding_a_view_is_the_image_or_its_mirror() -> None:
    batch = images()
    views = pad_crop_flip(batch, torch.Generator().manual_seed(1), pad=0)
    for view, image in zip(views, batch.float(), strict=True):
        assert torch.equal(view, image) or torch.equal(view, image.flip(-1))


class Probe(LessonNetwork):
    """Two classes scored by the mean of the left and of the right half of the red channel: any crop or flip
    changes its answer, so the views can be told apart."""

    def __init__(self) -> None:
        super().__init__(2, 2)
        with torch.no_grad():
            self.out.weight.copy_(torch.eye(2))
            self.out.bias.zero_()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        red = images[:, :1]
        return torch.cat(
            [red[..., :16].mean(dim=(2, 3), keepdim=True), red[..., 16:].mean(dim=(2, 3), keepdim=True)], 1
        )


def test_tta_averages_the_plain_view_and_four_augmented_ones() -> None:
    network, batch = Probe(), images()
    expected = [network(standardise(batch.float(), METADATA)).exp()]
    for view in range(1, 5):
        generator = torch.Generator().manual_seed(7 * 1000 + view)
        expected.append(network(standardise(pad_crop_flip(batch, generator), METADATA)).exp())
    averaged = predict_probabilities(network, batch, METADATA, "fp32", augmented_views=4, seed=7)
    np.testing.assert_allclose(averaged, torch.stack(expected).mean(dim=0).detach().numpy(), rtol=1e-5)
    plain = predict_probabilities(network, batch, METADATA, "fp32")
    np.testing.assert_allclose(plain, expected[0].detach().numpy(), rtol=1e-5)
    assert not np.allclose(plain, averaged)


def test_scores() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    scores = Scores.of(probabilities, np.array([0, 1, 1]))
    assert scores.accuracy == 2 / 3
    assert scores.log_loss == -np.mean(np.log([0.9, 0.8, 0.4]))
    labels = np.zeros(6, dtype=np.int64)
    assert 0.0 <= score(Probe(), images(), labels, METADATA, "fp32", tta=True).accuracy <= 1.0


def test_a_limited_test_set_is_a_seeded_sample_across_classes() -> None:
    """The archive is ordered by class, so the first N images would be one class; a sample is spread out."""
    labels = np.repeat(np.arange(10), 1000)
    index = limited_test_indices(len(labels), 500, seed=0)
    assert len(index) == 500 and list(index) == sorted(set(index))
    assert np.array_equal(index, limited_test_indices(len(labels), 500, seed=0))
    assert len(set(labels[index])) == 10
    assert np.array_equal(limited_test_indices(12, None, seed=0), np.arange(12))
