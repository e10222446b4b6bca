"""Score a checkpoint on a folder of photos through exactly the decoding and preprocessing the service uses."""

from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from camserve.models.dataset import ImageFolder
from camserve.models.evaluation.report import ClassificationReport, classification_report
from camserve.models.inference.decode import PhotoRejected
from camserve.models.inference.predictor import Predictor
from camserve.models.inference.preprocess import PreparedPhoto, decode_for_model, prepare, to_model_input
from camserve.models.inference.zoom import CropBox, ZoomRule, combine, crop_input, zoom_box
from camserve.models.metadata import ModelMetadata

TTA_ZOOM = 0.85
DECODE_THREADS = 2


@dataclass(frozen=True)
class Evaluation:
    """With a zoom rule, ``probabilities`` are the zoomed answers; ``unzoomed`` the whole photos' own, and
    ``zoomed`` marks the photos whose crop was looked at."""

    report: ClassificationReport
    files: tuple[str, ...]
    labels: np.ndarray
    probabilities: np.ndarray
    failures: tuple[tuple[str, str], ...]
    unzoomed: np.ndarray | None = None
    zoomed: np.ndarray | None = None


@dataclass(frozen=True)
class _Photo:
    """What the zoom needs of a photo beyond its model input: its bytes, to cut the crop from."""

    data: bytes
    prepared: PreparedPhoto


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


def zoomed_probabilities(
    predictor: Predictor, photos: list[_Photo], rule: ZoomRule, max_pixels: int, pool: Executor
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, C) answers with zoom, (N, C) without, and which photos were zoomed: the service's zoom, batched."""
    metadata = predictor.metadata
    originals = predictor.predict(np.stack([photo.prepared.pixels for photo in photos]))
    boxes = [
        zoom_box(original, photo.prepared.width, photo.prepared.height, metadata.input_size, rule)
        for original, photo in zip(originals, photos, strict=True)
    ]
    cut = [(photo, box) for photo, box in zip(photos, boxes, strict=True) if box is not None]

    def crop(job: tuple[_Photo, CropBox]) -> np.ndarray:
        photo, box = job
        return crop_input(photo.data, box, photo.prepared.width, photo.prepared.height, metadata, max_pixels)

    crops = iter(predictor.predict(np.stack(list(pool.map(crop, cut)))) if cut else [])
    answers = [
        original.probabilities if box is None else combine(original, next(crops), rule)
        for original, box in zip(originals, boxes, strict=True)
    ]
    plain = np.stack([original.probabilities for original in originals])
    return np.stack(answers), plain, np.array([box is not None for box in boxes])


def answers_changed(before: np.ndarray, after: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """Photos that ``after`` answers right and ``before`` wrong (fixed), and the other way round (broken)."""
    right_before, right_after = before.argmax(axis=1) == labels, after.argmax(axis=1) == labels
    return int((right_after & ~right_before).sum()), int((right_before & ~right_after).sum())


def evaluate_folder(
    predictor: Predictor,
    folder: ImageFolder,
    indices: Sequence[int],
    max_pixels: int,
    tta: bool = False,
    batch_size: int = 32,
    zoom: ZoomRule | None = None,
) -> Evaluation:
    """Photos that cannot be decoded are listed in ``failures`` and left out of the metrics. ``zoom`` scores the
    service's CAM-guided zoom (and the same photos without it); it does not mix with the 4-view ``tta``."""
    metadata = predictor.metadata
    if not indices:
        raise ValueError(f"{folder.root}: no photos to evaluate")
    if zoom is not None and tta:
        raise ValueError("zoom is scored on its own, not with the 4-view TTA")

    def load(index: int) -> np.ndarray | _Photo | str:
        try:
            data = folder.files[index].read_bytes()
            if zoom is not None:
                return _Photo(data, prepare(data, metadata, max_pixels))
            return model_inputs(data, metadata, max_pixels, tta)
        except (OSError, PhotoRejected) as error:
            return str(error)

    files, labels, probabilities, failures = [], [], [], []
    unzoomed, zoomed = [], []
    with ThreadPoolExecutor(DECODE_THREADS) as pool, tqdm(total=len(indices), desc="evaluate", unit="photo") as bar:
        # One batch at a time, so memory holds a batch of inputs, not the whole folder's.
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            tensors, photos = [], []
            for index, loaded in zip(chunk, pool.map(load, chunk), strict=True):
                if isinstance(loaded, str):
                    failures.append((folder.relative(index), loaded))
                    continue
                files.append(folder.relative(index))
                labels.append(folder.labels[index])
                if isinstance(loaded, _Photo):
                    photos.append(loaded)
                else:
                    tensors.append(loaded)
            if tensors:
                probabilities.append(mean_probabilities(predictor, tensors))
            if photos and zoom is not None:
                answers, plain, looked = zoomed_probabilities(predictor, photos, zoom, max_pixels, pool)
                probabilities.append(answers)
                unzoomed.append(plain)
                zoomed.append(looked)
            bar.update(len(chunk))
    if not files:
        raise ValueError(f"{folder.root}: none of the {len(indices)} photos could be read")
    stacked, label_array = np.concatenate(probabilities), np.asarray(labels)
    report = classification_report(stacked, label_array, metadata.class_names)
    if zoom is None:
        return Evaluation(report, tuple(files), label_array, stacked, tuple(failures))
    return Evaluation(
        report, tuple(files), label_array, stacked, tuple(failures), np.concatenate(unzoomed), np.concatenate(zoomed)
    )
