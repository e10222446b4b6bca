"""``camserve evaluate``'s numbers, checked against values worked out by hand."""

import json
import math

import numpy as np
import pytest

from camserve.models.evaluation.report import LOG_LOSS_EPSILON, classification_report

NAMES = ("cat", "dog")


def test_report_matches_hand_computed_values() -> None:
    """Six photos: 3 cats (2 right), 3 dogs (all right). Rows of the confusion are true classes."""
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.4, 0.6], [0.1, 0.9]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    report = classification_report(probabilities, labels, NAMES)
    assert report.photos == 6
    assert report.accuracy == pytest.approx(5 / 6)
    expected_log_loss = -(math.log(0.9) + math.log(0.6) + math.log(0.3) + math.log(0.8) + math.log(0.6) + math.log(0.9))
    assert report.log_loss == pytest.approx(expected_log_loss / 6)
    assert report.confusion == ((2, 1), (0, 3))
    assert report.precision == pytest.approx((2 / 2, 3 / 4))  # of photos predicted cat / dog, how many were
    assert report.recall == pytest.approx((2 / 3, 3 / 3))  # of true cats / dogs, how many were found


def test_confusion_is_not_transposed() -> None:
    """A cat called dog counts in row cat, column dog: swapping the axes would swap precision and recall."""
    report = classification_report(np.array([[0.2, 0.8]]), np.array([0]), NAMES)
    assert report.confusion == ((0, 1), (0, 0))
    assert report.recall == (0.0, 0.0)


def test_log_loss_is_clipped_for_confident_mistakes() -> None:
    """A probability of exactly 0 on the true class costs -log(1e-7), not infinity."""
    report = classification_report(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 0]), NAMES)
    assert math.isfinite(report.log_loss)
    assert report.log_loss == pytest.approx(-math.log(LOG_LOSS_EPSILON) / 2)


def test_zero_division_gives_zero_not_nan() -> None:
    """No photo predicted dog and no true dog: precision and recall of dog are 0, not NaN or an error."""
    report = classification_report(np.array([[0.9, 0.1], [0.8, 0.2]]), np.array([0, 0]), NAMES)
    assert report.precision == (1.0, 0.0)
    assert report.recall == (1.0, 0.0)
    assert json.loads(json.dumps(report.to_dict()))["per_class"]["dog"] == {"precision": 0.0, "recall": 0.0}


def test_three_classes() -> None:
    probabilities = np.eye(3)[[0, 1, 2, 2]] * 0.7 + 0.1
    report = classification_report(probabilities, np.array([0, 1, 2, 1]), ("a", "b", "c"))
    assert report.confusion == ((1, 0, 0), (0, 1, 1), (0, 0, 1))
    assert report.precision == pytest.approx((1.0, 1.0, 0.5))
    assert report.recall == pytest.approx((1.0, 0.5, 1.0))


@pytest.mark.parametrize(("count", "label_count"), [(0, 0), (2, 3)])
def test_mismatched_or_empty_inputs_are_refused(count: int, label_count: int) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        classification_report(np.full((count, 2), 0.5), np.zeros(label_count, dtype=np.int64), NAMES)


def test_to_dict_is_json_with_the_documented_keys() -> None:
    report = classification_report(np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1]), NAMES)
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert set(as_dict) == {"photos", "accuracy", "log_loss", "per_class", "confusion"}
    assert as_dict["photos"] == 3
    assert as_dict["per_class"]["cat"] == {"precision": 0.5, "recall": 1.0}
    assert as_dict["per_class"]["dog"] == {"precision": 1.0, "recall": 0.5}
    assert as_dict["confusion"] == {"rows_true_columns_predicted": ["cat", "dog"], "counts": [[1, 0], [1, 1]]}


def test_format_is_a_readable_table() -> None:
    report = classification_report(np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1]), NAMES)
    lines = report.format().splitlines()
    assert lines[0].split() == ["photos", "3"]
    assert lines[1].split() == ["accuracy", "0.6667"]
    assert lines[2].split()[:2] == ["log", "loss"]
    assert ["cat", "0.5000", "1.0000"] in [line.split() for line in lines]
    assert ["dog", "1.0000", "0.5000"] in [line.split() for line in lines]
    confusion = lines.index("confusion (rows: true, columns: predicted)")
    assert lines[confusion + 1].split() == ["cat", "dog"]
    assert lines[confusion + 2].split() == ["cat", "1", "0"]
    assert lines[confusion + 3].split() == ["dog", "1", "1"]
