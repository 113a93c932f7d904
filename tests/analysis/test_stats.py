"""Accuracy, confidence intervals, the paired permutation test, agent splits and position bias."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.metrics import (
    accuracy_table,
    agent_split,
    bootstrap_ci,
    compare,
    holm,
    normal_ci,
    paired_permutation_test,
    positional_bias,
)
from analysis.summary import comparison_table


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


def test_compare_reports_the_minimum_detectable_difference_over_clusters():
    # debate right on q0..q5, direct on q0..q2: d = 0,0,0,1,1,1,0,0 on 8 questions.
    rows = [(f"q{i}", protocol, False, 0 if right else 1, 0)
            for i in range(8) for protocol, right in (("debate", i < 6), ("direct", i < 3))]
    frame = episodes(rows).assign(task="math", judge="j", article=lambda f: f["question_id"].str[1].astype(int) // 2)
    [row] = compare(frame, "debate", "direct").to_dict("records")
    spread = np.sqrt((3 * (5 / 8) ** 2 + 5 * (3 / 8) ** 2) / 7)  # sample sd of d, mean 3/8
    assert row["mde"] == pytest.approx((1.959964 + 0.841621) * spread / np.sqrt(8), abs=1e-5)
    # Articles of two questions: means 0, 0.5, 1, 0 (mean 3/8) over 4 articles, a wider MDE.
    [row] = compare(frame, "debate", "direct", cluster="article").to_dict("records")
    spread = np.sqrt((2 * (3 / 8) ** 2 + (1 / 8) ** 2 + (5 / 8) ** 2) / 3)
    assert row["mde"] == pytest.approx((1.959964 + 0.841621) * spread / np.sqrt(4), abs=1e-5)


def test_holm_by_hand():
    # p = .01, .04, .03, .005 (m = 4), ascending .005, .01, .03, .04:
    #   .005 x 4 = .02; .01 x 3 = .03; .03 x 2 = .06; .04 x 1 = .04 -> max(.06, .04) = .06 (step-down keeps order).
    # At 0.05 the first and the last survive; Bonferroni (x 4) would keep only .005.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # A missing p is not a test: it stays missing and m is still 4.
    assert holm([0.01, np.nan, 0.04, 0.03, 0.005]) == pytest.approx([0.03, np.nan, 0.06, 0.06, 0.02], nan_ok=True)
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 2 x .5 = 1; capped at 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_lies_between_the_raw_p_and_bonferroni_and_keeps_the_order(p):
    p = np.array(p)
    adjusted = holm(p)
    assert np.all(adjusted >= p) and np.all(adjusted <= np.minimum(1, len(p) * p) + 1e-12)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)


def test_the_comparison_table_adjusts_each_view_over_its_tests():
    # Three protocols on 12 questions: a perfect, b and c wrong everywhere; pairs a-b and a-c differ.
    rows = [(f"q{i}", protocol, swapped, 0 if protocol == "a" else 1, 0)
            for i in range(12) for protocol in ("a", "b", "c") for swapped in (False, True)]
    frame = episodes(rows).assign(task="math", judge="j", cluster=lambda f: f["question_id"],
                                  pair=lambda f: f["question_id"], p_correct=lambda f: f["correct"] * 0.6 + 0.2)
    from analysis.debias import debiased_units, raw_view

    table = comparison_table(raw_view(frame), debiased_units(frame), ("task", "judge"), n_resamples=2000)
    assert [(r["a"], r["b"]) for r in table.to_dict("records")] == [("a", "b"), ("a", "c"), ("b", "c")]
    for prefix in ("", "debiased_"):
        assert table[f"{prefix}p_holm"].to_numpy() == pytest.approx(holm(table[f"{prefix}p_value"]))
        assert list(table[f"{prefix}survives_holm"]) == [True, True, False]
    assert table["mde"].notna().sum() == 0  # a - b is 1 on every question: no spread, no estimate
    columns = list(table.columns)
    assert columns.index("mde") < columns.index("p_value") < columns.index("p_holm") < columns.index("survives_holm")


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


def test_debiased_episodes_count_their_own_two_orders_for_swap_consistency():
    frame = episodes([("q1", "debate", False, 0, 0), ("q2", "debate", True, 0, 1), ("q3", "debate", False, 0, 0),
                      ("q4", "debate", False, 0, 0)])
    frame["judge"] = "j"
    # presented order (raw) and the same episode judged with the labels swapped; q3's swapped order is invalid
    frame["debiased"] = True
    frame["p_correct_raw"] = [0.7, 0.2, 0.8, 0.6]
    frame["p_correct_swapped"] = [0.6, 0.4, 0.4, 0.3]
    frame["invalid_raw"] = False
    frame["invalid"] = [False, False, True, False]
    [row] = positional_bias(frame).to_dict("records")
    # q1: correct in both orders; q2: wrong in both (the same answer); q3: invalid; q4: flips with the order
    assert row["swap_pairs"] == 4 and row["swap_consistency"] == pytest.approx(2 / 4)


def test_first_debater_share_counts_valid_debate_decisions_for_debater_a():
    frame = episodes([("q1", "debate", False, 0, 0), ("q2", "debate", False, 1, 0), ("q3", "debate", True, 0, 1),
                      ("q4", "debate", False, None, 0), ("q5", "direct", False, 0, 0)])
    frame["judge"] = "j"
    frame["assignment"] = [json.dumps({"debater_a": 0, "debater_b": 1}), json.dumps({"debater_a": 1, "debater_b": 0}),
                           json.dumps({"debater_a": 1, "debater_b": 0}), json.dumps({"debater_a": 0, "debater_b": 1}),
                           json.dumps({})]
    rows = {r["protocol"]: r for r in positional_bias(frame).to_dict("records")}
    # q1 and q2 side with debater A, q3 with debater B, q4 is invalid (left out)
    assert rows["debate"]["first_debater_share"] == pytest.approx(2 / 3)
    assert np.isnan(rows["direct"]["first_debater_share"])


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
    from oversight.experiments.run import run_experiment

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
