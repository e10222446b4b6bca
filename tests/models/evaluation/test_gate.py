"""The accuracy gate: each bar fails the candidate that misses it, and a record counts only for its own weights."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from camserve.models.evaluation.gate import (
    GateRecord,
    compare,
    gate_record_path,
    int8_files,
    load_gate_record,
    peak_kept,
    photo_agrees,
)
from camserve.models.files import file_sha256
from camserve.models.inference.predictor import Prediction

PHOTOS = 400


def predictions(seed: int = 0) -> tuple[list[Prediction], list[int]]:
    """Confident two-class predictions with 5x5 maps whose peak cell stands clear, and their true labels."""
    rng = np.random.default_rng(seed)
    result, labels = [], []
    for _ in range(PHOTOS):
        label = int(rng.integers(2))
        probabilities = np.full(2, 0.05, dtype=np.float32)
        probabilities[label] = 0.95
        maps = rng.uniform(0.0, 1.0, (2, 5, 5)).astype(np.float32)
        maps[label, rng.integers(5), rng.integers(5)] = 5.0
        result.append(Prediction(probabilities, maps))
        labels.append(label)
    return result, labels


def with_peak_moved(prediction: Prediction) -> Prediction:
    """The same probabilities, with the predicted class's peak moved two cells away and its old cell zeroed."""
    maps = prediction.class_maps.copy()
    label = prediction.label_index()
    peak = np.unravel_index(maps[label].argmax(), maps[label].shape)
    maps[label][peak] = 0.0
    maps[label][(peak[0] + 2) % 5, (peak[1] + 2) % 5] = 5.0
    return Prediction(prediction.probabilities, maps)


def test_identical_predictions_pass_every_bar() -> None:
    reference, labels = predictions()
    figures = compare(reference, reference, labels)
    assert figures.passed
    assert (figures.label_agreement, figures.mean_cam_pearson, figures.peak_share) == (1.0, 1.0, 1.0)
    assert figures.mean_abs_map_difference == 0.0
    assert figures.accuracy == figures.accuracy_fp32 == 1.0


def test_small_noise_passes() -> None:
    reference, labels = predictions()
    rng = np.random.default_rng(1)
    noisy = [Prediction(p.probabilities, p.class_maps + rng.normal(0, 0.01, p.class_maps.shape)) for p in reference]
    assert compare(reference, noisy, labels).passed


def test_flipped_labels_fail_agreement_and_accuracy() -> None:
    reference, labels = predictions()
    flipped = [Prediction(p.probabilities[::-1].copy(), p.class_maps) if i < 4 else p for i, p in enumerate(reference)]
    failures = compare(reference, flipped, labels).failures
    assert any("label agreement" in reason for reason in failures)
    assert any("accuracy" in reason for reason in failures)


def test_a_moved_peak_fails_though_labels_agree() -> None:
    """The trap the gate exists for: same answers, but the heatmap points elsewhere."""
    reference, labels = predictions()
    moved = [with_peak_moved(p) for p in reference[:8]]
    figures = compare(reference, moved + reference[8:], labels)
    assert figures.label_agreement == 1.0
    assert figures.peak_share == 1 - 8 / PHOTOS
    assert any("peak" in reason for reason in figures.failures)


def test_a_peak_is_kept_on_a_near_equal_cell_and_lost_on_a_weak_one() -> None:
    reference = np.array([[1.0, 0.95], [0.5, 0.0]], dtype=np.float32)
    assert peak_kept(reference, reference)
    assert peak_kept(reference, np.array([[0.9, 1.0], [0.0, 0.0]], dtype=np.float32))  # 0.95 >= 0.9 of 1.0
    assert not peak_kept(reference, np.array([[0.0, 0.0], [1.0, 0.0]], dtype=np.float32))  # 0.5 < 0.9


def test_a_photo_agrees_only_with_the_same_label_and_the_peak_kept() -> None:
    reference = predictions()[0][0]
    assert photo_agrees(reference, reference)
    assert not photo_agrees(reference, Prediction(reference.probabilities[::-1].copy(), reference.class_maps))
    assert not photo_agrees(reference, with_peak_moved(reference))


def test_flat_maps_agree_with_flat_maps_only() -> None:
    flat = Prediction(np.array([0.9, 0.1], dtype=np.float32), np.zeros((2, 5, 5), dtype=np.float32))
    assert compare([flat], [flat], [0]).mean_cam_pearson == 1.0
    shaped, _ = predictions()
    assert compare([flat], [replace(shaped[0], probabilities=flat.probabilities)], [0]).mean_cam_pearson == 0.0


def test_mismatched_photo_counts_are_refused() -> None:
    reference, labels = predictions()
    with pytest.raises(ValueError, match="same photos"):
        compare(reference, reference[:-1], labels)


def test_a_record_counts_for_its_own_weights_only(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    reference, labels = predictions()
    figures = compare(reference, reference, labels)
    GateRecord(file_sha256(weights), {"openvino:int8": {"validation": figures}}).write(gate_record_path(weights))
    record = load_gate_record(weights)
    assert record is not None and record.passed("openvino", "int8")
    assert not record.passed("openvino", "bf16")  # never measured is not passed
    weights.write_bytes(b"other weights")
    assert load_gate_record(weights) is None


def test_a_failure_on_any_photo_set_fails_the_candidate() -> None:
    reference, labels = predictions()
    good = compare(reference, reference, labels)
    bad = replace(good, failures=("label agreement < 0.995",))
    record = GateRecord("x", {"openvino:int8": {"validation": good, "full_resolution": bad}})
    assert not record.passed("openvino", "int8")


def test_an_unreadable_record_is_no_record(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    gate_record_path(weights).write_text("{not json")
    assert load_gate_record(weights) is None


def test_int8_files_sit_beside_the_weights(tmp_path: Path) -> None:
    files = int8_files(tmp_path / "camserve-resnet34.safetensors")
    assert (files.xml.name, files.bin.name) == ("camserve-resnet34.int8.xml", "camserve-resnet34.int8.bin")
