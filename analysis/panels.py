"""Judge panels by size: accuracy, calibration and variance as members are added.

From a panel run's per-member probabilities of the correct answer (`member_p_correct`), every
aggregation of `protocols.panel` is recomputed for sub-panels of each size k = 1 .. K (all subsets,
or `max_subsets` seeded ones when there are more), then averaged over the subsets:

- `accuracy`: the sub-panel's verdict is correct (an invalid decision counts as wrong, as in runs);
- `invalid_rate`: share of episodes where the sub-panel's decision is invalid (every member abstained, or
  an exact tie);
- `brier`, `ece`: calibration of the sub-panel's P(correct answer) on its valid decisions, as
  `analysis.calibration` defines them (an invalid decision chose nothing, so it is left out, not scored);
- `variance`: across sub-panels of the same size, the variance of P(correct answer) per episode,
  averaged over episodes. An ensemble that averages out member noise drives it down with k.

Each sub-panel is aggregated by `protocols.panel.aggregate` itself, on decisions rebuilt from the
members' P(correct answer), so the analysis and the runs share one arithmetic.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.calibration import brier_score, expected_calibration_error
from analysis.plots import plt, save
from protocols.panel import AGGREGATIONS, aggregate
from oversight.types import JudgeDecision


def member_matrix(results: pd.DataFrame) -> np.ndarray:
    """Episodes x members array of P(correct answer) from `member_p_correct`; NaN where the member's
    decision was invalid (`member_invalid`), as the panel itself ignored it."""
    rows = np.array([[math.nan if v is None else float(v) for v in json.loads(cell)]
                     for cell in results["member_p_correct"]], dtype=float)
    if "member_invalid" in results:
        invalid = np.array([json.loads(cell) for cell in results["member_invalid"]], dtype=bool)
        rows[invalid] = np.nan
    return rows


def _member(p_correct: float) -> JudgeDecision:
    """A member's decision on the P(correct answer) scale (answer 1 = the correct one); NaN: invalid."""
    if math.isnan(p_correct) or p_correct == 0.5:
        return JudgeDecision(probs=(math.nan, math.nan), verdict=None, invalid=True)
    return JudgeDecision(probs=(p_correct, 1 - p_correct), verdict=0 if p_correct > 0.5 else 1)


def panel_verdicts(members: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(P(correct answer) the panel reports, whether its verdict is correct) per episode (rows), by the
    run-time `protocols.panel.aggregate`; NaN and wrong where the panel's decision is invalid."""
    reported, right, _ = panel_decisions(members, how)
    return reported, right


def panel_decisions(members: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`panel_verdicts` and, per episode, whether the panel's decision is valid."""
    decisions = [aggregate([_member(p) for p in row], how) for row in members]
    reported = np.array([d.probs[0] for d in decisions], dtype=float)
    return (reported, np.array([d.verdict == 0 for d in decisions], dtype=bool),
            np.array([not d.invalid for d in decisions], dtype=bool))


def panel_size_table(members: np.ndarray, max_subsets: int = 50, seed: int = 0) -> pd.DataFrame:
    """One row per (aggregation, panel size): mean accuracy, invalid rate, Brier, ECE and variance over
    sub-panels."""
    n_members = members.shape[1]
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(1, n_members + 1):
        subsets = list(itertools.combinations(range(n_members), k))
        if len(subsets) > max_subsets:
            subsets = [subsets[i] for i in sorted(rng.choice(len(subsets), max_subsets, replace=False))]
        for how in AGGREGATIONS:
            probs, accs, invalid, briers, eces = [], [], [], [], []
            for subset in subsets:
                p, right, valid = panel_decisions(members[:, list(subset)], how)
                probs.append(np.nan_to_num(p, nan=0.5))  # variance: an abstaining panel says 50/50
                accs.append(right.mean())
                invalid.append(1 - valid.mean())
                briers.append(brier_score(p[valid]))
                eces.append(expected_calibration_error(np.maximum(p[valid], 1 - p[valid]), right[valid]))
            stacked = np.vstack(probs)
            rows.append({"aggregation": how, "panel_size": k, "subsets": len(subsets),
                         "accuracy": float(np.mean(accs)), "invalid_rate": float(np.mean(invalid)),
                         "brier": _mean_defined(briers), "ece": _mean_defined(eces),
                         "variance": float(stacked.var(0).mean())})
    return pd.DataFrame(rows)


def _mean_defined(values: list[float]) -> float:
    """Mean over the values that are defined (undefined: no valid decision, or every confidence exactly 0.5)."""
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def panel_tables(results: pd.DataFrame, max_subsets: int = 50, seed: int = 0) -> pd.DataFrame:
    """`panel_size_table` of every panel judge in `results` (rows with `member_p_correct`)."""
    if "member_p_correct" not in results:
        return pd.DataFrame()
    panels = results[results["member_p_correct"].notna()]
    parts = []
    for (protocol, judge), rows in panels.groupby(["protocol", "judge"]):
        table = panel_size_table(member_matrix(rows), max_subsets=max_subsets, seed=seed)
        table.insert(0, "judge", judge)
        table.insert(0, "protocol", protocol)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def plot_panel_size(table: pd.DataFrame, path: str | Path) -> list[Path]:
    """Accuracy, Brier score and variance against panel size, one line per aggregation."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for (protocol, how), rows in table.groupby(["protocol", "aggregation"], sort=False):
        for axis, column in zip(axes, ("accuracy", "brier", "variance")):
            axis.plot(rows["panel_size"], rows[column], marker="o", label=f"{protocol}: {how}")
    for axis, column in zip(axes, ("judge accuracy", "Brier score (lower is better)", "variance across panels")):
        axis.set_xlabel("panel size")
        axis.set_ylabel(column)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Judge panels by size")
    return save(fig, path)
