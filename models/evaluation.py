"""Score a checkpoint on a folder of photos through exactly the decoding and preprocessing the service uses."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from camserve.models.dataset import ImageFolder
from camserve.models.decode import PhotoRejected
from camserve.models.metadata import ModelMetadata
from camserve.models.predictor import Predictor
from camserve.models.preprocess import decode_for_model, to_model_input
from camserve.models.report import ClassificationReport, classification_report

TTA_ZOOM = 0.85
DECODE_THREADS = 2


@dataclass(frozen=True)
class Evaluation:
    report: ClassificationReport
    files: tuple[str, ...]
    labels: np.ndarray
    probabilities: np.ndarray
    failures: tuple[tuple[str, str], ...]


def photo_views(photo: Image.Image, tta: bool) -> list[Image.Image]:
    """The photo; with ``tta`` also its mirror image, a centre crop (85%) and its mirror, as the lesson's TTA
    averages flips and crops. Crops are taken from the decoded photo, so every view has full detail."""
    if not tta:
        return [photo]
    crop_w, crop_h = round(photo.width * TTA_ZOOM), round(photo.height * TTA_ZOOM)
    left, top = (photo.width - crop_w) // 2, (photo.height - crop_h) // 2
    crop = photo.crop((left, top, left + crop_w, top + crop_h))
    return [photo, ImageOps.mirror(photo), crop, ImageOps.mirror(crop)]


def model_inputs(data: bytes, metadata: ModelMetadata, max_pixels: int, tta: bool) -> np.ndarray:
    """(V, 3, S, S): the service's decode and preprocessing, once per view (view 0 is what the service sees)."""
    photo = decode_for_model(data, metadata, max_pixels).image
    return np.stack([to_model_input(view, metadata) for view in photo_views(photo, tta)])


def mean_probabilities(predictor: Predictor, views: list[np.ndarray]) -> np.ndarray:
    """(N, C): each photo's probabilities averaged over its views, all photos' views in one forward."""
    counts = [len(v) for v in views]
    flat = np.stack([p.probabilities for p in predictor.predict(np.concatenate(views))])
    return np.stack([chunk.mean(axis=0) for chunk in np.split(flat, np.cumsum(counts)[:-1])])


def evaluate_folder(
    predictor: Predictor,
    folder: ImageFolder,
    indices: Sequence[int],
    max_pixels: int,
    tta: bool = False,
    batch_size: int = 32,
) -> Evaluation:
    """Photos that cannot be decoded are listed in ``failures`` and left out of the metrics."""
    metadata = predictor.metadata
    if not indices:
        raise ValueError(f"{folder.root}: no photos to evaluate")

    def load(index: int) -> np.ndarray | str:
        try:
            return model_inputs(folder.files[index].read_bytes(), metadata, max_pixels, tta)
        except (OSError, PhotoRejected) as error:
            return str(error)

    files, labels, probabilities, failures = [], [], [], []
    with ThreadPoolExecutor(DECODE_THREADS) as pool, tqdm(total=len(indices), desc="evaluate", unit="photo") as bar:
        # One batch at a time, so memory holds a batch of inputs, not the whole folder's.
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            tensors = []
            for index, loaded in zip(chunk, pool.map(load, chunk), strict=True):
                if isinstance(loaded, str):
                    failures.append((folder.relative(index), loaded))
                    continue
                files.append(folder.relative(index))
                labels.append(folder.labels[index])
                tensors.append(loaded)
            if tensors:
                probabilities.append(mean_probabilities(predictor, tensors))
            bar.update(len(chunk))
    if not files:
        raise ValueError(f"{folder.root}: none of the {len(indices)} photos could be read")
    stacked, label_array = np.concatenate(probabilities), np.asarray(labels)
    report = classification_report(stacked, label_array, metadata.class_names)
    return Evaluation(report, tuple(files), label_array, stacked, tuple(failures))
