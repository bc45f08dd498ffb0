"""ECE, temperature fitting and the confusion matrix on small known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import confusion_matrix, expected_calibration_error, fit_temperature, nll, softmax


def test_ece_of_known_bins() -> None:
    # Two samples at confidence 0.9 (one right), two at 0.6 (both right): |0.9 - 0.5| / 2 + |0.6 - 1| / 2.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 1])
    assert expected_calibration_error(probs, labels, bins=15) == pytest.approx(0.4)


def test_fit_temperature_recovers_the_generating_temperature() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 2, (4000, 10))
    probs = softmax(base)
    labels = (probs.cumsum(axis=1) < rng.uniform(size=(len(probs), 1))).sum(axis=1)  # one draw per row
    temperature = fit_temperature(base * 3.0, labels)  # logits 3x too sharp
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert nll(base * 3.0, labels, temperature) < nll(base * 3.0, labels)


def test_confusion_matrix_rows_are_true_labels() -> None:
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), classes=3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
