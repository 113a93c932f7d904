"""Derived open protocols: the hand-computed subset of assigned runs, invalid agent choices, the open report."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.open_protocols import agent_answers, derive_open, open_summary


def row(protocol, qid, swapped, correct_index, verdict, consultant_correct=None):
    return {"protocol": protocol, "question_id": qid, "swapped": swapped, "correct_index": correct_index,
            "verdict": verdict, "correct": verdict == correct_index, "consultant_correct": consultant_correct}


# The agent's direct QA: q1 right in both orders, q2 wrong on average (log-odds 0.847 and -2.197: mean -0.675),
# q3 a tie (no answer).
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
    row("consultancy", "q3", False, 0, 0, consultant_correct=True),    # kept, flagged: the agent gave no answer
])

DEBATE = pd.DataFrame([
    row("debate", "q1", False, 0, 0), row("debate", "q1", True, 1, 0),
    row("debate", "q2", False, 0, 1), row("debate", "q3", False, 0, None),
])


def test_agent_answers_average_the_orders_and_a_tie_is_no_answer():
    assert agent_answers(QA).to_dict() == {"q1": True, "q2": False, "q3": None}


def test_an_invalid_qa_verdict_is_no_answer_not_answer_1():
    # q1's first order is invalid (its top token was no label) though its probabilities lean right: no choice.
    qa = pd.DataFrame([{"question_id": "q1", "p_correct": 0.9, "invalid": True},
                       {"question_id": "q1", "p_correct": 0.8, "invalid": False},
                       {"question_id": "q2", "p_correct": 0.3, "invalid": False},
                       {"question_id": "q2", "p_correct": 0.4, "invalid": False}])
    assert agent_answers(qa).to_dict() == {"q1": None, "q2": False}
    out = derive_open(DEBATE[DEBATE["question_id"] != "q3"], qa)
    q1 = out[out["question_id"] == "q1"]
    assert len(q1) == 2 and not q1["agent_choice_valid"].any()
    assert q1["agent_choice"].isna().all() and q1["agent_correct"].isna().all() and q1["protagonist"].isna().all()
    summary = open_summary(out).loc["open-debate (derived)"]
    # 3 episodes, 2 without a choice; the one valid choice (q2, agent wrong) is the only one split.
    assert summary["choice_invalid"] == pytest.approx(2 / 3)
    assert summary["agent_correct"] == 0.0 and math.isnan(summary["accuracy_agent_right"])


def test_derived_open_consultancy_is_the_hand_computed_subset():
    out = derive_open(CONSULTANCY, QA)
    assert list(zip(out["question_id"], out["consultant_correct"])) == [("q1", True), ("q2", False), ("q3", True)]
    assert list(out["protocol"]) == ["open-consultancy (derived)"] * 3
    # q1: agent right -> chose the correct index 0; q2 (swapped, correct index 1): agent wrong -> chose 0.
    assert list(out["agent_choice"][:2]) == [0, 0] and pd.isna(out["agent_choice"][2])
    assert list(out["judge_agrees"]) == [True, True, None]
    assert list(out["agent_choice_valid"]) == [True, True, False]


def test_derived_open_debate_keeps_every_episode_and_names_the_protagonist():
    out = derive_open(DEBATE, QA)
    assert list(out["question_id"]) == ["q1", "q1", "q2", "q3"]
    assert list(out["agent_choice"][:3]) == [0, 1, 1]
    assert list(out["protagonist"][:3]) == ["debater_a", "debater_b", "debater_b"]
    assert list(out["judge_agrees"]) == [True, False, True, None]


def test_open_summary_splits_accuracy_by_agent_right_and_wrong():
    summary = open_summary(derive_open(pd.concat([CONSULTANCY, DEBATE]), QA))
    debate = summary.loc["open-debate (derived)"]
    assert debate["episodes"] == 4 and debate["choice_invalid"] == pytest.approx(1 / 4)  # q3: no answer
    assert debate["agent_correct"] == pytest.approx(2 / 3)
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


def test_live_open_episodes_without_a_valid_choice_are_not_split_and_are_counted():
    from analysis.summary import open_protocol_tables

    def live(qid, swapped, agent_correct, valid, correct):
        return {"protocol": "open-debate", "task": "math", "judge": "j", "question_id": qid, "cluster": qid,
                "swapped": swapped, "agent_correct": agent_correct, "agent_choice_valid": valid,
                "correct": correct, "invalid": False}
    rows = pd.DataFrame([live("q1", False, True, True, True), live("q1", True, True, True, False),
                         live("q2", False, False, True, True), live("q2", True, False, True, True),
                         # the agent gave no answer: its side was drawn, not chosen
                         live("q3", False, False, False, False), live("q3", True, True, False, False)])
    [row] = open_protocol_tables(rows, n_boot=100)["open"].to_dict("records")
    assert row["episodes"] == 4 and row["agent_correct"] == pytest.approx(0.5)
    assert row["choice_invalid_share"] == pytest.approx(1 / 3)
