"""Order-debiased judge accuracy beside the raw one, and the shares of degraded paths behind a result.

A judge with a position bias picks the first-listed answer whatever it reads; played in both answer orders,
its raw accuracy is 0.5 however much its probabilities lean toward the correct answer. Averaging the
judge's log-odds of the correct answer over the two orders cancels a bias that is the same in both (Zheng
et al. 2023, arXiv 2306.05685, measure this position bias in LLM judges and swap the answer order against it;
Kenton et al. 2024 play every question in both orders). Two sources:

- episodes the run judged order-debiased itself (`debiased` True): each is one unit, its decision is `correct`;
- episodes judged in one label order but played in both answer orders (`swapped` False and True with the same
  `pair`: the question, plus the consultant's side for consultancy): each pair is one unit, decided by the
  rule below. Episodes without their other order are left out.

The rule: log-odds of P(correct answer), each probability clipped to [1e-6, 1 - 1e-6], averaged over the
pair; the unit is invalid when either episode is invalid (or has no probability) or the mean is 0 (within
`TIE`, floating-point rounding: no preference left, as a 50/50 tie is invalid in a run); else it is correct
when the mean is above 0.

Columns written by older runs are read as their defaults (`COLUMN_DEFAULTS`), never as an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PROB_FLOOR = 1e-6
"""Probabilities are clipped here before the log-odds, so one order's certainty cannot veto the other."""
PAIR_KEYS = ("run", "cell", "protocol", "task", "judge", "agents")
"""The two orders of one episode come from the same run (a study's merged table: the same cell) and judge."""
TIE = 1e-9
"""A mean log-odds this close to 0 is a tie: logit(p) + logit(1 - p) is 0 only up to rounding."""
RAW = {"correct_raw": "correct", "invalid_raw": "invalid", "p_correct_raw": "p_correct", "verdict_raw": "verdict"}
"""The presented-order decision; for an episode that was not debiased it is the episode's decision."""
COLUMN_DEFAULTS = {"debiased": False, "decision_method": "logprobs", "agent_choice_valid": True,
                   "lenient_turns": 0, "retried_turns": 0, "forced_turns": 0,
                   "p_correct_swapped": np.nan}


def with_defaults(results: pd.DataFrame) -> pd.DataFrame:
    """`results` with the newer result columns present, missing values read as their defaults."""
    frame = results.copy()
    for column, default in COLUMN_DEFAULTS.items():
        frame[column] = frame[column].where(frame[column].notna(), default) if column in frame else default
    frame["debiased"] = frame["debiased"].astype(bool)
    frame["agent_choice_valid"] = frame["agent_choice_valid"].astype(bool)
    for column, fallback in RAW.items():
        if fallback in frame:
            frame[column] = frame[column].where(frame[column].notna(), frame[fallback]) if column in frame \
                else frame[fallback]
    for column in ("correct_raw", "invalid_raw"):
        if column in frame:
            frame[column] = frame[column].astype(bool)
    return frame


def raw_view(results: pd.DataFrame) -> pd.DataFrame:
    """Each episode's decision from the presented label order alone, in the decision columns."""
    frame = with_defaults(results)
    return frame.assign(**{fallback: frame[column] for column, fallback in RAW.items() if column in frame})


def log_odds(p: pd.Series | np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [PROB_FLOOR, 1 - PROB_FLOOR]; NaN stays NaN."""
    p = np.clip(np.asarray(p, dtype=float), PROB_FLOOR, 1 - PROB_FLOOR)
    return np.log(p) - np.log1p(-p)


def debiased_units(results: pd.DataFrame) -> pd.DataFrame:
    """One row per debiased unit (see the module docstring), with the columns of its first episode and:

    `correct`, `invalid`, `p_correct` (the unit's decision), `source` (`episode` or `pair`), `episodes`,
    `raw_correct` and `raw_invalid` (the mean over the unit's episodes of their presented-order decisions)
    and `difference` = correct - raw_correct, the paired change debiasing makes on this unit.
    """
    from analysis.load import pair_keys

    frame = with_defaults(results)
    if "pair" not in frame:
        frame["pair"] = pair_keys(frame)
    own = frame[frame["debiased"]]
    own = own.assign(source="episode", episodes=1, raw_correct=own["correct_raw"].astype(float),
                     raw_invalid=own["invalid_raw"].astype(float))
    rest = frame[~frame["debiased"]]
    rest = rest.assign(_lo=log_odds(rest["p_correct"]),
                       _bad=rest["invalid"].astype(bool) | ~np.isfinite(rest["p_correct"].astype(float)),
                       _correct=rest["correct"].astype(float), _invalid=rest["invalid"].astype(float))
    keys = [k for k in PAIR_KEYS if k in rest] + ["pair"]
    grouped = rest.groupby(keys, sort=False, dropna=False)
    stats = grouped.agg(_orders=("swapped", "nunique"), _mean=("_lo", "mean"), _bad=("_bad", "any"),
                        raw_correct=("_correct", "mean"), raw_invalid=("_invalid", "mean"),
                        episodes=("swapped", "size"))
    carried = [c for c in rest.columns if c not in keys and not c.startswith("_")]
    firsts = grouped[carried].first()
    paired = pd.concat([firsts, stats], axis=1)
    paired = paired[paired["_orders"] == 2].reset_index()
    invalid = paired["_bad"] | (paired["_mean"].abs() <= TIE)
    paired = paired.assign(source="pair", invalid=invalid, correct=~invalid & (paired["_mean"] > 0),
                           p_correct=1 / (1 + np.exp(-paired["_mean"])))
    paired = paired.drop(columns=[c for c in paired if c.startswith("_")])
    units = pd.concat([own, paired], ignore_index=True) if len(own) else paired
    units["correct"] = units["correct"].astype(bool)
    units["invalid"] = units["invalid"].astype(bool)
    # Per-episode columns that no longer describe a unit of two episodes.
    units = units.drop(columns=[c for c in ("swapped", "order", "verdict", "p_answer1", "p_answer2",
                                            "chosen_position") if c in units])
    return units.assign(difference=units["correct"].astype(float) - units["raw_correct"].astype(float))


def debiased_columns(results: pd.DataFrame, by: Sequence[str], n_boot: int = 2000, seed: int = 0,
                     cluster: str | None = None) -> pd.DataFrame:
    """Per group of `by`: debiased units, accuracy with its 95% CI, invalid share, and the paired difference
    debiased - raw with its CI (per question, then clusters resampled as for accuracy). Groups without a unit
    are absent."""
    from analysis.metrics import _groups, mean_ci

    units = debiased_units(results)
    columns = [*by, "debiased_units", "debiased_accuracy", "debiased_ci_low", "debiased_ci_high",
               "debiased_invalid_rate", "difference", "difference_ci_low", "difference_ci_high"]
    rows = []
    for keys, frame in (_groups(units, by) if len(units) else []):
        accuracy = mean_ci(frame, "correct", cluster, "bootstrap", n_boot, seed)
        change = mean_ci(frame, "difference", cluster, "bootstrap", n_boot, seed)
        rows.append({**keys, "debiased_units": len(frame), "debiased_accuracy": accuracy["mean"],
                     "debiased_ci_low": accuracy["ci_low"], "debiased_ci_high": accuracy["ci_high"],
                     "debiased_invalid_rate": float(frame["invalid"].mean()), "difference": change["mean"],
                     "difference_ci_low": change["ci_low"], "difference_ci_high": change["ci_high"]})
    return pd.DataFrame(rows, columns=columns)


def degraded_shares(results: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group, the share of each degraded path whose column the runs record (absent columns: no share):

    - `structured_share`: episodes whose decision was read from constrained text, not label probabilities;
    - `choice_invalid_share`: open-protocol episodes whose agent gave no valid choice of answer (other
      protocols: empty);
    - `invalid_turn_share`, `lenient_turn_share`, `retried_turn_share`, `forced_turn_share`: agent turns left
      invalid after every retry, accepted without `<argument>` tags, sampled more than once, and whose argument
      the harness opened after the thinking budget (budget forcing), over all agent turns.
    """
    from analysis.metrics import _groups

    frame = with_defaults(results)
    turns = [c for c in ("invalid_turns", "lenient_turns", "retried_turns", "forced_turns")
             if "agent_turns" in results and c in results]
    rows = []
    for keys, part in _groups(frame, by):
        row = dict(keys)
        if "decision_method" in results:
            row["structured_share"] = float((part["decision_method"] == "structured").mean())
        if "agent_choice_valid" in results:
            open_rows = part[part["protocol"].astype(str).str.startswith("open-")]
            row["choice_invalid_share"] = float((~open_rows["agent_choice_valid"]).mean()) if len(open_rows) \
                else np.nan
        agent_turns = part["agent_turns"].astype(float).fillna(0).sum() if turns else 0
        for column in turns:
            share = part[column].astype(float).fillna(0).sum() / agent_turns if agent_turns else np.nan
            row[f"{column.removesuffix('_turns')}_turn_share"] = float(share)
        rows.append(row)
    return pd.DataFrame(rows)
