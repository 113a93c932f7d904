"""Brier score, ECE and reliability curve against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.calibration import brier_score, calibration_table, expected_calibration_error, reliability_curve


def test_brier_score_by_hand():
    assert brier_score([1.0, 0.5, 0.8, np.nan]) == pytest.approx((0 + 0.25 + 0.04) / 3)


def test_ece_and_reliability_by_hand():
    confidence, correct = np.array([0.95, 0.95, 0.65, 0.65]), np.array([1, 0, 1, 1])
    curve = reliability_curve(confidence, correct)
    assert curve[["count", "confidence", "accuracy"]].values.tolist() == [[2, 0.65, 1.0], [2, 0.95, 0.5]]
    # |1 - .65| and |.5 - .95|, each bin holding half the episodes.
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * 0.35 + 0.5 * 0.45)


def test_a_calibrated_judge_has_small_ece_and_an_overconfident_one_does_not():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20_000)
    calibrated = rng.random(20_000) < confidence
    assert expected_calibration_error(confidence, calibrated) < 0.02
    overconfident = rng.random(20_000) < 0.6
    assert expected_calibration_error(confidence, overconfident) > 0.1


def test_calibration_table_reads_judge_probabilities():
    frame = pd.DataFrame({"protocol": ["d"] * 3, "judge": ["j"] * 3, "p_answer1": [0.9, 0.2, np.nan],
                          "p_answer2": [0.1, 0.8, np.nan], "p_correct": [0.9, 0.2, np.nan],
                          "correct": [True, False, False]})
    [row] = calibration_table(frame).to_dict("records")
    assert row["episodes"] == 2
    assert row["brier"] == pytest.approx((0.01 + 0.64) / 2)
    assert row["mean_confidence"] == pytest.approx(0.85)
