"""When a reduced precision (int8, bf16) may be served: it must give fp32's answers and fp32's heatmaps.

A faster forward that moves labels or heatmaps changes what users see, so reduced precisions are compared
with fp32 on the same photos, and served only where every figure clears its bar. ``camserve quantize``
measures them on the validation split and on full-resolution photos and records them beside the weights
(``GateRecord``); runtimes read the record before serving anything but fp32. numpy only: reading the
record costs no runtime import.

The peak measure asks whether the reduced-precision map's top cell is worth at least 0.9 of fp32's top
value on fp32's own map, not whether it is the same cell: coarse maps often have two near-equal top cells,
and picking the other one of two equals changes nothing a person sees.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from camserve.models.evaluation.calibration import accuracy
from camserve.models.files import atomic_write, file_sha256
from camserve.models.inference.cam import normalise, weighted_cam
from camserve.models.inference.predictor import Prediction

__all__ = [
    "GATE",
    "GateFigures",
    "GateRecord",
    "GateThresholds",
    "Int8Files",
    "compare",
    "gate_record_path",
    "int8_files",
    "load_gate_record",
    "peak_kept",
    "photo_agrees",
]


@dataclass(frozen=True)
class GateThresholds:
    """The bars a reduced precision must clear against fp32, on every photo set it is measured on."""

    min_label_agreement: float = 0.995
    max_accuracy_drop_points: float = 0.2
    min_mean_cam_pearson: float = 0.99
    max_mean_abs_map_difference: float = 0.03
    min_peak_share: float = 0.99  # of photos whose peak cell is worth >= PEAK_WORTH of fp32's maximum
    peak_worth: float = 0.9


GATE = GateThresholds()


@dataclass(frozen=True)
class GateFigures:
    """One reduced precision against fp32 on one photo set; ``failures`` says which bars it missed."""

    photos: int
    label_agreement: float
    accuracy_fp32: float
    accuracy: float
    mean_cam_pearson: float
    mean_abs_map_difference: float
    peak_share: float
    same_peak_cell: float
    max_probability_difference: float
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


def _pearson(first: np.ndarray, second: np.ndarray) -> float:
    """Pearson correlation of two maps; two flat maps agree (1.0), one flat map against a shaped one does not."""
    a, b = first.ravel().astype(np.float64), second.ravel().astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms < 1e-12:
        return 1.0 if np.allclose(first, second, atol=1e-6) else 0.0
    return float(a @ b / norms)


def peak_kept(reference_cam: np.ndarray, candidate_cam: np.ndarray, worth: float = GATE.peak_worth) -> bool:
    """Whether the candidate's top cell is worth at least ``worth`` of the reference's top value, on the
    reference's own map: the peak a person sees has not moved to a cell fp32 thought unimportant."""
    return float(reference_cam.ravel()[candidate_cam.argmax()]) >= worth * float(reference_cam.max())


def photo_agrees(reference: Prediction, candidate: Prediction, thresholds: GateThresholds = GATE) -> bool:
    """The gate's two per-photo questions at once: the same label, and the heatmap's peak kept."""
    return reference.label_index() == candidate.label_index() and peak_kept(
        weighted_cam(reference.class_maps, reference.probabilities),
        weighted_cam(candidate.class_maps, candidate.probabilities),
        thresholds.peak_worth,
    )


def compare(
    reference: Sequence[Prediction],
    candidate: Sequence[Prediction],
    labels: Sequence[int],
    thresholds: GateThresholds = GATE,
) -> GateFigures:
    """Every gate figure of ``candidate`` against the fp32 ``reference``, photo by photo, and the bars missed."""
    if not (len(reference) == len(candidate) == len(labels)) or not labels:
        raise ValueError(f"need the same photos on both sides: {len(reference)}, {len(candidate)}, {len(labels)}")
    truth = np.asarray(labels)
    ref_probs = np.stack([p.probabilities for p in reference])
    cand_probs = np.stack([p.probabilities for p in candidate])
    ref_cams = [weighted_cam(p.class_maps, p.probabilities) for p in reference]
    cand_cams = [weighted_cam(p.class_maps, p.probabilities) for p in candidate]
    pearson = [_pearson(r, c) for r, c in zip(ref_cams, cand_cams, strict=True)]
    abs_diff = [float(np.abs(normalise(r) - normalise(c)).mean()) for r, c in zip(ref_cams, cand_cams, strict=True)]
    peak_worth = [peak_kept(r, c, thresholds.peak_worth) for r, c in zip(ref_cams, cand_cams, strict=True)]
    same_cell = [int(r.argmax()) == int(c.argmax()) for r, c in zip(ref_cams, cand_cams, strict=True)]
    figures = GateFigures(
        photos=len(truth),
        label_agreement=float((ref_probs.argmax(axis=1) == cand_probs.argmax(axis=1)).mean()),
        accuracy_fp32=accuracy(ref_probs, truth),
        accuracy=accuracy(cand_probs, truth),
        mean_cam_pearson=float(np.mean(pearson)),
        mean_abs_map_difference=float(np.mean(abs_diff)),
        peak_share=float(np.mean(peak_worth)),
        same_peak_cell=float(np.mean(same_cell)),
        max_probability_difference=float(np.abs(ref_probs - cand_probs).max()),
    )
    return replace(figures, failures=_failures(figures, thresholds))


def _failures(figures: GateFigures, bars: GateThresholds) -> tuple[str, ...]:
    checks = (
        (figures.label_agreement >= bars.min_label_agreement, f"label agreement < {bars.min_label_agreement}"),
        (
            (figures.accuracy_fp32 - figures.accuracy) * 100 <= bars.max_accuracy_drop_points,
            f"accuracy more than {bars.max_accuracy_drop_points} points below fp32",
        ),
        (figures.mean_cam_pearson >= bars.min_mean_cam_pearson, f"mean CAM Pearson < {bars.min_mean_cam_pearson}"),
        (
            figures.mean_abs_map_difference <= bars.max_mean_abs_map_difference,
            f"mean |map difference| > {bars.max_mean_abs_map_difference}",
        ),
        (
            figures.peak_share >= bars.min_peak_share,
            f"peak worth >= {bars.peak_worth} of fp32's maximum on < {bars.min_peak_share} of photos",
        ),
    )
    return tuple(reason for ok, reason in checks if not ok)


@dataclass(frozen=True)
class Int8Files:
    """The quantised graph's two files (``camserve.models.graphs.quantize``), beside the weights they were made from."""

    xml: Path
    bin: Path

    def sha256(self) -> str:
        """One digest of both files: a record names the exact graph it measured."""
        digest = hashlib.sha256()
        for path in (self.xml, self.bin):
            digest.update(path.read_bytes())
        return digest.hexdigest()


def int8_files(weights_path: Path) -> Int8Files:
    weights_path = Path(weights_path)
    return Int8Files(weights_path.with_suffix(".int8.xml"), weights_path.with_suffix(".int8.bin"))


def gate_record_path(weights_path: Path) -> Path:
    """``weights/<name>.gate.json``: the gate's figures for these weights, shipped beside them."""
    return Path(weights_path).with_suffix(".gate.json")


@dataclass(frozen=True)
class GateRecord:
    """What ``camserve quantize`` measured for one checkpoint: per ``runtime:precision``, per photo set, the
    figures; plus how it was measured. Valid only for the weights whose hash it names."""

    weights_sha256: str
    results: dict[str, dict[str, GateFigures]]
    artifacts: dict[str, str] = field(default_factory=dict)  # runtime:precision -> digest of its own files
    measured: dict[str, Any] = field(default_factory=dict)

    def passed(self, runtime: str, precision: str) -> bool:
        """Measured, on at least one photo set, and passed on every one."""
        sets = self.results.get(f"{runtime}:{precision}", {})
        return bool(sets) and all(figures.passed for figures in sets.values())

    def write(self, path: Path) -> None:
        with atomic_write(path) as staged:
            staged.write_text(json.dumps(asdict(self), indent=2) + "\n")


def load_gate_record(weights_path: Path) -> GateRecord | None:
    """The record for exactly these weights, or None: absent, unreadable, or measured on other weights."""
    path = gate_record_path(weights_path)
    try:
        data = json.loads(path.read_text())
        results = {
            key: {name: GateFigures(**{**f, "failures": tuple(f["failures"])}) for name, f in sets.items()}
            for key, sets in data["results"].items()
        }
        record = GateRecord(data["weights_sha256"], results, data.get("artifacts", {}), data.get("measured", {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if record.weights_sha256 == file_sha256(weights_path) else None
