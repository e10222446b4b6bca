"""int8 by post-training quantisation: NNCF calibrates the checkpoint's OpenVINO graph on training photos.

NNCF is OpenVINO's own quantiser: it inserts quantise/dequantise pairs with ranges from the calibration
photos and corrects the biases that rounding shifts, and OpenVINO then runs those layers as int8 (VNNI or
AMX where the CPU has them). The quantised graph is saved beside the weights (``weights/<name>.int8.xml``
and ``.bin``) because calibrating needs the training photos, which a serving machine does not have. It is
served only after ``camserve.models.gate`` passes it (``camserve quantize`` runs both).
"""

import os
import random
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nncf
import numpy as np
import openvino

from camserve.models.dataset import ImageFolder
from camserve.models.gate import Int8Files
from camserve.models.metadata import ModelMetadata
from camserve.models.predictor import Prediction, Predictor
from camserve.models.preprocess import prepare

__all__ = ["calibration_inputs", "predictions_on", "quantize_int8", "save_int8"]

DECODE_THREADS = 2


def calibration_inputs(
    folder: ImageFolder, train: Sequence[int], count: int, metadata: ModelMetadata, max_pixels: int, seed: int = 0
) -> list[np.ndarray]:
    """``count`` training photos drawn at random, each as a (1, 3, S, S) input through the service's own
    decoding and preprocessing, so the ranges are those serving sees."""
    chosen = random.Random(seed).sample(list(train), min(count, len(train)))
    return [prepare(folder.files[index].read_bytes(), metadata, max_pixels).pixels[None] for index in chosen]


def quantize_int8(onnx_path: Path, inputs: Sequence[np.ndarray]) -> openvino.Model:
    """The graph with int8 weights and activations. The mixed preset quantises activations asymmetrically
    (they follow ReLUs and residual sums, not zero-centred), weights symmetrically, as VNNI wants."""
    model = openvino.Core().read_model(onnx_path)
    return nncf.quantize(
        model,
        nncf.Dataset(list(inputs)),
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
