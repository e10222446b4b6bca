"""Answers made by hand for the release evaluations' tests: an ``Evaluation`` from chosen probabilities, and a
predictor whose answer is a known function of its input."""

from dataclasses import dataclass, field

import numpy as np

from camserve.models.evaluation.folder import Evaluation
from camserve.models.evaluation.report import classification_report
from camserve.models.inference.predictor import Precision, Prediction
from camserve.models.metadata import ModelMetadata

CLASSES = ("cat", "dog")
METADATA = ModelMetadata(
    name="hand-made",
    version="1.0.0",
    architecture="resnet34",
    class_names=CLASSES,
    input_size=32,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    trained=True,
)


def two_class(first: list[float]) -> np.ndarray:
    """(N, 2) probabilities from each photo's probability of the first class."""
    cat = np.asarray(first, dtype=np.float64)
    return np.stack([cat, 1.0 - cat], axis=1)


def evaluation(
    probabilities: np.ndarray,
    labels: list[int],
    files: tuple[str, ...] | None = None,
    unzoomed: np.ndarray | None = None,
    zoomed: list[bool] | None = None,
) -> Evaluation:
    label_array = np.asarray(labels)
    return Evaluation(
        classification_report(probabilities, label_array, CLASSES),
        files if files is not None else tuple(f"photo-{i}.jpg" for i in range(len(labels))),
        label_array,
        probabilities,
        (),
        unzoomed,
        None if zoomed is None else np.asarray(zoomed),
    )


@dataclass
class LeftRightPredictor:
    """Says 'cat' in proportion to how much brighter the input's left half is than its right: a mirror image
    gets the opposite answer, so averaging the two gives exactly 0.5. Records every batch's shape."""

    metadata: ModelMetadata = METADATA
    runtime: str = "hand-made"
    device: str = "cpu"
    precision: Precision = "fp32"
    shapes: list[tuple[int, ...]] = field(default_factory=list)

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        self.shapes.append(batch.shape)
        half = batch.shape[-1] // 2
        lean = batch[..., :half].mean(axis=(1, 2, 3)) - batch[..., half:].mean(axis=(1, 2, 3))
        cat = 1.0 / (1.0 + np.exp(-4.0 * lean))
        maps = np.zeros((2, 2, 2), dtype=np.float32)
        return [Prediction(np.array([c, 1.0 - c], dtype=np.float32), maps) for c in cat]

    @property
    def hook_count(self) -> int:
        return 0
