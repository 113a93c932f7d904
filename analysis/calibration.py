"""Calibration of the judge's probabilities on its valid verdicts: Brier score, ECE, reliability curve.

The judge's decision is a probability over the two answers (read from its next-token distribution). An
invalid verdict (its most likely next token was no answer label, a 50/50 tie, no probabilities) keeps
its probabilities but chose nothing, so it says nothing about calibration; counting it as a confident
wrong answer would mix two failures in one number. Every measure here is on valid verdicts, and the
invalid rate is reported beside it:
- valid verdict: `invalid` False and both probabilities finite; invalid rate: 1 - valid share of episodes;
- Brier score: mean over valid verdicts of (1 - P(correct answer))², i.e. the squared error of P(answer 1)
  against whether answer 1 is correct; 0 is perfect, 0.25 is a judge that always says 50/50;
- reliability: the judge's confidence in the answer it chose, max(P1, P2) in (0.5, 1], binned into
  `n_bins` equal-width bins (lower edge excluded); a calibrated judge is right in a bin as often as its mean
  confidence there;
- ECE: sum over bins of (valid verdicts in the bin / valid verdicts) x |accuracy - mean confidence| (Michael
  et al. 2023 report it with 10 bins).
The low-level functions take arrays and leave out non-finite values (and, for the curve and the ECE,
confidences of exactly 0.5, which choose no answer); the tables select valid verdicts first.
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


def valid_verdicts(results: pd.DataFrame) -> np.ndarray:
    """Per episode: the verdict is valid (`invalid` False, read as False when absent) and both probabilities
    are finite."""
    invalid = results["invalid"].astype(bool).to_numpy() if "invalid" in results else np.zeros(len(results), bool)
    finite = np.isfinite(results["p_answer1"].astype(float)) & np.isfinite(results["p_answer2"].astype(float))
    return ~invalid & finite.to_numpy()


def invalid_rate(results: pd.DataFrame) -> float:
    """Share of episodes whose verdict is not valid (`valid_verdicts`); NaN for no episodes."""
    return float((~valid_verdicts(results)).mean()) if len(results) else np.nan


def calibration_table(results: pd.DataFrame, by: Sequence[str] = ("protocol", "judge"),
                      n_bins: int = 10) -> pd.DataFrame:
    """Per group: episodes, valid verdicts, invalid rate, and on the valid verdicts the Brier score, the ECE
    and the judge's mean confidence."""
    rows = []
    for group, frame in results.groupby(list(by), sort=True, dropna=False):
        valid = frame[valid_verdicts(frame)]
        confidence = judge_confidence(valid)
        keys = group if isinstance(group, tuple) else (group,)
        rows.append({**dict(zip(by, keys)), "episodes": len(frame), "valid": len(valid),
                     "invalid_rate": invalid_rate(frame), "brier": brier_score(valid["p_correct"]),
                     "ece": expected_calibration_error(confidence, valid["correct"], n_bins),
                     "mean_confidence": float(confidence.mean()) if len(valid) else np.nan})
    return pd.DataFrame(rows, columns=[*by, "episodes", "valid", "invalid_rate", "brier", "ece", "mean_confidence"])


def reliability_table(results: pd.DataFrame, by: Sequence[str] = ("protocol",), n_bins: int = 10) -> pd.DataFrame:
    """`reliability_curve` of the valid verdicts per group, stacked (for plotting one curve per group)."""
    parts = []
    for group, frame in results.groupby(list(by), sort=True, dropna=False):
        keys = group if isinstance(group, tuple) else (group,)
        valid = frame[valid_verdicts(frame)]
        curve = reliability_curve(judge_confidence(valid), valid["correct"], n_bins)
        parts.append(curve.assign(**dict(zip(by, keys))))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
