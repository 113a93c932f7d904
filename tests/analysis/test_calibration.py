"""Brier score, ECE and reliability curve against hand-computed values; calibration on valid verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.calibration import (
    brier_score,
    calibration_table,
    expected_calibration_error,
    invalid_rate,
    reliability_curve,
    reliability_table,
    valid_verdicts,
)


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
    assert row["episodes"] == 3 and row["valid"] == 2  # no probabilities: not a valid verdict
    assert row["brier"] == pytest.approx((0.01 + 0.64) / 2)
    assert row["mean_confidence"] == pytest.approx(0.85)


# Five episodes, the correct answer first throughout (p_correct = p_answer1):
#   e1 0.90/0.10 valid, right      e2 0.70/0.30 valid, right     e3 0.40/0.60 valid, wrong
#   e4 0.20/0.80 INVALID (its top token was no label: probabilities kept, nothing chosen)
#   e5 no probabilities, INVALID
VERDICTS = pd.DataFrame({
    "protocol": ["consultancy"] * 5, "judge": ["j"] * 5,
    "p_answer1": [0.9, 0.7, 0.4, 0.2, np.nan], "p_answer2": [0.1, 0.3, 0.6, 0.8, np.nan],
    "p_correct": [0.9, 0.7, 0.4, 0.2, np.nan], "correct": [True, True, False, False, False],
    "invalid": [False, False, False, True, True]})


def test_the_valid_filter_and_the_invalid_rate_by_hand():
    assert valid_verdicts(VERDICTS).tolist() == [True, True, True, False, False]
    assert invalid_rate(VERDICTS) == pytest.approx(2 / 5)
    # A verdict whose `invalid` flag is missing counts as valid when it has probabilities.
    assert valid_verdicts(VERDICTS.drop(columns="invalid")).tolist() == [True] * 4 + [False]


def test_brier_and_ece_are_computed_on_valid_verdicts_by_hand():
    [row] = calibration_table(VERDICTS).to_dict("records")
    assert (row["episodes"], row["valid"]) == (5, 3)
    assert row["invalid_rate"] == pytest.approx(0.4)
    # Brier over e1-e3: (1-.9)² + (1-.7)² + (1-.4)² = .01 + .09 + .36 = .46, / 3 = .153333
    assert row["brier"] == pytest.approx(0.46 / 3)
    # Confidence max(P1, P2): .9 (right), .7 (right), .6 (wrong), in bins (.85,.9], (.65,.7], (.55,.6]:
    # ECE = 1/3 |1 - .9| + 1/3 |1 - .7| + 1/3 |0 - .6| = (.1 + .3 + .6) / 3 = 1/3
    assert row["ece"] == pytest.approx(1 / 3)
    assert row["mean_confidence"] == pytest.approx((0.9 + 0.7 + 0.6) / 3)
    # Counting e4 as a confident wrong answer (confidence .8) would give a different, mixed number:
    # bins (.75,.8] adds |0 - .8|: (.1 + .3 + .6 + .8) / 4 = .45.
    assert expected_calibration_error(np.array([0.9, 0.7, 0.6, 0.8]), np.array([1, 1, 0, 0])) == pytest.approx(0.45)
    assert row["ece"] != pytest.approx(0.45)


def test_the_reliability_curve_leaves_invalid_verdicts_out():
    curve = reliability_table(VERDICTS, by=("protocol",))
    assert curve["count"].sum() == 3 and 0.8 not in curve["confidence"].round(6).tolist()


def test_panel_calibration_is_on_valid_panel_decisions():
    from analysis.panels import panel_size_table

    # Two members' P(correct); NaN: the member abstained. Episode 2: both abstain, the panel decision is invalid.
    members = np.array([[0.8, np.nan], [np.nan, np.nan], [0.3, 0.4]])
    row = panel_size_table(members).set_index(["aggregation", "panel_size"]).loc[("mean", 2)]
    # mean panel: e1 0.8 (right), e2 invalid (counted wrong in accuracy), e3 0.35 (wrong)
    assert row["accuracy"] == pytest.approx(1 / 3) and row["invalid_rate"] == pytest.approx(1 / 3)
    # Brier over e1, e3: ((1 - .8)² + (1 - .35)²) / 2 = (.04 + .4225) / 2; scoring e2 as 0.5 would add .25
    assert row["brier"] == pytest.approx(0.23125)
    # ECE: confidence .8 right, .65 wrong, one bin each: (.2 + .65) / 2
    assert row["ece"] == pytest.approx(0.425)
