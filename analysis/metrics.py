"""Judge accuracy with honest confidence intervals, the paired permutation test, agent splits, position bias.

Episodes of the same question (both answer orders, both consultancy assignments) are not independent,
so every statistic first averages the episodes of a question, then a percentile bootstrap resamples
*clusters*: questions, or source articles for extractive tasks, where several questions share one text
(pass `cluster="cluster"` on a frame from `load_runs`). Invalid verdicts count as wrong and are reported
in their own column. The study (Kenton et al. 2024) pairs the two answer orders the same way and
reports a normal 95% interval (`ci="normal"`); differences between protocols on the same questions are
tested with a paired permutation test (`scipy.stats.permutation_test`, 10,000 resamples), reported with
the minimum difference the comparison could detect (`analysis.power`), and a table of such tests is corrected
for multiplicity with Holm's step-down procedure (`holm`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

CI = Literal["bootstrap", "normal"]


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                 clusters: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (one value per question).

    With `clusters` (one label per value), whole clusters are resampled and the mean is taken over
    the questions drawn, so a cluster of many questions weighs as much as it does in the estimate.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (np.nan, np.nan)
    labels = np.arange(len(values)) if clusters is None else pd.factorize(np.asarray(clusters))[0]
    sums = np.bincount(labels, weights=values)
    counts = np.bincount(labels).astype(float)
    if len(sums) == 1:
        return (float(values.mean()), float(values.mean()))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def normal_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Normal-approximation CI of the mean (the study's error bars, after pairing)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return (np.nan, np.nan) if len(values) == 0 else (float(values[0]), float(values[0]))
    half = stats.norm.ppf(0.5 + level / 2) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def per_question(frame: pd.DataFrame, value: str = "correct", cluster: str | None = None) -> pd.DataFrame:
    """Mean of `value` per question (the paired score), with the question's cluster when given."""
    keys = ["question_id"] + ([cluster] if cluster and cluster != "question_id" else [])
    scores = frame.assign(_v=frame[value].astype(float)).groupby(keys, sort=True)["_v"].mean()
    return scores.rename(value).reset_index()


def mean_ci(frame: pd.DataFrame, value: str = "correct", cluster: str | None = None, ci: CI = "bootstrap",
            n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Paired mean of `value` over questions with its 95% CI: {questions, mean, ci_low, ci_high}."""
    scores = per_question(frame.dropna(subset=[value]), value, cluster)
    if ci == "normal":
        low, high = normal_ci(scores[value].to_numpy())
    else:
        clusters = scores[cluster].to_numpy() if cluster and cluster != "question_id" else None
        low, high = bootstrap_ci(scores[value].to_numpy(), n_boot=n_boot, seed=seed, clusters=clusters)
    mean = float(scores[value].mean()) if len(scores) else np.nan
    return {"questions": len(scores), "mean": mean, "ci_low": low, "ci_high": high}


def _groups(frame: pd.DataFrame, by: Sequence[str]):
    for group, part in frame.groupby(list(by), sort=True, dropna=False):
        yield dict(zip(by, group if isinstance(group, tuple) else (group,))), part


def accuracy_table(results: pd.DataFrame, by: Sequence[str] = ("protocol",), n_boot: int = 2000,
                   seed: int = 0, cluster: str | None = None, ci: CI = "bootstrap",
                   debiased: bool = False) -> pd.DataFrame:
    """Judge accuracy per group with a 95% CI, episodes paired per question first.

    Args:
        results: one row per judged episode, with columns `question_id`, `correct`, `invalid` and `by`.
        by: grouping columns.
        cluster: column to resample (e.g. `cluster` from `load_runs`: the article on extractive tasks);
            default: the question.
        ci: `bootstrap` (percentile, clustered) or `normal` (the study's).
        debiased: False: accuracy of the decisions the runs recorded (`correct`). True: `accuracy` is the raw
            accuracy (each episode's presented-order decision, `correct_raw`), and the order-debiased accuracy
            and the paired difference debiased - raw follow (`analysis.debias`; empty where no unit exists).

    Returns:
        One row per group: questions, episodes, accuracy, ci_low, ci_high, invalid_rate; with `debiased`:
        debiased_units, debiased_accuracy, debiased_ci_low, debiased_ci_high, debiased_invalid_rate,
        difference, difference_ci_low, difference_ci_high.
    """
    if debiased:
        from analysis.debias import debiased_columns, raw_view

        raw = accuracy_table(raw_view(results), by, n_boot, seed, cluster, ci)
        extra = debiased_columns(results, by, n_boot, seed, cluster)
        return raw.merge(extra, on=list(by), how="left")
    rows = []
    for keys, frame in _groups(results, by):
        summary = mean_ci(frame, "correct", cluster, ci, n_boot, seed)
        rows.append({**keys, "questions": summary["questions"], "episodes": len(frame),
                     "accuracy": summary["mean"], "ci_low": summary["ci_low"], "ci_high": summary["ci_high"],
                     "invalid_rate": frame["invalid"].astype(float).mean()})
    return pd.DataFrame(rows, columns=[*by, "questions", "episodes", "accuracy", "ci_low", "ci_high",
                                       "invalid_rate"])


def paired_permutation_test(x: np.ndarray, y: np.ndarray, n_resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value for mean(x - y) = 0, x and y paired (one pair per question).

    Within each pair the two values are swapped at random (`permutation_type="samples"`), as in the
    study; with 2**n <= n_resamples every one of the 2**n swaps is enumerated (an exact test).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0 or np.all(x == y):
        return 1.0
    result = stats.permutation_test((x, y), lambda a, b, axis: np.mean(a - b, axis=axis), vectorized=True,
                                    permutation_type="samples", n_resamples=n_resamples,
                                    alternative="two-sided", random_state=seed)
    return float(result.pvalue)


def paired_scores(frame: pd.DataFrame, a: str, b: str, column: str = "protocol",
                  cluster: str | None = None) -> pd.DataFrame | None:
    """Per question played under both `column == a` and `column == b`: the mean correctness under each (columns
    `a` and `b`), with the question's `cluster` (column `cluster`) when given. None when `frame` lacks a or b."""
    chosen = frame[frame[column].isin([a, b])].assign(_v=lambda f: f["correct"].astype(float))
    scores = chosen.pivot_table(index="question_id", columns=column, values="_v", aggfunc="mean")
    if a not in scores or b not in scores:
        return None
    both = scores[[a, b]].dropna()
    if cluster:
        both = both.assign(cluster=chosen.groupby("question_id")[cluster].first().reindex(both.index))
    return both


def compare(results: pd.DataFrame, a: str, b: str, column: str = "protocol",
            by: Sequence[str] = ("task", "judge"), n_resamples: int = 10_000, seed: int = 0,
            cluster: str | None = None) -> pd.DataFrame:
    """Paired comparison of `column == a` against `column == b` on the questions both answered.

    Returns one row per group of `by`: questions (in both), accuracy of a and of b on those questions,
    their difference, its minimum detectable difference (`mde`, `analysis.power`: alpha 0.05 two-sided, power
    0.8, over the clusters of `cluster`, default each question) and the paired permutation test's p-value.
    """
    from analysis.power import cluster_spread, mde

    rows = []
    for keys, frame in _groups(results, by):
        both = paired_scores(frame, a, b, column, cluster)
        if both is None:
            continue
        n, _, spread = cluster_spread(both[a] - both[b], both["cluster"] if cluster else None)
        rows.append({**keys, "a": a, "b": b, "questions": len(both), "accuracy_a": both[a].mean(),
                     "accuracy_b": both[b].mean(), "difference": both[a].mean() - both[b].mean(),
                     "mde": mde(spread, n), "p_value": paired_permutation_test(both[a], both[b], n_resamples, seed)})
    return pd.DataFrame(rows, columns=[*by, "a", "b", "questions", "accuracy_a", "accuracy_b", "difference", "mde",
                                       "p_value"])


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): sorted ascending, the i-th of m (from 1) becomes
    max over j <= i of min(1, (m - j + 1) p_(j)). Rejecting where the adjusted p <= alpha controls the
    family-wise error rate at alpha under any dependence. NaN p-values stay NaN and are not counted in m."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted


def agent_split(results: pd.DataFrame, agent_correct: str = "consultant_correct",
                by: Sequence[str] = ("protocol",), cluster: str | None = None, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """How a judge fares with an agent that argued the correct answer, or not.

    `agent_correct` is a boolean column: did the consultant (assigned consultancy) or the protagonist
    (open protocols) argue the correct answer. Per group: how often the agent was right, how often the
    judge sided with the agent (win rate; an invalid verdict sides with nobody), and judge accuracy
    when the agent was right and when it was wrong, each with its 95% CI.
    """
    rows = []
    frame_all = results.dropna(subset=[agent_correct])
    for keys, frame in _groups(frame_all, by):
        agent_right = frame[agent_correct].astype(bool)
        frame = frame.assign(agent_right=agent_right, win=np.where(agent_right, frame["correct"],
                                                                    ~frame["correct"] & ~frame["invalid"]))
        row = {**keys, "episodes": len(frame)}
        for name, value, part in (("agent_correct", "agent_right", frame), ("win_rate", "win", frame),
                                  ("accuracy_agent_right", "correct", frame[agent_right]),
                                  ("accuracy_agent_wrong", "correct", frame[~agent_right])):
            summary = mean_ci(part, value, cluster, "bootstrap", n_boot, seed) if len(part) else {}
            row[name] = summary.get("mean", np.nan)
            row[f"{name}_ci"] = (summary.get("ci_low", np.nan), summary.get("ci_high", np.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def positional_bias(results: pd.DataFrame, by: Sequence[str] = ("protocol", "judge"), n_boot: int = 2000,
                    seed: int = 0) -> pd.DataFrame:
    """Which answer position the judge favours, and whether it keeps its choice when the order flips.

    Read from each episode's presented-order decision (`verdict_raw`, the verdict of runs that did not
    debias). Per group: mean chosen position over valid verdicts (1.5 = no bias; the study's measure) with its
    95% CI, the share of first-position picks, order-swap consistency: the share of decisions made in both
    label orders where the judge picked the same answer both times (an invalid verdict in either order counts
    as inconsistent), and the share of invalid verdicts. An order-debiased episode made both decisions itself
    (`p_correct_raw`, `p_correct_swapped`); other episodes pair with their other answer order (the same `pair`).
    For debate, `first_debater_share`: the share of valid final decisions that side with debater A, whose
    argument the transcript shows first. Swapping the answer labels leaves that order as it is, so order-debiased
    judging does not cancel this bias (0.5 = none).
    """
    from analysis.debias import raw_view, with_defaults
    from analysis.load import assignment_side

    decided = with_defaults(results)
    raw = decided["p_correct_raw"] if "p_correct_raw" in decided else np.nan  # absent: no debiased episode
    both_valid = decided["debiased"] & ~decided["invalid"].astype(bool) & ~decided["invalid_raw"]
    same = both_valid & ((raw > 0.5) == (decided["p_correct_swapped"] > 0.5))
    debater_a = decided["assignment"].map(lambda a: assignment_side(a, "debater_a")) if "assignment" in decided \
        else pd.Series(np.nan, index=decided.index)
    sided_with_a = (decided["verdict"] == debater_a).astype(float).where(
        debater_a.notna() & ~decided["invalid"].astype(bool))
    # Position bias shows in the presented-order decision; an order-debiased one has averaged it away.
    frame_all = raw_view(results).assign(same_in_episode=same.astype(float).where(decided["debiased"]),
                                         sided_with_a=sided_with_a)
    frame_all = frame_all if "pair" in frame_all else frame_all.assign(pair=frame_all["question_id"].astype(str))
    frame_all = frame_all.assign(chosen_position=pd.to_numeric(frame_all["verdict"], errors="coerce") + 1)
    rows = []
    for keys, frame in _groups(frame_all, by):
        valid = frame[~frame["invalid"].astype(bool)]
        position = mean_ci(valid, "chosen_position", None, "bootstrap", n_boot, seed) if len(valid) else {}
        consistency = _swap_consistency(frame)
        rows.append({**keys, "episodes": len(frame), "mean_position": position.get("mean", np.nan),
                     "ci_low": position.get("ci_low", np.nan), "ci_high": position.get("ci_high", np.nan),
                     "first_share": float((valid["chosen_position"] == 1).mean()) if len(valid) else np.nan,
                     "swap_pairs": consistency[0], "swap_consistency": consistency[1],
                     "first_debater_share": float(frame["sided_with_a"].mean()) if frame["sided_with_a"].notna().any()
                     else np.nan,
                     "invalid_rate": float(frame["invalid"].astype(float).mean())})
    return pd.DataFrame(rows)


def _swap_consistency(frame: pd.DataFrame) -> tuple[int, float]:
    """(decisions in both orders, share with the same answer picked): debiased episodes count one each, the
    other episodes once per pair of answer orders."""
    in_episode = frame["same_in_episode"].dropna()
    frame = frame[frame["same_in_episode"].isna()]
    # The answer picked, named by its index in the original order, is comparable across the two orders.
    picked = np.where(frame["swapped"].astype(bool), 1 - frame["verdict"], frame["verdict"])
    picked = pd.Series(picked, index=frame.index).where(~frame["invalid"].astype(bool))
    orders = frame.assign(picked=picked).groupby("pair")
    both = orders.filter(lambda g: g["swapped"].astype(bool).nunique() == 2)
    paired = both.groupby("pair")["picked"].agg(lambda p: p.notna().all() and p.nunique() == 1) if len(both) \
        else pd.Series(dtype=float)
    same = pd.concat([in_episode.astype(float), paired.astype(float)])
    return (len(same), float(same.mean())) if len(same) else (0, np.nan)
