"""Judge accuracy with confidence intervals.

Episodes of the same question (both answer orders, both consultancy assignments) are not independent,
so accuracy is first averaged per question, then a percentile bootstrap resamples *questions*
(the study averages each order-swapped pair before its CI). Invalid verdicts count as wrong and are
reported in their own column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (one value per question)."""
    if len(values) == 0:
        return (np.nan, np.nan)
    if len(values) == 1:
        return (float(values[0]), float(values[0]))
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n_boot, len(values)), replace=True).mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def accuracy_table(results: pd.DataFrame, by: Sequence[str] = ("protocol",), n_boot: int = 2000,
                   seed: int = 0) -> pd.DataFrame:
    """Judge accuracy per group with a 95% CI clustered by question.

    Args:
        results: one row per judged episode, with columns `question_id`, `correct`, `invalid` and `by`.
        by: grouping columns.

    Returns:
        One row per group: questions, episodes, accuracy, ci_low, ci_high, invalid_rate.
    """
    rows = []
    for group, frame in results.groupby(list(by), sort=True):
        per_question = frame.assign(correct=frame["correct"].astype(float)).groupby("question_id")["correct"].mean()
        low, high = bootstrap_ci(per_question.to_numpy(), n_boot=n_boot, seed=seed)
        keys = group if isinstance(group, tuple) else (group,)
        rows.append({**dict(zip(by, keys)), "questions": len(per_question), "episodes": len(frame),
                     "accuracy": per_question.mean(), "ci_low": low, "ci_high": high,
                     "invalid_rate": frame["invalid"].astype(float).mean()})
    return pd.DataFrame(rows)
