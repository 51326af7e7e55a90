"""Accuracy, NLL and expected calibration error against hand computations."""

import numpy as np
import pytest

from tricks import ensembles


def test_ece_by_hand():
    # 15 bins of width 1/15; confidences and the bins they fall in:
    #   0.97, 0.95 -> bin 14 (0.9333, 1]: accuracy 1/2, mean confidence 0.96 -> gap 0.46, weight 2/6
    #   0.70       -> bin 10 (0.6667, 0.7333]: accuracy 1, confidence 0.70 -> gap 0.30, weight 1/6
    #   0.40, 0.38 -> bin 5 (0.3333, 0.4]: accuracy 0, mean confidence 0.39 -> gap 0.39, weight 2/6
    #   0.10       -> bin 1 (0.0667, 0.1333]: accuracy 1, confidence 0.10 -> gap 0.90, weight 1/6
    confidence = np.array([0.97, 0.95, 0.70, 0.40, 0.38, 0.10])
    correct = np.array([True, False, True, False, False, True])
    expected = (2 * 0.46 + 0.30 + 2 * 0.39 + 0.90) / 6
    assert ensembles.expected_calibration_error(confidence, correct) == pytest.approx(expected, abs=1e-12)
    assert ensembles.ECE_BINS == 15


def test_ece_bin_edges_are_closed_on_the_right():
    # 1/15 belongs to bin 0 with 0.01, not to bin 1 with 0.1: a mixed bin averages before the gap.
    confidence = np.array([1 / 15, 0.01, 0.1])
    correct = np.array([True, False, False])
    bin0 = abs((1 + 0) - (1 / 15 + 0.01))
    assert ensembles.expected_calibration_error(confidence, correct) == pytest.approx((bin0 + 0.1) / 3)
    assert ensembles.expected_calibration_error(np.array([0.0, 1.0]), np.array([False, True])) == 0.0


def test_perfectly_calibrated_predictions_have_zero_ece():
    confidence = np.full(10, 0.7)
    correct = np.array([True] * 7 + [False] * 3)
    assert ensembles.expected_calibration_error(confidence, correct) == pytest.approx(0.0, abs=1e-12)


def test_summarize_by_hand():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.45, 0.05], [0.2, 0.2, 0.6]])
    labels = np.array([0, 1, 0, 2])
    result = ensembles.summarize(np.log(probs), labels)
    assert result["accuracy"] == 0.75
    assert result["nll"] == pytest.approx(-np.mean(np.log([0.7, 0.3, 0.5, 0.6])))
    # confidences 0.7 (bin 10, right), 0.6 and 0.6 (bin 8: one right, one wrong), 0.5 (bin 7, right)
    assert result["ece"] == pytest.approx((0.3 + abs(1 - 1.2) + 0.5) / 4)


def test_nll_is_infinite_when_the_label_has_no_probability():
    with np.errstate(divide="ignore"):
        assert ensembles.nll(np.log([[1.0, 0.0]]), np.array([1])) == float("inf")


def test_ece_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no examples"):
        ensembles.expected_calibration_error(np.array([]), np.array([]))
