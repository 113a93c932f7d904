"""Elo ratings of debaters from cross-play debates, fitted as in Kenton et al. 2024 (App. E).

Player i beats player j with probability ŵ_ij = 1 / (1 + 10^((E_j - E_i) / 500)). Ratings minimise
the negative log-likelihood -Σ w_ij log ŵ_ij of the observed wins (BFGS), and 95% intervals come from
refitting on 500 bootstrap resamples of the matches. Ratings are relative: they are centred on a
mean of 0. A player who won (or lost) every game has no finite maximum-likelihood rating; a weak
Gaussian prior (sd `prior_sd` Elo, default 1000) keeps it finite without moving well-measured ratings.

A debate is a match between its two debaters; the judge's verdict names the winner (invalid verdicts
are dropped and counted). With `split=True` each debater becomes two players, `NAME (correct)` and
`NAME (incorrect)`, by the side it argued; the study's "correct-answer advantage" is the difference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

SCALE = 500.0
LN10 = np.log(10.0)


def win_probability(rating_i: float | np.ndarray, rating_j: float | np.ndarray) -> float | np.ndarray:
    """P(i beats j) under the study's Elo model (scale 500)."""
    return 1.0 / (1.0 + 10.0 ** ((np.asarray(rating_j) - np.asarray(rating_i)) / SCALE))


def fit_elo(winners: Sequence[str], losers: Sequence[str], players: Sequence[str] | None = None,
            weights: Sequence[float] | None = None, prior_sd: float | None = 1000.0) -> pd.Series:
    """Ratings (mean 0) that maximise the likelihood of `winners[k]` beating `losers[k]` for every k."""
    players = list(players) if players is not None else sorted(set(winners) | set(losers))
    index = {p: k for k, p in enumerate(players)}
    w = np.array([index[p] for p in winners], dtype=int)
    lo = np.array([index[p] for p in losers], dtype=int)
    weight = np.ones(len(w)) if weights is None else np.asarray(weights, dtype=float)
    n = len(players)

    def loss(r: np.ndarray) -> tuple[float, np.ndarray]:
        # -log ŵ = log(1 + 10^((E_loser - E_winner)/500)), written with logaddexp for stability.
        z = (r[lo] - r[w]) * LN10 / SCALE
        nll = float(np.sum(weight * np.logaddexp(0.0, z)))
        g = weight * (LN10 / SCALE) / (1.0 + np.exp(-z))  # d(-log ŵ)/dE_loser
        grad = np.bincount(lo, g, n) - np.bincount(w, g, n)
        if prior_sd:
            nll += float(np.sum(r**2)) / (2 * prior_sd**2)
            grad = grad + r / prior_sd**2
        return nll, grad

    fit = minimize(loss, np.zeros(n), jac=True, method="BFGS", options={"gtol": 1e-8})
    ratings = fit.x - fit.x.mean()
    return pd.Series(ratings, index=players, name="elo")


def bootstrap_elo(winners: Sequence[str], losers: Sequence[str], n_boot: int = 500, seed: int = 0,
                  level: float = 0.95, prior_sd: float | None = 1000.0) -> pd.DataFrame:
    """Ratings with percentile intervals from refitting on `n_boot` resamples of the matches."""
    winners, losers = np.asarray(winners, dtype=object), np.asarray(losers, dtype=object)
    players = sorted(set(winners) | set(losers))
    point = fit_elo(winners, losers, players, prior_sd=prior_sd)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        take = rng.integers(0, len(winners), len(winners))
        draws.append(fit_elo(winners[take], losers[take], players, prior_sd=prior_sd).to_numpy())
    tail = (1 - level) / 2
    low, high = np.quantile(np.array(draws), [tail, 1 - tail], axis=0) if draws else (point * np.nan,) * 2
    games = pd.Series(list(winners) + list(losers)).value_counts()
    wins = pd.Series(list(winners)).value_counts()
    return pd.DataFrame({"player": players, "elo": point.to_numpy(), "ci_low": low, "ci_high": high,
                         "games": [int(games.get(p, 0)) for p in players],
                         "wins": [int(wins.get(p, 0)) for p in players]})


def matches(results: pd.DataFrame) -> pd.DataFrame:
    """One match per valid debate: winner and loser debaters, and whether each argued the correct answer.

    Needs the columns `debater_a`, `debater_b` (from `load_runs`), `assignment`, `verdict`,
    `correct_index` and `invalid`.
    """
    debates = results[results["protocol"].astype(str).str.contains("debate") & ~results["invalid"].astype(bool)]
    rows = []
    for row in debates.itertuples(index=False):
        side = json.loads(row.assignment) if isinstance(row.assignment, str) else dict(row.assignment)
        players = {side["debater_a"]: row.debater_a, side["debater_b"]: row.debater_b}
        winner_side = int(row.verdict)
        rows.append({"winner": players[winner_side], "loser": players[1 - winner_side],
                     "winner_correct": winner_side == row.correct_index,
                     "question_id": row.question_id, "judge": row.judge})
    return pd.DataFrame(rows, columns=["winner", "loser", "winner_correct", "question_id", "judge"])


def elo_table(results: pd.DataFrame, split: bool = False, n_boot: int = 500, seed: int = 0) -> pd.DataFrame:
    """The ladder from the debates in `results`: one row per player, best first.

    With `split`, players are `NAME (correct)` / `NAME (incorrect)` by the side each argued.
    """
    games = matches(results)
    if games.empty:
        return pd.DataFrame(columns=["player", "elo", "ci_low", "ci_high", "games", "wins"])
    winners, losers = games["winner"].astype(str), games["loser"].astype(str)
    if split:
        winners = winners + np.where(games["winner_correct"], " (correct)", " (incorrect)")
        losers = losers + np.where(games["winner_correct"], " (incorrect)", " (correct)")
    # A debater against itself says nothing about its rating (it only counts once split by side).
    informative = (winners != losers).to_numpy()
    if not informative.any():
        return pd.DataFrame(columns=["player", "elo", "ci_low", "ci_high", "games", "wins"])
    table = bootstrap_elo(winners[informative].to_numpy(), losers[informative].to_numpy(), n_boot=n_boot, seed=seed)
    return table.sort_values("elo", ascending=False, ignore_index=True)


def ladder(results: pd.DataFrame, n_boot: int = 500, seed: int = 0) -> pd.DataFrame:
    """Per debater: aggregate Elo (with CI), correct and incorrect Elo, the correct-answer advantage, and
    the judge's accuracy in the debater's self-play debates (the study's accuracy-vs-Elo plot)."""
    overall = elo_table(results, n_boot=n_boot, seed=seed)
    if overall.empty:
        return overall
    split = elo_table(results, split=True, n_boot=n_boot, seed=seed).set_index("player")["elo"]
    debates = results[results["protocol"].astype(str).str.contains("debate")]
    self_play = debates[debates["debater_a"] == debates["debater_b"]]
    accuracy = self_play.groupby("debater_a")["correct"].mean()
    names = overall["player"]
    return overall.assign(
        elo_correct=[split.get(f"{p} (correct)", np.nan) for p in names],
        elo_incorrect=[split.get(f"{p} (incorrect)", np.nan) for p in names],
        correct_advantage=lambda t: t["elo_correct"] - t["elo_incorrect"],
        self_play_accuracy=[accuracy.get(p, np.nan) for p in names])


def write_ladder(results: pd.DataFrame, folder: str | Path) -> pd.DataFrame:
    """The ladder of a tournament's results, written to FOLDER/ladder.csv, with the accuracy-vs-Elo figure
    (FOLDER/accuracy_vs_elo.png) when any debater has a rating; returns the ladder."""
    from analysis.plots import plot_accuracy_vs_elo  # matplotlib only where a figure is drawn

    table = ladder(results)
    table.to_csv(Path(folder) / "ladder.csv", index=False)
    if not table.empty:
        plot_accuracy_vs_elo(table, Path(folder) / "accuracy_vs_elo")
    return table
