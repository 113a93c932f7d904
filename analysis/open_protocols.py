"""Open consultancy and open debate, derived from assigned runs (Kenton et al. 2024's method).

Zero extra model calls: the agent's own answer comes from a direct-QA run in which the agent model
was the judge (QA with article on extractive tasks, without on closed ones), and the open protocol
is read off the assigned runs:

* open consultancy = the assigned-consultancy episodes whose consultant argued the answer the agent
  chose (one of the two assignments per question and order);
* open debate = every assigned-debate episode, with the *protagonist* being the debater whose side
  the agent chose.

The agent's answer per question is the one it gives more probability on average over the answer
orders it saw (`p_correct` averaged per question), so a position bias in the QA run does not pick
the answer; a question where that average is exactly 0.5 has no answer and is left out.

The same columns come out of live open runs (`open-consultancy`, `open-debate`), so `open_summary`
reports both: how often the agent chose correctly, how often the judge agreed with it, and judge
accuracy split by whether the agent was right.
"""

from __future__ import annotations

import pandas as pd

DERIVED = {"consultancy": "open-consultancy (derived)", "debate": "open-debate (derived)"}


def agent_answers(qa: pd.DataFrame) -> pd.Series:
    """question_id -> whether the agent's own answer is correct (mean p_correct over orders > 0.5)."""
    mean = qa.groupby("question_id")["p_correct"].mean()
    mean = mean[mean != 0.5]
    return (mean > 0.5).rename("agent_correct")


def derive_open(assigned: pd.DataFrame, qa: pd.DataFrame) -> pd.DataFrame:
    """Open-protocol rows from assigned consultancy/debate results and the agent's direct-QA results.

    Rows keep every column of `assigned`; `protocol` becomes e.g. `open-consultancy (derived)` and
    `agent_choice` (index in the row's answer order), `agent_correct`, `judge_agrees` and, for
    debate, `protagonist` are added. Questions the agent did not answer are dropped.
    """
    unknown = set(assigned["protocol"]) - set(DERIVED)
    if unknown:
        raise ValueError(f"derived open protocols come from assigned consultancy or debate runs, got {sorted(unknown)}")
    rows = assigned.drop(columns=[c for c in ("agent_correct", "agent_choice", "judge_agrees") if c in assigned])
    rows = rows.merge(agent_answers(qa), left_on="question_id", right_index=True, how="inner")
    consult = rows["protocol"] == "consultancy"
    rows = rows[~consult | (rows["consultant_correct"].astype(bool) == rows["agent_correct"])].copy()
    rows["agent_choice"] = rows["correct_index"].where(rows["agent_correct"], 1 - rows["correct_index"]).astype(int)
    rows["judge_agrees"] = (rows["verdict"] == rows["agent_choice"]).where(rows["verdict"].notna())
    rows["protagonist"] = (rows["agent_choice"].map({0: "debater_a", 1: "debater_b"})
                           .where(rows["protocol"] == "debate"))
    rows["protocol"] = rows["protocol"].map(DERIVED)
    return rows.reset_index(drop=True)


def open_summary(rows: pd.DataFrame, by: str | list[str] = "protocol") -> pd.DataFrame:
    """Per group: episodes, agent chose correctly, judge agreed with the agent, judge accuracy overall
    and split by agent right / wrong (invalid verdicts count as wrong, as everywhere)."""
    def one(group: pd.DataFrame) -> pd.Series:
        right = group[group["agent_correct"].astype(bool)]
        wrong = group[~group["agent_correct"].astype(bool)]
        return pd.Series({
            "episodes": len(group),
            "agent_correct": group["agent_correct"].astype(bool).mean(),
            "judge_agrees": group["judge_agrees"].fillna(False).astype(bool).mean(),
            "accuracy": group["correct"].astype(bool).mean(),
            "accuracy_agent_right": right["correct"].astype(bool).mean() if len(right) else float("nan"),
            "accuracy_agent_wrong": wrong["correct"].astype(bool).mean() if len(wrong) else float("nan"),
            "episodes_agent_wrong": len(wrong),
        })

    table = rows.groupby(by).apply(one, include_groups=False)
    return table.astype({"episodes": int, "episodes_agent_wrong": int})
