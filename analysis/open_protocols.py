"""Open consultancy and open debate, derived from assigned runs (Kenton et al. 2024's method).

Zero extra model calls: the agent's own answer comes from a direct-QA run in which the agent model
was the judge (QA with article on extractive tasks, without on closed ones), and the open protocol
is read off the assigned runs:

* open consultancy = the assigned-consultancy episodes whose consultant argued the answer the agent
  chose (one of the two assignments per question and order);
* open debate = every assigned-debate episode, with the *protagonist* being the debater whose side
  the agent chose.

The agent's answer per question follows the order-debiased rule of `analysis.debias`: the mean over the
answer orders it saw of the log-odds of P(correct answer), so a position bias in the QA run does not pick
the answer. The choice is invalid when any of those QA verdicts is invalid or the mean is 0 (a tie): no
answer is made up for the agent (least of all answer 1, which would plant a position bias in the
protagonist). Such questions stay in the derived rows with `agent_choice_valid` False and no
`agent_correct`, so they are counted and reported, never split by a choice the agent did not make.

The same columns come out of live open runs (`open-consultancy`, `open-debate`), so `open_summary`
reports both: how often the agent chose correctly, how often the judge agreed with it, judge accuracy
split by whether the agent was right, and the share of invalid choices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.debias import TIE, log_odds

DERIVED = {"consultancy": "open-consultancy (derived)", "debate": "open-debate (derived)"}


def agent_answers(qa: pd.DataFrame) -> pd.Series:
    """question_id -> whether the agent's own answer is correct: True, False, or None for an invalid choice
    (an invalid QA verdict on the question, or a mean log-odds of 0, a tie)."""
    frame = qa.assign(_lo=log_odds(qa["p_correct"]),
                      _bad=(qa["invalid"].astype(bool) if "invalid" in qa else False)
                      | ~np.isfinite(qa["p_correct"].astype(float)))
    per_question = frame.groupby("question_id").agg(mean=("_lo", "mean"), bad=("_bad", "any"))
    valid = ~per_question["bad"] & (per_question["mean"].abs() > TIE)
    return (per_question["mean"] > 0).astype(object).where(valid, None).rename("agent_correct")


def derive_open(assigned: pd.DataFrame, qa: pd.DataFrame) -> pd.DataFrame:
    """Open-protocol rows from assigned consultancy/debate results and the agent's direct-QA results.

    Rows keep every column of `assigned`; `protocol` becomes e.g. `open-consultancy (derived)` and
    `agent_choice` (index in the row's answer order), `agent_correct`, `agent_choice_valid`, `judge_agrees`
    and, for debate, `protagonist` are added. Questions missing from the QA run are dropped; questions whose
    choice is invalid keep every assigned episode, with `agent_choice_valid` False and the choice columns
    empty.
    """
    unknown = set(assigned["protocol"]) - set(DERIVED)
    if unknown:
        raise ValueError(f"derived open protocols come from assigned consultancy or debate runs, got {sorted(unknown)}")
    rows = assigned.drop(columns=[c for c in ("agent_correct", "agent_choice", "judge_agrees") if c in assigned])
    rows = rows.merge(agent_answers(qa), left_on="question_id", right_index=True, how="inner")
    valid = rows["agent_correct"].notna()
    consult = rows["protocol"] == "consultancy"
    rows = rows[~consult | ~valid | (rows["consultant_correct"].astype(bool) == rows["agent_correct"])].copy()
    valid = rows["agent_correct"].notna()
    right = rows["agent_correct"].where(valid, False).astype(bool)
    choice = rows["correct_index"].where(right, 1 - rows["correct_index"]).where(valid)
    rows["agent_choice"] = choice.astype("Int64")
    rows["agent_choice_valid"] = valid
    rows["judge_agrees"] = (rows["verdict"] == choice).astype(object).where(rows["verdict"].notna() & valid, None)
    rows["protagonist"] = (choice.map({0: "debater_a", 1: "debater_b"})
                           .where((rows["protocol"] == "debate") & valid))
    rows["protocol"] = rows["protocol"].map(DERIVED)
    return rows.reset_index(drop=True)


def open_summary(rows: pd.DataFrame, by: str | list[str] = "protocol") -> pd.DataFrame:
    """Per group: episodes, the share whose agent made no valid choice, and over the valid choices: agent
    chose correctly, judge agreed with the agent, judge accuracy split by agent right / wrong; judge accuracy
    over every episode (invalid verdicts count as wrong, as everywhere)."""
    def one(group: pd.DataFrame) -> pd.Series:
        valid = group["agent_choice_valid"].fillna(True).astype(bool) if "agent_choice_valid" in group \
            else pd.Series(True, group.index)
        chose = group[valid & group["agent_correct"].notna()]
        right = chose[chose["agent_correct"].astype(bool)]
        wrong = chose[~chose["agent_correct"].astype(bool)]
        nan = float("nan")
        return pd.Series({
            "episodes": len(group),
            "choice_invalid": float((~valid).mean()),
            "agent_correct": chose["agent_correct"].astype(bool).mean() if len(chose) else nan,
            "judge_agrees": chose["judge_agrees"].fillna(False).astype(bool).mean() if len(chose) else nan,
            "accuracy": group["correct"].astype(bool).mean(),
            "accuracy_agent_right": right["correct"].astype(bool).mean() if len(right) else nan,
            "accuracy_agent_wrong": wrong["correct"].astype(bool).mean() if len(wrong) else nan,
            "episodes_agent_wrong": len(wrong),
        })

    table = rows.groupby(by).apply(one, include_groups=False)
    return table.astype({"episodes": int, "episodes_agent_wrong": int})
