"""Power and minimum detectable effect (MDE) of a paired comparison of two protocols on the same questions.

The planning test is a two-sided paired z-test (Wald) of mean(d) = 0, d a question's accuracy under protocol
A minus under protocol B, the questions grouped in clusters (articles on extractive tasks, else one question
each), as the confidence intervals resample them. With n clusters, cluster c holding m_c questions whose
differences sum to S_c, M = sum m_c questions, d̄ = sum S_c / M and m̄ = M / n, the standard error of d̄ is
s / sqrt(n) with the linearised (ratio-estimator) spread

    s² = sum_c (S_c − m_c·d̄)² / (m̄² (n − 1)),

which is the sample variance of the d when every cluster is one question, and of the cluster means when all
clusters have the same size. At level alpha and power 1 − beta the test detects a true difference of

    MDE = (z_{1−alpha/2} + z_{1−beta}) · s / sqrt(n)        (2.80 · s / sqrt(n) at 0.05 and 0.8),

and reaching power 1 − beta for a difference delta takes n = ceil(((z_{1−alpha/2} + z_{1−beta}) · s / delta)²)
clusters. Assumptions: clusters independent and drawn like the pilot's, the pilot's s the true one, n large
enough for the normal approximation, and the power of the far tail (a result of the wrong sign) neglected.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

from oversight.errors import ConfigError, DataError

ALPHA = 0.05
POWER = 0.8
FLAT = 1e-12
"""A spread this small is none: a pilot whose differences never vary says nothing about the next study's."""
TITLE = ("Power of paired protocol comparisons (two-sided paired z-test over clusters): minimum detectable "
         "difference at the pilot's size, power for delta, clusters and questions needed for delta")


def _z(q: float) -> float:
    return NormalDist().inv_cdf(q)


def multiplier(alpha: float = ALPHA, power: float = POWER) -> float:
    """z_{1-alpha/2} + z_{power}: 2.80 at the defaults."""
    return _z(1 - alpha / 2) + _z(power)


def cluster_spread(differences: np.ndarray, clusters: np.ndarray | None = None) -> tuple[int, float, float]:
    """(clusters n, mean questions per cluster m̄, spread s) of per-question paired differences (module docstring).

    s is NaN with fewer than two clusters (no variance to estimate)."""
    d = np.asarray(differences, dtype=float)
    if len(d) == 0:
        return 0, np.nan, np.nan
    labels = np.arange(len(d)) if clusters is None else pd.factorize(np.asarray(clusters))[0]
    sums, sizes = np.bincount(labels, weights=d), np.bincount(labels).astype(float)
    n, per_cluster = len(sums), len(d) / len(sums)
    if n < 2:
        return n, per_cluster, np.nan
    residual = (sums - sizes * d.mean()) / per_cluster
    return n, per_cluster, float(np.sqrt(np.sum(residual ** 2) / (n - 1)))


def _informative(s: float) -> bool:
    return bool(np.isfinite(s)) and s > FLAT


def mde(s: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true difference the test detects with `power` over `n` clusters of spread `s` (NaN: no spread)."""
    return multiplier(alpha, power) * s / math.sqrt(n) if _informative(s) and n >= 2 else np.nan


def clusters_needed(s: float, delta: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Clusters for the test to detect `delta` with `power` (at least 2; NaN: no spread)."""
    return float(max(2, math.ceil((multiplier(alpha, power) * s / delta) ** 2))) if _informative(s) else np.nan


def power_at(s: float, n: int, delta: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided test (both tails) to detect `delta` over `n` clusters of spread `s`."""
    if not _informative(s) or n < 2:
        return np.nan
    shift, z = delta / (s / math.sqrt(n)), _z(1 - alpha / 2)
    return NormalDist().cdf(shift - z) + NormalDist().cdf(-shift - z)


def z_test_rejects(differences: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The planning test on each row of `differences` (one study per row, one question per column): True where
    the two-sided paired z-test rejects mean = 0 at `alpha`."""
    d = np.asarray(differences, dtype=float)
    se = d.std(axis=-1, ddof=1) / np.sqrt(d.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(d.mean(axis=-1)) / se > _z(1 - alpha / 2)


def _check(delta: float, alpha: float, power: float) -> None:
    if not 0 < delta <= 1:
        raise ConfigError(f"delta must lie in (0, 1], got {delta}; pass --delta as a share of questions, "
                          "e.g. --delta 0.05 for 5 points of accuracy")
    for name, value, example in (("alpha", alpha, 0.05), ("power", power, 0.8)):
        if not 0 < value < 1:
            raise ConfigError(f"{name} must lie in (0, 1), got {value}; pass --{name} as a share, e.g. "
                              f"--{name} {example}")


def _pairs(results: pd.DataFrame, a: str | None, b: str | None) -> list[tuple[str, str]]:
    protocols = sorted(results["protocol"].astype(str).unique())
    if a is None and b is None:
        return list(itertools.combinations(protocols, 2))
    if a is None or b is None or a == b:
        raise ConfigError(f"give two different protocols, --a and --b (got --a {a} --b {b}), or neither to "
                          "compare every pair")
    for name in (a, b):
        if name not in protocols:
            raise ConfigError(f"protocol {name!r} is not in these runs; choose from {', '.join(protocols)}")
    return [(a, b)]


def power_table(results: pd.DataFrame, delta: float = 0.05, a: str | None = None, b: str | None = None,
                by: Sequence[str] = ("task", "judge"), cluster: str | None = "cluster", alpha: float = ALPHA,
                power: float = POWER) -> pd.DataFrame:
    """Per group of `by`, protocol pair and view (`raw` decisions, `debiased` units): the pilot's clusters,
    questions, difference a − b and spread s, its MDE, its power for `delta`, and the clusters and questions
    (clusters × the pilot's questions per cluster) needed to detect `delta`."""
    from analysis.debias import debiased_units, raw_view
    from analysis.metrics import _groups, paired_scores

    _check(delta, alpha, power)
    pairs = _pairs(results, a, b)
    cluster = cluster if cluster in results else None
    rows = []
    for view, frame in (("raw", raw_view(results)), ("debiased", debiased_units(results))):
        for first, second in pairs:
            for keys, part in (_groups(frame, by) if len(frame) else []):
                scores = paired_scores(part, first, second, cluster=cluster)
                if scores is None or scores.empty:
                    continue
                differences = scores[first] - scores[second]
                n, per_cluster, s = cluster_spread(differences, scores["cluster"] if cluster else None)
                needed = clusters_needed(s, delta, alpha, power)
                rows.append({**keys, "a": first, "b": second, "view": view, "clusters": n,
                             "questions": len(scores), "difference": float(differences.mean()), "sd": s,
                             "mde": mde(s, n, alpha, power), "power": power_at(s, n, delta, alpha),
                             "clusters_needed": needed,  # NaN (no spread) stays NaN below
                             "questions_needed": np.ceil(round(needed * per_cluster, 9))})
    if not rows:
        named = ", ".join(map("/".join, pairs))
        raise DataError(f"no question was played under both protocols of any pair ({named}) with the same judge "
                        "and task; analyse runs of the same questions, e.g. the same --task, "
                        "--limit and --seed for each protocol")
    return pd.DataFrame(rows)
