"""Derived open protocols: the hand-computed subset of assigned runs, and the open report."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.open_protocols import agent_answers, derive_open, open_summary


def row(protocol, qid, swapped, correct_index, verdict, consultant_correct=None):
    return {"protocol": protocol, "question_id": qid, "swapped": swapped, "correct_index": correct_index,
            "verdict": verdict, "correct": verdict == correct_index, "consultant_correct": consultant_correct}


# The agent's direct QA: q1 right in both orders, q2 wrong on average (0.7 and 0.1 -> 0.4), q3 a tie.
QA = pd.DataFrame([
    {"question_id": "q1", "p_correct": 0.9}, {"question_id": "q1", "p_correct": 0.6},
    {"question_id": "q2", "p_correct": 0.7}, {"question_id": "q2", "p_correct": 0.1},
    {"question_id": "q3", "p_correct": 0.5},
])

CONSULTANCY = pd.DataFrame([
    row("consultancy", "q1", False, 0, 0, consultant_correct=True),    # kept: agent right, argued correct
    row("consultancy", "q1", False, 0, 1, consultant_correct=False),   # dropped
    row("consultancy", "q2", True, 1, 0, consultant_correct=False),    # kept: agent wrong, argued incorrect
    row("consultancy", "q2", True, 1, 1, consultant_correct=True),     # dropped
    row("consultancy", "q3", False, 0, 0, consultant_correct=True),    # dropped: the agent gave no answer
])

DEBATE = pd.DataFrame([
    row("debate", "q1", False, 0, 0), row("debate", "q1", True, 1, 0),
    row("debate", "q2", False, 0, 1), row("debate", "q3", False, 0, None),
])


def test_agent_answers_average_the_orders_and_drop_ties():
    assert agent_answers(QA).to_dict() == {"q1": True, "q2": False}


def test_derived_open_consultancy_is_the_hand_computed_subset():
    out = derive_open(CONSULTANCY, QA)
    assert list(zip(out["question_id"], out["consultant_correct"])) == [("q1", True), ("q2", False)]
    assert list(out["protocol"]) == ["open-consultancy (derived)"] * 2
    # q1: agent right -> chose the correct index 0; q2 (swapped, correct index 1): agent wrong -> chose 0.
    assert list(out["agent_choice"]) == [0, 0]
    assert list(out["judge_agrees"]) == [True, True]


def test_derived_open_debate_keeps_every_episode_and_names_the_protagonist():
    out = derive_open(DEBATE, QA)
    assert list(out["question_id"]) == ["q1", "q1", "q2"]
    assert list(out["agent_choice"]) == [0, 1, 1]
    assert list(out["protagonist"]) == ["debater_a", "debater_b", "debater_b"]
    assert list(out["judge_agrees"]) == [True, False, True]


def test_open_summary_splits_accuracy_by_agent_right_and_wrong():
    summary = open_summary(derive_open(pd.concat([CONSULTANCY, DEBATE]), QA))
    debate = summary.loc["open-debate (derived)"]
    assert debate["episodes"] == 3 and debate["agent_correct"] == pytest.approx(2 / 3)
    assert debate["accuracy_agent_right"] == pytest.approx(1 / 2)  # q1 orders: right, wrong
    assert debate["accuracy_agent_wrong"] == 0.0 and debate["judge_agrees"] == pytest.approx(2 / 3)
    consult = summary.loc["open-consultancy (derived)"]
    assert consult["accuracy_agent_right"] == 1.0 and consult["accuracy_agent_wrong"] == 0.0


def test_only_assigned_protocols_can_be_derived():
    with pytest.raises(ValueError, match="assigned consultancy or debate"):
        derive_open(pd.DataFrame([row("direct", "q1", False, 0, 0)]), QA)


def test_an_invalid_verdict_neither_agrees_nor_is_correct():
    out = derive_open(pd.DataFrame([row("debate", "q1", False, 0, None)]), QA)
    assert out["judge_agrees"].isna().all()
    summary = open_summary(out)
    assert summary.iloc[0]["judge_agrees"] == 0.0 and summary.iloc[0]["accuracy"] == 0.0
    assert math.isnan(summary.iloc[0]["accuracy_agent_wrong"])
