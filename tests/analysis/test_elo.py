"""Elo: the study's win model, its fit, bootstrap intervals, and the correct/incorrect split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.elo import bootstrap_elo, elo_table, fit_elo, ladder, win_probability


def simulate(ratings: dict[str, float], games_per_pair: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    winners, losers = [], []
    names = list(ratings)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            wins = rng.random(games_per_pair) < win_probability(ratings[a], ratings[b])
            winners += [a if w else b for w in wins]
            losers += [b if w else a for w in wins]
    return winners, losers


def test_win_probability_uses_the_500_point_scale():
    assert win_probability(500, 0) == pytest.approx(1 / 1.1)
    assert win_probability(0, 0) == 0.5


def test_two_players_fit_the_closed_form():
    # 30 wins to 10: the likelihood peaks where ŵ = 3/4, a gap of 500 log10(3) Elo.
    ratings = fit_elo(["a"] * 30 + ["b"] * 10, ["b"] * 30 + ["a"] * 10, prior_sd=None)
    assert ratings["a"] - ratings["b"] == pytest.approx(500 * np.log10(3), abs=0.5)
    assert ratings.sum() == pytest.approx(0, abs=1e-6)


def test_fit_recovers_known_ratings_from_simulated_debates():
    truth = {"gemma": -300.0, "gpt35": -100.0, "pro10": 0.0, "pro15": 150.0, "pro15_bo4": 250.0}
    winners, losers = simulate(truth, games_per_pair=300)
    table = bootstrap_elo(winners, losers, n_boot=100, seed=1).set_index("player")
    expected = pd.Series(truth) - np.mean(list(truth.values()))
    assert (table["elo"] - expected).abs().max() < 40
    covered = (table["ci_low"] <= expected) & (expected <= table["ci_high"])
    assert covered.sum() >= 4  # 95% intervals: all or nearly all hold the truth
    assert list(table.sort_values("elo").index) == list(expected.sort_values().index)


def test_a_player_who_always_wins_gets_a_finite_rating():
    ratings = fit_elo(["a"] * 5, ["b"] * 5)
    assert np.isfinite(ratings).all() and ratings["a"] > ratings["b"]


def debates(games: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """(debater A, debater B, correct index, judge verdict) -> rows as `load_runs` gives them."""
    return pd.DataFrame([{"protocol": "debate", "debater_a": a, "debater_b": b, "correct_index": c, "verdict": v,
                          "invalid": v is None, "correct": v == c, "question_id": f"q{k}", "judge": "j",
                          "assignment": json.dumps({"debater_a": 0, "debater_b": 1})}
                         for k, (a, b, c, v) in enumerate(games)])


def test_split_players_show_the_correct_answer_advantage():
    # The judge sides with the correct answer 3 times in 4, whoever argues it, in cross-play and self-play.
    games = []
    for a, b in (("x", "y"), ("y", "x"), ("x", "x"), ("y", "y")):
        games += [(a, b, 0, 0)] * 3 + [(a, b, 0, 1)] + [(a, b, 1, 1)] * 3 + [(a, b, 1, 0)]
    games += [("y", "y", 0, None)]  # an invalid verdict: no match
    results = debates(games)
    split = elo_table(results, split=True, n_boot=20).set_index("player")["elo"]
    # Correct beats incorrect 3:1 everywhere: a gap near 500 log10(3) = 239 for each debater.
    assert split["x (correct)"] - split["x (incorrect)"] == pytest.approx(500 * np.log10(3), abs=15)
    assert split["x (correct)"] == pytest.approx(split["y (correct)"], abs=1)
    table = ladder(results, n_boot=20).set_index("player")
    assert table.loc["x", "games"] == 16  # cross-play only: self-play says nothing about the aggregate rating
    assert table.loc["x", "elo"] == pytest.approx(table.loc["y", "elo"], abs=1)
    assert table.loc["x", "self_play_accuracy"] == 0.75
    assert table.loc["y", "self_play_accuracy"] == pytest.approx(6 / 9)  # the invalid verdict counts as wrong
    assert table.loc["x", "correct_advantage"] == pytest.approx(500 * np.log10(3), abs=15)
