"""Order-debiased accuracy beside the raw one, and the shares of degraded paths."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.debias import debiased_units, degraded_shares, log_odds
from analysis.metrics import accuracy_table


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def episode(question: str, swapped: bool, p_correct: float, invalid: bool = False, **extra) -> dict:
    """One judged episode; the correct answer is shown first in the original order, second when swapped."""
    correct_index = 1 if swapped else 0
    p1 = 1 - p_correct if swapped else p_correct
    verdict = None if invalid else (0 if p1 > 0.5 else 1)
    return {"question_id": question, "protocol": "debate", "task": "math", "judge": "j", "swapped": swapped,
            "correct_index": correct_index, "p_answer1": p1, "p_answer2": 1 - p1, "p_correct": p_correct,
            "verdict": verdict, "correct": verdict == correct_index, "invalid": invalid, **extra}


def biased_judge(signals: list[float], bias: float) -> pd.DataFrame:
    """Each question in both answer orders, judged by P(first answer) = sigmoid(bias + s * (+1 if the first
    answer is correct else -1)): a position bias `bias` and a per-question signal s toward the truth."""
    rows = []
    for i, s in enumerate(signals):
        rows.append(episode(f"q{i}", False, sigmoid(bias + s)))        # correct first: P(correct) = P(first)
        rows.append(episode(f"q{i}", True, 1 - sigmoid(bias - s)))     # correct second: P(correct) = 1 - P(first)
    return pd.DataFrame(rows)


def test_the_pairing_rule_by_hand():
    frame = pd.DataFrame([
        # q1: logit(.9) = 2.197, logit(.4) = -0.405: mean 0.896 > 0, correct (raw: 1 of 2 right)
        episode("q1", False, 0.9), episode("q1", True, 0.4),
        # q2: logit(.6) = 0.405, logit(.2) = -1.386: mean -0.490 < 0, wrong (raw: 1 of 2)
        episode("q2", False, 0.6), episode("q2", True, 0.2),
        # q3: one order invalid (probabilities kept, 0.99): the unit is invalid, so wrong
        episode("q3", False, 0.99, invalid=True), episode("q3", True, 0.7),
        # q4: logit(.8) = 1.386 = -logit(.2): mean exactly 0, no preference left: invalid
        episode("q4", False, 0.8), episode("q4", True, 0.2),
        # q5: only one order played: no unit
        episode("q5", False, 0.9),
    ])
    units = debiased_units(frame).set_index("question_id")
    assert sorted(units.index) == ["q1", "q2", "q3", "q4"]
    assert units["correct"].to_dict() == {"q1": True, "q2": False, "q3": False, "q4": False}
    assert units["invalid"].to_dict() == {"q1": False, "q2": False, "q3": True, "q4": True}
    assert units.loc["q1", "p_correct"] == pytest.approx(sigmoid((math.log(9) + math.log(0.4 / 0.6)) / 2))
    assert units.loc["q1", "raw_correct"] == 0.5 and units.loc["q1", "difference"] == 0.5
    [row] = accuracy_table(frame, by=["protocol"], debiased=True, n_boot=200).to_dict("records")
    # raw: q1 1/2, q2 1/2, q3 1/2 (the invalid order counts wrong), q4 1/2, q5 1/1 -> (4 * .5 + 1) / 5 = .6
    assert row["accuracy"] == pytest.approx(0.6)
    assert row["debiased_units"] == 4 and row["debiased_accuracy"] == pytest.approx(1 / 4)
    assert row["debiased_invalid_rate"] == pytest.approx(2 / 4)
    # paired difference over the 4 units' questions: (.5 - .5 - .5 - .5) / 4
    assert row["difference"] == pytest.approx(-0.25)
    assert row["difference_ci_low"] <= row["difference"] <= row["difference_ci_high"]


def test_probabilities_are_clipped_before_the_log_odds():
    # P(correct) 1.0 and 0.3: unclipped the mean would be +inf; clipped, logit(1 - 1e-6) = 13.8155 wins.
    assert log_odds(np.array([1.0]))[0] == pytest.approx(math.log((1 - 1e-6) / 1e-6))
    units = debiased_units(pd.DataFrame([episode("q", False, 1.0), episode("q", True, 0.3)]))
    assert units["p_correct"].iloc[0] == pytest.approx(sigmoid((13.815510 + math.log(0.3 / 0.7)) / 2), rel=1e-6)


def test_consultancy_pairs_keep_the_side_the_consultant_argued():
    # The consultant argues the correct answer in pair A and the wrong one in pair B, in both orders; a judge
    # that follows the consultant is right in A and wrong in B whatever the order: debiasing cannot fix that.
    rows = []
    for swapped in (False, True):
        for side, argued_correct in ((0, True), (1, False)):
            presented = side if not swapped else 1 - side   # the consultant argues the same answer in both orders
            p = 0.9 if argued_correct else 0.1
            rows.append(episode("q", swapped, p, protocol="consultancy",
                                assignment=f'{{"consultant": {presented}}}'))
    units = debiased_units(pd.DataFrame(rows))
    assert len(units) == 2 and sorted(units["correct"]) == [False, True]


def test_per_episode_debiased_rows_count_as_they_were_decided():
    # Judged with both label orders inside each episode: `correct` is the debiased decision, `correct_raw` the
    # presented-order one. Two questions in one order only: still one unit per episode.
    rows = [episode("q1", False, 0.7, debiased=True, correct_raw=False, invalid_raw=False),
            episode("q2", False, 0.3, debiased=True, correct_raw=True, invalid_raw=False)]
    [row] = accuracy_table(pd.DataFrame(rows), by=["protocol"], debiased=True, n_boot=200).to_dict("records")
    assert row["accuracy"] == pytest.approx(0.5)            # raw: q1 wrong, q2 right
    assert row["debiased_units"] == 2 and row["debiased_accuracy"] == pytest.approx(0.5)  # q1 right, q2 wrong
    assert row["difference"] == pytest.approx(0.0)


def test_a_group_with_no_unit_has_no_debiased_accuracy():
    frame = pd.DataFrame([episode("q1", False, 0.9), episode("q2", False, 0.2)])  # one order each
    [row] = accuracy_table(frame, by=["protocol"], debiased=True, n_boot=200).to_dict("records")
    assert row["accuracy"] == pytest.approx(0.5) and math.isnan(row["debiased_accuracy"])


def test_a_planted_position_bias_hides_the_signal_and_debiasing_recovers_it():
    rng = np.random.default_rng(0)
    signals = rng.normal(0.6, 1.0, 400).tolist()     # 400 questions, P(s > 0) = 0.726
    frame = biased_judge(signals, bias=6.0)           # the judge picks the first answer in every episode
    [row] = accuracy_table(frame, by=["protocol"], debiased=True, n_boot=500).to_dict("records")
    assert row["accuracy"] == pytest.approx(0.5)
    truth = float(np.mean(np.array(signals) > 0))
    assert row["debiased_accuracy"] == pytest.approx(truth)
    assert abs(row["debiased_accuracy"] - 0.726) < 0.06
    assert row["difference_ci_low"] > 0  # debiasing changes the answer, and the paired CI says so


@settings(max_examples=60, deadline=None)
@given(bias=st.floats(-6, 6), signals=st.lists(st.floats(-4, 4).filter(lambda s: abs(s) > 1e-3), min_size=1,
                                                max_size=20))
def test_debiased_log_odds_equal_the_planted_signal(bias, signals):
    units = debiased_units(biased_judge(signals, bias)).set_index("question_id")
    # logit P(correct) is bias + s in one order and s - bias in the other: the mean is s, whatever the bias.
    for i, s in enumerate(signals):
        assert log_odds(units.loc[f"q{i}", "p_correct"]) == pytest.approx(s, abs=1e-6)
        assert bool(units.loc[f"q{i}", "correct"]) == (s > 0)


def test_degraded_shares_by_hand():
    frame = pd.DataFrame([
        {"protocol": "open-debate", "judge": "j", "decision_method": "structured", "agent_choice_valid": False,
         "agent_turns": 2, "invalid_turns": 1, "lenient_turns": 1, "retried_turns": 2},
        {"protocol": "open-debate", "judge": "j", "decision_method": "logprobs", "agent_choice_valid": True,
         "agent_turns": 2, "invalid_turns": 0, "lenient_turns": 0, "retried_turns": 1},
        # an older run's row: no method, no choice flag, no lenient/retried counts -> the defaults
        {"protocol": "open-debate", "judge": "j", "decision_method": None, "agent_choice_valid": None,
         "agent_turns": 4, "invalid_turns": 1, "lenient_turns": None, "retried_turns": None},
        {"protocol": "direct", "judge": "j", "decision_method": "logprobs", "agent_choice_valid": None,
         "agent_turns": None, "invalid_turns": None, "lenient_turns": None, "retried_turns": None},
    ])
    shares = degraded_shares(frame, ["protocol"]).set_index("protocol")
    # open-debate: 1 structured of 3; 1 invalid choice of 3; turns 8: invalid 2, lenient 1, retried 3
    assert shares.loc["open-debate", "structured_share"] == pytest.approx(1 / 3)
    assert shares.loc["open-debate", "choice_invalid_share"] == pytest.approx(1 / 3)
    assert shares.loc["open-debate", "invalid_turn_share"] == pytest.approx(2 / 8)
    assert shares.loc["open-debate", "lenient_turn_share"] == pytest.approx(1 / 8)
    assert shares.loc["open-debate", "retried_turn_share"] == pytest.approx(3 / 8)
    # direct QA: no agent turns and no agent choice
    assert math.isnan(shares.loc["direct", "invalid_turn_share"])
    assert math.isnan(shares.loc["direct", "choice_invalid_share"])


def test_old_results_without_the_new_columns_work_and_show_only_the_shares_they_record():
    frame = biased_judge([1.0, -1.0], bias=0.0).assign(agent_turns=2, invalid_turns=0)
    shares = degraded_shares(frame, ["protocol"])
    assert list(shares.columns) == ["protocol", "invalid_turn_share"]
    table = accuracy_table(frame, by=["protocol"], debiased=True, n_boot=100)
    assert table["debiased_accuracy"].iloc[0] == pytest.approx(0.5)
