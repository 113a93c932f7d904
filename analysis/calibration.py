"""Calibration of the judge's probabilities: Brier score, expected calibration error, reliability curve.

The judge's decision is a probability over the two answers (read from its next-token distribution).
- Brier score: mean (1 - P(correct answer))², i.e. the squared error of P(answer 1) against whether
  answer 1 is correct; 0 is perfect, 0.25 is a judge that always says 50/50.
- Reliability: the judge's confidence in the answer it chose, max(P1, P2) in [0.5, 1], is binned into
  `n_bins` equal-width bins; a calibrated judge is right in a bin as often as its mean confidence there.
- ECE: the bins' |accuracy - mean confidence|, weighted by the share of episodes in each bin (Michael
  et al. 2023 report it with 10 bins).
Episodes without finite probabilities (a malformed judge reply) are left out; ties (0.5/0.5) have no
chosen answer and are left out of the reliability curve and the ECE, but scored by the Brier score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def brier_score(p_correct: np.ndarray) -> float:
    """Mean squared error of the probability the judge gave the correct answer (lower is better)."""
    p = np.asarray(p_correct, dtype=float)
    p = p[np.isfinite(p)]
    return float(np.mean((1 - p) ** 2)) if len(p) else np.nan


def reliability_curve(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per confidence bin over [0.5, 1]: lower, upper, count, mean confidence and accuracy (empty bins dropped)."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    keep = np.isfinite(confidence) & (confidence > 0.5)
    confidence, correct = confidence[keep], correct[keep]
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    # Bins are (lower, upper]; a confidence of exactly 1.0 falls in the last bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = [{"lower": edges[b], "upper": edges[b + 1], "count": int((index == b).sum()),
             "confidence": float(confidence[index == b].mean()), "accuracy": float(correct[index == b].mean())}
            for b in range(n_bins) if (index == b).any()]
    return pd.DataFrame(rows, columns=["lower", "upper", "count", "confidence", "accuracy"])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """Count-weighted mean |accuracy - confidence| over the reliability bins."""
    curve = reliability_curve(confidence, correct, n_bins)
    if curve.empty:
        return np.nan
    weights = curve["count"] / curve["count"].sum()
    return float((weights * (curve["accuracy"] - curve["confidence"]).abs()).sum())


def judge_confidence(results: pd.DataFrame) -> np.ndarray:
    """The probability the judge gave the answer it chose, per episode."""
    return np.fmax(results["p_answer1"].astype(float), results["p_answer2"].astype(float)).to_numpy()


def calibration_table(results: pd.DataFrame, by: Sequence[str] = ("protocol", "judge"),
                      n_bins: int = 10) -> pd.DataFrame:
    """Per group: episodes scored, Brier score, ECE and mean confidence of the judge."""
    rows = []
    for group, frame in results.groupby(list(by), sort=True, dropna=False):
        confidence = judge_confidence(frame)
        scored = np.isfinite(confidence)
        keys = group if isinstance(group, tuple) else (group,)
        rows.append({**dict(zip(by, keys)), "episodes": int(scored.sum()),
                     "brier": brier_score(frame["p_correct"]),
                     "ece": expected_calibration_error(confidence, frame["correct"], n_bins),
                     "mean_confidence": float(np.nanmean(confidence)) if scored.any() else np.nan})
    return pd.DataFrame(rows)


def reliability_table(results: pd.DataFrame, by: Sequence[str] = ("protocol",), n_bins: int = 10) -> pd.DataFrame:
    """`reliability_curve` per group, stacked (for plotting one curve per group)."""
    parts = []
    for group, frame in results.groupby(list(by), sort=True, dropna=False):
        keys = group if isinstance(group, tuple) else (group,)
        curve = reliability_curve(judge_confidence(frame), frame["correct"], n_bins)
        parts.append(curve.assign(**dict(zip(by, keys))))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
