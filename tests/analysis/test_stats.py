"""Accuracy, confidence intervals, the paired permutation test, agent splits and position bias."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.metrics import (
    accuracy_table,
    agent_split,
    bootstrap_ci,
    compare,
    normal_ci,
    paired_permutation_test,
    positional_bias,
)


def episodes(rows: list[tuple]) -> pd.DataFrame:
    """(question, protocol, swapped, verdict, correct_index) -> the columns the metrics read."""
    frame = pd.DataFrame(rows, columns=["question_id", "protocol", "swapped", "verdict", "correct_index"])
    frame["invalid"] = frame["verdict"].isna()
    frame["correct"] = frame["verdict"] == frame["correct_index"]
    return frame


def test_accuracy_pairs_the_two_orders_and_counts_invalid_verdicts_as_wrong():
    frame = episodes([("q1", "debate", False, 0, 0), ("q1", "debate", True, 0, 1),      # 1/2
                      ("q2", "debate", False, 0, 0), ("q2", "debate", True, 1, 1),      # 2/2
                      ("q3", "debate", False, None, 0), ("q3", "debate", True, 1, 1)])  # invalid + right: 1/2
    [row] = accuracy_table(frame, by=["protocol"]).to_dict("records")
    assert row["questions"] == 3 and row["episodes"] == 6
    assert row["accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert row["invalid_rate"] == pytest.approx(1 / 6)
    assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]


def test_cluster_bootstrap_resamples_whole_articles():
    # Three right answers on article a, one wrong on article b: resampling articles gives only
    # aa -> 1, bb -> 0 and ab -> 3/4, so the 95% interval spans [0, 1].
    values, clusters = np.array([1.0, 1, 1, 0]), np.array(["a", "a", "a", "b"])
    assert bootstrap_ci(values, clusters=clusters) == (0.0, 1.0)
    assert bootstrap_ci(values)[0] > 0.0  # questions resampled one by one: narrower


def test_normal_interval_matches_the_formula():
    low, high = normal_ci(np.array([0.0, 1, 1, 1]))  # mean .75, sd .5, se .25
    assert (low, high) == pytest.approx((0.75 - 1.959964 * 0.25, 0.75 + 1.959964 * 0.25), abs=1e-6)


def simulate_coverage(n_sims: int, article_sd: float, accuracy: float = 0.7, seed: int = 1) -> tuple[float, float]:
    """Share of simulated experiments whose 95% CI holds the true judge accuracy: (by article, by question).

    Each experiment: 40 articles x 3 questions, each judged in both orders. An article shifts the judge's
    log-odds by N(0, article_sd), so questions on one article succeed or fail together.
    """
    rng = np.random.default_rng(seed)
    articles = np.repeat(np.arange(40), 3)
    logit = np.log(accuracy / (1 - accuracy))
    truth = float(np.mean(1 / (1 + np.exp(-(logit + rng.normal(0, article_sd, 400_000))))))
    hits_article = hits_question = 0
    for sim in range(n_sims):
        p = 1 / (1 + np.exp(-(logit + rng.normal(0, article_sd, 40)[articles])))
        paired = (rng.random((120, 2)) < p[:, None]).mean(axis=1)
        low, high = bootstrap_ci(paired, n_boot=1000, seed=sim, clusters=articles)
        hits_article += low <= truth <= high
        low, high = bootstrap_ci(paired, n_boot=1000, seed=sim)
        hits_question += low <= truth <= high
    return hits_article / n_sims, hits_question / n_sims


def test_bootstrap_ci_covers_a_known_judge_accuracy_about_95_percent_of_the_time():
    by_cluster, by_question = simulate_coverage(400, article_sd=0.0)
    assert 0.92 <= by_question <= 0.975
    assert 0.92 <= by_cluster <= 0.975  # resampling articles costs nothing when articles do not matter


def test_clustered_bootstrap_keeps_coverage_when_articles_differ_and_the_naive_one_does_not():
    by_cluster, by_question = simulate_coverage(400, article_sd=1.5)
    assert 0.90 <= by_cluster <= 0.975  # percentile intervals run a little narrow with few clusters
    assert by_question < by_cluster - 0.05


def test_permutation_test_is_exact_on_small_samples():
    # Differences 1, 1, 1, 0: of the 16 within-pair swaps, |mean| >= .75 in 4 (all + or all - on the
    # three ones, either sign on the zero), so p = 4/16.
    assert paired_permutation_test([1, 1, 1, 0], [0, 0, 0, 0]) == pytest.approx(0.25)
    assert paired_permutation_test([1, 0], [1, 0]) == 1.0


def test_permutation_test_matches_the_sign_test_on_larger_samples():
    # 15 pairs favour x, 5 favour y: p = P(|2 Bin(20, .5) - 20| >= 10) = 2 P(Bin >= 15) = 0.04139.
    x, y = np.array([1] * 15 + [0] * 5), np.array([0] * 15 + [1] * 5)
    assert paired_permutation_test(x, y, n_resamples=10_000, seed=3) == pytest.approx(0.04139, abs=0.008)


def test_compare_uses_only_the_questions_both_protocols_answered():
    rows = [(f"q{i}", "debate", False, 0, 0) for i in range(4)]
    rows += [(f"q{i}", "direct", False, 1 if i < 3 else 0, 0) for i in range(4)]
    rows += [("q9", "debate", False, 0, 0)]  # only in debate: left out
    frame = episodes(rows).assign(task="math", judge="j")
    [row] = compare(frame, "debate", "direct").to_dict("records")
    assert row["questions"] == 4 and row["accuracy_a"] == 1.0 and row["accuracy_b"] == 0.25
    assert row["p_value"] == pytest.approx(0.25)


def test_agent_split_separates_right_and_wrong_consultants():
    frame = episodes([("q1", "consultancy", False, 0, 0), ("q1", "consultancy", False, 1, 0),   # agent right/wrong
                      ("q2", "consultancy", False, 0, 0), ("q2", "consultancy", False, 0, 0),
                      ("q3", "consultancy", False, 1, 1), ("q3", "consultancy", False, None, 1)])
    frame["consultant_correct"] = [True, False, True, False, True, False]
    [row] = agent_split(frame).to_dict("records")
    assert row["agent_correct"] == pytest.approx(0.5)
    assert row["accuracy_agent_right"] == pytest.approx(1.0)
    assert row["accuracy_agent_wrong"] == pytest.approx(1 / 3)  # q2 right; q1 convinced; q3 invalid
    # Judge sided with the agent: every right agent, and the wrong one on q1 (the invalid sides with nobody).
    assert row["win_rate"] == pytest.approx((1 + 0.5 + 0.5) / 3)


def test_positional_bias_and_swap_consistency():
    frame = episodes([("q1", "debate", False, 0, 0), ("q1", "debate", True, 1, 1),  # same answer both orders
                      ("q2", "debate", False, 0, 0), ("q2", "debate", True, 0, 1),  # always position 1
                      ("q3", "debate", False, 1, 0), ("q3", "debate", True, None, 1)])
    frame["judge"] = "j"
    [row] = positional_bias(frame).to_dict("records")
    # Valid picks: positions 1, 2, 1, 1, 2 -> per question means 1.5, 1, 2 -> 1.5.
    assert row["mean_position"] == pytest.approx(1.5)
    assert row["first_share"] == pytest.approx(3 / 5)
    assert row["swap_pairs"] == 3 and row["swap_consistency"] == pytest.approx(1 / 3)


def test_consultancy_orders_pair_by_the_side_argued(scripted_runs):
    from analysis.load import load_runs

    results = load_runs(scripted_runs)
    consultancy = results[results["protocol"] == "consultancy"]
    # 6 questions x 2 sides: each pair holds the two orders of one side.
    assert consultancy["pair"].nunique() == 12
    assert (consultancy.groupby("pair")["order"].nunique() == 2).all()
    sides = consultancy.assign(side=consultancy["assignment"].map(lambda a: json.loads(a)["consultant"]))
    for _, pair in sides.groupby("pair"):
        # the same answer in the original order: side flips with the order
        assert pair["side"].nunique() == 2


def test_open_protocols_are_derived_when_the_agent_answered_directly(scripted_runs, tmp_path):
    from analysis.load import load_runs
    from analysis.summary import summarize
    from oversight.config import make_config
    from oversight.runner import run_experiment

    # The agent model (scripted:echo) answering alone: its own choice per question.
    run_experiment(make_config(protocol="direct", task="math", limit=6, order="both", backend="scripted",
                               judge="scripted:echo", out=str(tmp_path)))
    results = load_runs([scripted_runs, tmp_path])
    table = summarize(results, n_boot=200, n_resamples=1000)["open"].set_index("protocol")
    assert set(table.index) == {"open-consultancy (derived)", "open-debate (derived)"}
    qa = results[(results["protocol"] == "direct") & (results["judge"] == "scripted:echo")]
    chose_right = (qa.groupby("question_id")["p_correct"].mean() > 0.5).mean()
    for protocol in table.index:
        assert table.loc[protocol, "agent_correct"] == pytest.approx(chose_right)
        assert 0 <= table.loc[protocol, "win_rate"] <= 1
