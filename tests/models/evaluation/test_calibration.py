"""Temperature scaling: it recovers a known miscalibration, leaves labels alone, and ECE measures the gap."""

import numpy as np
import pytest

from camserve.models.evaluation.calibration import Calibration, expected_calibration_error, fit_temperature, log_loss
from camserve.models.inference.predictor import calibrated_probabilities
from camserve.models.metadata import ModelMetadata


def calibrated_set(photos: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-class logits whose softmax is exactly calibrated: each label drawn with the stated probability."""
    rng = np.random.default_rng(seed)
    logits = np.stack([np.zeros(photos), rng.normal(0.0, 3.0, photos)], axis=1)
    probabilities = calibrated_probabilities(logits, 1.0)
    labels = (rng.random(photos) < probabilities[:, 1]).astype(int)
    return np.log(probabilities), labels


def test_temperature_one_is_the_networks_own_softmax() -> None:
    log_probs = np.log(np.array([[0.2, 0.8], [0.9, 0.1]], dtype=np.float32))
    np.testing.assert_allclose(calibrated_probabilities(log_probs, 1.0), np.exp(log_probs), atol=1e-6)


def test_scaling_never_moves_a_label() -> None:
    log_probs, _ = calibrated_set()
    for temperature in (0.3, 1.0, 4.0):
        scaled = calibrated_probabilities(log_probs, temperature)
        assert (scaled.argmax(axis=1) == log_probs.argmax(axis=1)).all()
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("distortion", [0.5, 2.0])
def test_fitting_undoes_a_known_distortion(distortion: float) -> None:
    """Logits made over- (x2) or under-confident (x0.5) come back to calibrated with T close to the factor."""
    log_probs, labels = calibrated_set()
    distorted = np.log(calibrated_probabilities(log_probs * distortion, 1.0))
    temperature = fit_temperature(distorted, labels)
    assert temperature == pytest.approx(distortion, rel=0.1)
    report = Calibration.measure(distorted, labels, temperature)
    assert report.ece_after < report.ece_before
    assert report.log_loss_after < report.log_loss_before


def test_ece_is_near_zero_when_calibrated_and_large_when_not() -> None:
    log_probs, labels = calibrated_set()
    assert expected_calibration_error(calibrated_probabilities(log_probs, 1.0), labels) < 0.02
    assert expected_calibration_error(calibrated_probabilities(log_probs, 0.25), labels) > 0.05


def test_log_loss_of_certain_right_answers_is_zero() -> None:
    assert log_loss(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == pytest.approx(0.0, abs=1e-9)


def test_metadata_refuses_an_absurd_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        ModelMetadata("m", "1", "resnet34", ("cat", "dog"), 144, temperature=0.0)
