"""int8 by post-training quantisation: NNCF calibrates the checkpoint's OpenVINO graph on training photos.

NNCF is OpenVINO's own quantiser: it inserts quantise/dequantise pairs with ranges from the calibration
photos and corrects the biases that rounding shifts, and OpenVINO then runs those layers as int8 (VNNI or
AMX where the CPU has them). The quantised graph is saved beside the weights (``weights/<name>.int8.xml``
and ``.bin``) because calibrating needs the training photos, which a serving machine does not have. It is
served only after ``camserve.models.evaluation.gate`` passes it (``camserve quantize`` runs both).

With control photos, NNCF's accuracy control scores the int8 graph on them with the gate's own per-photo
measure (same label, heatmap peak kept; ``camserve.models.evaluation.gate.photo_agrees``) and returns to float, one at
a time, the operations whose rounding costs most, until the score is within ``max_drop`` of fp32's. A graph
that already scores that well is returned as plain int8. The control photos are training photos, apart from
the calibration photos, so the gate's verdict on the validation split stays an independent check.
"""

import os
import random
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nncf
import numpy as np
import openvino

from camserve.models.dataset import ImageFolder
from camserve.models.evaluation.gate import Int8Files, photo_agrees
from camserve.models.inference.predictor import Prediction, Predictor
from camserve.models.inference.preprocess import prepare
from camserve.models.metadata import ModelMetadata
from camserve.models.runtimes.openvino import OpenVinoPredictor

__all__ = [
    "ControlPhoto",
    "control_photos",
    "draw_training_photos",
    "model_inputs",
    "predictions_on",
    "quantize_int8",
    "save_int8",
]

DECODE_THREADS = 2


@dataclass(frozen=True)
class ControlPhoto:
    """A training photo the accuracy control scores int8 on, with the fp32 reference's prediction for it."""

    pixels: np.ndarray  # (1, 3, S, S)
    reference: Prediction


def draw_training_photos(
    train: Sequence[int], calibration: int, control: int, seed: int = 0
) -> tuple[list[int], list[int]]:
    """``calibration`` training photos at random, and ``control`` others (never the same photo twice)."""
    calibration_indices = random.Random(seed).sample(list(train), min(calibration, len(train)))
    rest = sorted(set(train) - set(calibration_indices))
    return calibration_indices, random.Random(seed + 1).sample(rest, min(control, len(rest)))


def model_inputs(
    folder: ImageFolder, indices: Sequence[int], metadata: ModelMetadata, max_pixels: int
) -> list[np.ndarray]:
    """Each photo as a (1, 3, S, S) input through the service's own decoding and preprocessing, so the
    ranges are those serving sees."""
    return [prepare(folder.files[index].read_bytes(), metadata, max_pixels).pixels[None] for index in indices]


def control_photos(reference: Predictor, inputs: Sequence[np.ndarray]) -> list[ControlPhoto]:
    return [ControlPhoto(pixels, reference.predict(pixels)[0]) for pixels in inputs]


def quantize_int8(
    onnx_path: Path,
    inputs: Sequence[np.ndarray],
    metadata: ModelMetadata,
    control: Sequence[ControlPhoto] = (),
    max_drop: float = 0.005,
) -> openvino.Model:
    """The graph with int8 weights and activations, and with ``control`` photos, float where int8 would
    cost more than ``max_drop`` of the photos their label or peak. The mixed preset quantises activations
    asymmetrically (they follow ReLUs and residual sums, not zero-centred), weights symmetrically, as VNNI
    wants."""
    model = openvino.Core().read_model(onnx_path)
    calibration = nncf.Dataset(list(inputs))
    if not control:
        return nncf.quantize(model, calibration, preset=nncf.QuantizationPreset.MIXED, subset_size=len(inputs))

    def agreement(compiled: openvino.CompiledModel, photos: Iterable[ControlPhoto]) -> tuple[float, list[float]]:
        predictor = OpenVinoPredictor(compiled, metadata, "int8")  # NNCF compiled it; the label is not read
        agrees = [float(photo_agrees(photo.reference, predictor.predict(photo.pixels)[0])) for photo in photos]
        return float(np.mean(agrees)) if agrees else 1.0, agrees

    return nncf.quantize_with_accuracy_control(
        model,
        calibration,
        nncf.Dataset(list(control), lambda photo: photo.pixels),
        agreement,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(inputs),
    )


def save_int8(model: openvino.Model, files: Int8Files) -> None:
    """Write both files, each staged beside its target, flushed and renamed: never a half-written file. A
    crash between the two renames leaves a pair whose digest no gate record names, which is never served."""
    files.xml.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=files.xml.parent, prefix=".int8.") as staging:
        staged = Path(staging) / files.xml.name
        openvino.save_model(model, staged, compress_to_fp16=False)
        for name, target in ((files.bin.name, files.bin), (files.xml.name, files.xml)):
            with (Path(staging) / name).open("rb") as written:
                os.fsync(written.fileno())
            os.replace(Path(staging) / name, target)


def predictions_on(
    predictors: Sequence[Predictor], folder: ImageFolder, indices: Sequence[int], max_pixels: int, batch_size: int = 32
) -> list[list[Prediction]]:
    """Each predictor's predictions on the same photos, decoded once through the service's preprocessing, a
    batch at a time (memory holds one batch of inputs). What the gate compares."""
    metadata = predictors[0].metadata
    results: list[list[Prediction]] = [[] for _ in predictors]

    def load(index: int) -> np.ndarray:
        return prepare(folder.files[index].read_bytes(), metadata, max_pixels).pixels

    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        for start in range(0, len(indices), batch_size):
            batch = np.stack(list(pool.map(load, indices[start : start + batch_size])))
            for predictor, predictions in zip(predictors, results, strict=True):
                predictions.extend(predictor.predict(batch))
    return results
