"""Minimum detectable effect and planned sizes of paired protocol comparisons, checked by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.power import clusters_needed, cluster_spread, mde, multiplier, power_at, power_table, z_test_rejects
from oversight.errors import ConfigError, DataError

STUDIES = 3000  # power estimated within +-0.0073 (one standard error at 0.8)


def correctness_pairs(rng: np.random.Generator, shape: tuple[int, ...], p_a: float, p_b: float,
                      rho: float) -> np.ndarray:
    """Per question: correct under A (share p_a) minus correct under B (p_b), the two correlated by rho."""
    joint = p_a * p_b + rho * np.sqrt(p_a * (1 - p_a) * p_b * (1 - p_b))  # P(both correct)
    cells = rng.choice(4, size=shape, p=[joint, p_a - joint, p_b - joint, 1 - p_a - p_b + joint])
    return np.array([0.0, 1.0, -1.0, 0.0])[cells]  # both, A only, B only, neither


@pytest.mark.parametrize(("p_a", "p_b", "rho"), [(0.6, 0.5, 0.3), (0.75, 0.6, 0.5)])
def test_the_planned_number_of_questions_reaches_the_promised_power(p_a, p_b, rho):
    variance = p_a * (1 - p_a) + p_b * (1 - p_b) - 2 * rho * np.sqrt(p_a * (1 - p_a) * p_b * (1 - p_b))
    n = int(clusters_needed(np.sqrt(variance), delta=p_a - p_b))
    assert mde(np.sqrt(variance), n) <= p_a - p_b < mde(np.sqrt(variance), n - 1)
    studies = correctness_pairs(np.random.default_rng(7), (STUDIES, n), p_a, p_b, rho)
    assert z_test_rejects(studies).mean() == pytest.approx(0.8, abs=0.03)
    # The test holds its level: with no true difference it rejects about 5% of the time.
    null = correctness_pairs(np.random.default_rng(8), (STUDIES, n), p_b, p_b, rho)
    assert z_test_rejects(null).mean() == pytest.approx(0.05, abs=0.015)


def articles(rng: np.random.Generator, studies: int, n: int, size: int = 3) -> np.ndarray:
    """Differences of `n` articles of `size` questions: an article shifts protocol A's log-odds by N(0, 1.5)."""
    shift = rng.normal(0, 1.5, (studies, n, 1))
    a = rng.random((studies, n, size)) < 1 / (1 + np.exp(-(1.4 + shift)))
    b = rng.random((studies, n, size)) < 1 / (1 + np.exp(-0.6))
    return a.astype(float) - b


def test_planning_by_article_reaches_the_power_and_planning_by_question_does_not():
    rng = np.random.default_rng(3)
    pilot = articles(rng, 1, 100_000)[0]  # a pilot large enough that its spread is the true one
    labels = np.repeat(np.arange(100_000), 3)
    delta = pilot.mean()
    _, per_article, spread = cluster_spread(pilot.ravel(), labels)
    _, _, naive = cluster_spread(pilot.ravel())
    assert per_article == 3 and spread > naive / np.sqrt(3)  # questions on one article move together
    planned = int(clusters_needed(spread, delta))
    too_few = int(np.ceil(clusters_needed(naive, delta) / 3))  # questions treated as independent
    assert too_few < planned
    reached = z_test_rejects(articles(rng, 2000, planned).mean(axis=2)).mean()
    assert reached == pytest.approx(0.8, abs=0.03)
    assert z_test_rejects(articles(rng, 2000, too_few).mean(axis=2)).mean() < reached - 0.05


def test_cluster_spread_by_hand():
    # One question per cluster: the sample variance of d, (1 + 0 + 0 + 1) / 3.
    assert cluster_spread(np.array([1.0, 0, 0, -1]))[2] ** 2 == pytest.approx(2 / 3)
    # Two articles of two: the variance of the article means 0.5 and -0.5, 0.5.
    two_by_two = cluster_spread(np.array([1.0, 0, 0, -1]), np.array(["a", "a", "b", "b"]))
    assert two_by_two == pytest.approx((2, 2, 0.5 ** 0.5))
    # Unequal articles, d = 1, 1 | 0: d̄ = 2/3, m̄ = 1.5, residuals (2 - 2·2/3)/1.5 = 4/9 and (0 - 2/3)/1.5 = -4/9,
    # s² = 2 (4/9)² / 1 = 32/81.
    assert cluster_spread(np.array([1.0, 1, 0]), np.array(["a", "a", "b"]))[2] ** 2 == pytest.approx(32 / 81)
    assert np.isnan(cluster_spread(np.array([1.0, 0]), np.array(["a", "a"]))[2])  # one cluster: no variance


def test_mde_formula_at_the_defaults():
    assert multiplier() == pytest.approx(1.959964 + 0.841621, abs=1e-6)
    assert mde(0.5, 100) == pytest.approx(2.801585 * 0.05, abs=1e-6)
    assert clusters_needed(0.5, 0.1) == np.ceil((2.801585 * 5) ** 2)  # 196.2 -> 197
    assert np.isnan(mde(0.0, 100)) and np.isnan(clusters_needed(0.0, 0.1))  # no spread: no estimate


@settings(max_examples=60, deadline=None)
@given(spread=st.floats(0.01, 1.0), n=st.integers(2, 100_000))
def test_the_mde_is_the_difference_detected_with_the_promised_power(spread, n):
    detectable = mde(spread, n)
    assert power_at(spread, n, detectable) == pytest.approx(0.8, abs=1e-6 + 0.01 * (n < 10))
    assert clusters_needed(spread, detectable) in (n, n + 1)  # n + 1 only by rounding


def pilot() -> pd.DataFrame:
    """Two protocols on 8 questions, both answer orders, judged in one label order each (debiased by pairing)."""
    rows = []
    for i in range(8):
        for swapped in (False, True):
            for protocol, right in (("debate", i < 6), ("direct", i < 3)):
                p = 0.8 if right else 0.3
                rows.append({"question_id": f"q{i}", "protocol": protocol, "swapped": swapped, "p_correct": p,
                             "correct": p > 0.5, "invalid": False, "task": "math", "judge": "j",
                             "cluster": f"q{i}", "pair": f"q{i}"})
    return pd.DataFrame(rows)


def test_power_table_reads_the_pilot_variance_for_raw_and_debiased():
    table = power_table(pilot(), delta=0.2, a="debate", b="direct")
    assert list(table["view"]) == ["raw", "debiased"]
    for row in table.to_dict("records"):
        # d per question: 1 on q3..q5, else 0: mean 3/8, sd sqrt((3 (5/8)² + 5 (3/8)²) / 7)
        spread = np.sqrt((3 * (5 / 8) ** 2 + 5 * (3 / 8) ** 2) / 7)
        assert (row["clusters"], row["questions"], row["difference"]) == (8, 8, pytest.approx(3 / 8))
        assert row["sd"] == pytest.approx(spread)
        assert row["mde"] == pytest.approx(multiplier() * spread / np.sqrt(8))
        assert row["clusters_needed"] == row["questions_needed"] == np.ceil((multiplier() * spread / 0.2) ** 2)


def test_power_table_rejects_bad_input_by_name():
    with pytest.raises(ConfigError, match="--delta"):
        power_table(pilot(), delta=5)
    with pytest.raises(ConfigError, match="'consultancy' is not in these runs; choose from debate, direct"):
        power_table(pilot(), a="debate", b="consultancy")
    with pytest.raises(ConfigError, match="--a and --b"):
        power_table(pilot(), a="debate")
    with pytest.raises(DataError, match="no question was played under both"):
        power_table(pilot().assign(question_id=lambda f: f["question_id"] + f["protocol"]))
