"""Cost-accuracy analysis of judge cascades: accuracy against the fraction deferred and the tokens spent.

For a two-judge cascade with both judges' decisions on every episode (`oversight cascade --curve`),
`deferral_curve` sorts episodes by a rule's deferral score and, for every n, gives the accuracy when
the n highest-scored episodes are decided by the stronger judge and the rest by the cheap one, and
the judge prompt tokens that costs (the cheap judge reads every episode, the strong one the
deferred). The oracle curve defers first the episodes where only the strong judge is right and last
those where only the cheap one is: the upper bound of any rule at every deferral fraction.

Curves are computed on the test split only; the learned rule is fitted on the calibration split
(`oversight.experiments.deferral`), so every rule is compared on questions none of them was fitted on.
`curve_table` reads accuracy at a few deferral fractions and how much of the gap between the two
single judges each rule closes there.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.plots import plt, save
from oversight.experiments.deferral import DeferralRule

FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def deferral_curve(cheap: pd.DataFrame, strong: pd.DataFrame, scores: np.ndarray, rule: str) -> pd.DataFrame:
    """Accuracy and prompt tokens when deferring the n highest-scored episodes, for n = 0 .. N.

    `cheap` and `strong` are the two judges' rows of the same episodes in the same order (`correct`,
    `judge_prompt_tokens`); ties of score keep that order.
    """
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    cheap_right = cheap["correct"].to_numpy(bool)[order]
    strong_right = strong["correct"].to_numpy(bool)[order]
    n = len(order)
    deferred = np.arange(n + 1)
    right = np.concatenate([[0], np.cumsum(strong_right)]) + (cheap_right.sum() - np.concatenate([[0], np.cumsum(cheap_right)]))
    base_tokens = float(cheap["judge_prompt_tokens"].sum())
    tokens = base_tokens + np.concatenate([[0.0], np.cumsum(strong["judge_prompt_tokens"].to_numpy(float)[order])])
    return pd.DataFrame({"rule": rule, "deferred": deferred, "fraction_deferred": deferred / n,
                         "accuracy": right / n, "prompt_tokens": tokens, "relative_tokens": tokens / base_tokens})


def oracle_curve(cheap: pd.DataFrame, strong: pd.DataFrame) -> pd.DataFrame:
    """The best accuracy any rule can reach at each deferral fraction (see the module docstring)."""
    gain = strong["correct"].to_numpy(bool).astype(int) - cheap["correct"].to_numpy(bool).astype(int)
    return deferral_curve(cheap, strong, gain, "oracle")


def cascade_curves(cheap: pd.DataFrame, strong: pd.DataFrame, feats: pd.DataFrame, split: pd.Series,
                   rules: Sequence[str] = ("confidence", "entropy", "learned")) -> pd.DataFrame:
    """Curves of every rule and the oracle on the test split; all frames indexed by episode key.

    The learned rule (target: the cheap judge is wrong) is fitted on the calibration split.
    """
    test = split.index[split == "test"]
    calibration = split.index[split == "calibration"]
    parts = []
    for kind in rules:
        rule = DeferralRule(kind, budget=0.5)  # the budget only sets a cutoff; curves use the scores
        if kind == "learned":
            if len(calibration) == 0:
                continue
            rule = copy.deepcopy(rule).fit(feats.loc[calibration], ~cheap.loc[calibration, "correct"].to_numpy(bool))
        scores = rule.raw_scores(feats.loc[test])
        parts.append(deferral_curve(cheap.loc[test], strong.loc[test], scores, kind))
    parts.append(oracle_curve(cheap.loc[test], strong.loc[test]))
    return pd.concat(parts, ignore_index=True)


def curve_table(curves: pd.DataFrame, fractions: Sequence[float] = FRACTIONS) -> pd.DataFrame:
    """Accuracy of each rule at the given deferral fractions, and the share of the judges' gap closed."""
    rows = []
    for rule, curve in curves.groupby("rule", sort=False):
        cheap_acc, strong_acc = curve["accuracy"].iloc[0], curve["accuracy"].iloc[-1]
        gap = strong_acc - cheap_acc
        for f in fractions:
            at = curve.iloc[int(np.argmin(np.abs(curve["fraction_deferred"].to_numpy() - f)))]
            rows.append({"rule": rule, "fraction_deferred": round(float(at["fraction_deferred"]), 3),
                         "accuracy": float(at["accuracy"]), "relative_tokens": float(at["relative_tokens"]),
                         "gap_closed": float((at["accuracy"] - cheap_acc) / gap) if gap else np.nan})
    return pd.DataFrame(rows)


def plot_cascade(curves: pd.DataFrame, path: str | Path, labels: Sequence[str] = ("cheap judge", "strong judge")
                 ) -> list[Path]:
    """Accuracy against fraction deferred (left) and against judge prompt tokens (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for rule, curve in curves.groupby("rule", sort=False):
        style = {"color": "black", "linestyle": "--"} if rule == "oracle" else {}
        left.plot(curve["fraction_deferred"], curve["accuracy"], label=rule, **style)
        right.plot(curve["relative_tokens"], curve["accuracy"], label=rule, **style)
    first = curves[curves["rule"] == curves["rule"].iloc[0]]
    for axis in (left, right):
        axis.axhline(first["accuracy"].iloc[0], color="grey", linewidth=0.8, linestyle=":",
                     label=f"{labels[0]} alone")
        axis.axhline(first["accuracy"].iloc[-1], color="grey", linewidth=0.8, linestyle="-.",
                     label=f"{labels[1]} alone")
        axis.set_ylabel("judge accuracy (test split)")
        axis.grid(alpha=0.3)
    left.set_xlabel("fraction of episodes deferred to the strong judge")
    right.set_xlabel("judge prompt tokens (relative to the cheap judge alone)")
    left.legend(fontsize=8)
    fig.suptitle("Judge cascade: accuracy vs deferral")
    return save(fig, path)


def load_cascade_curves(runs: Sequence[str | Path]) -> pd.DataFrame:
    """Every `RUN/cascades/*/curve.csv` under the given run folders, with `run` and `cascade` columns."""
    parts = []
    for run in map(Path, runs):
        for csv in sorted(run.glob("cascades/*/curve.csv")):
            frame = pd.read_csv(csv)
            frame.insert(0, "cascade", csv.parent.name)
            frame.insert(0, "run", run.name)
            parts.append(frame)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def cascade_table(curves: pd.DataFrame) -> pd.DataFrame:
    """`curve_table` of every saved cascade in `load_cascade_curves` output, with `run` and `cascade` columns."""
    return pd.concat([pd.concat({(r, k): curve_table(c)}, names=["run", "cascade"])
                      for (r, k), c in curves.groupby(["run", "cascade"], sort=False)]).reset_index(level=[0, 1])


def plot_cascades(curves: pd.DataFrame, folder: str | Path) -> list[Path]:
    """One `plot_cascade` figure per saved cascade in `load_cascade_curves` output, named after run and cascade."""
    written = []
    for (run, name), rows in ([] if curves.empty else curves.groupby(["run", "cascade"], sort=False)):
        written += plot_cascade(rows, Path(folder) / f"cascade-{run}-{name}".replace(".", "_"))
    return written


def write_curves(cheap: pd.DataFrame, strong: pd.DataFrame, feats: pd.DataFrame, results: pd.DataFrame,
                 folder: str | Path, labels: Sequence[str]) -> pd.DataFrame:
    """A cascade's curves (curve.csv), their table (curve_table.csv) and figure (cascade.png) in FOLDER.

    `results` is the cascade's results (an `episode` and a `split` column); returns the table.
    """
    folder = Path(folder)
    curves = cascade_curves(cheap, strong, feats, results.set_index("episode")["split"])
    curves.to_csv(folder / "curve.csv", index=False)
    table = curve_table(curves)
    table.to_csv(folder / "curve_table.csv", index=False)
    plot_cascade(curves, folder / "cascade", labels=labels)
    return table
