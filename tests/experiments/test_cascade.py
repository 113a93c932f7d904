"""Judge cascades: the rule picks the deferred episodes, only those reach the next judge, no leakage."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from analysis.cascade import cascade_curves, curve_table, deferral_curve, oracle_curve
from oversight.experiments import deferral
from oversight.experiments.cascade import run_cascade
from oversight.cli import app
from oversight.config import make_config
from oversight.experiments.deferral import DeferralRule, calibration_questions, features
from oversight.errors import ConfigError
from oversight.models.scripted import ScriptedBackend
from oversight.experiments.run import run_experiment
from oversight.types import Reply
from tests.helpers import CountingScripted as Counting

QUIET = Console(quiet=True)
CHEAP, STRONG, THIRD = "scripted:echo", "scripted:first", "scripted:second"


class Tied(Counting):
    """A judge whose every decision is an exact tie (invalid)."""

    def choice(self, requests):
        self.requests += len(requests)
        return [Reply(option_probs=(0.5, 0.5), option_mass=1.0) for _ in requests]


class Salted(Counting):
    """Like `scripted:echo` (probabilities a stable function of the prompt), with other numbers: a judge that
    reads the content, so its order-debiased decisions are valid and differ from the echo judge's."""

    def choice(self, requests):
        self.requests += len(requests)
        replies = []
        for r in requests:
            digest = hashlib.sha256(("salt" + "".join(m.content for m in r.messages)).encode()).digest()
            p = 0.05 + 0.9 * int.from_bytes(digest[:8], "big") / 2**64
            replies.append(Reply(option_probs=(p, 1 - p), option_mass=1.0))
        return replies


@pytest.fixture
def saved(tmp_path):
    """A finished scripted debate run: 24 questions in both orders (48 episodes)."""
    config = make_config(protocol="debate", task="math", limit=24, rounds=1, order="both", backend="scripted",
                         judge=CHEAP, debater="scripted:echo", out=str(tmp_path))
    echo = ScriptedBackend("echo")
    return run_experiment(config, models={"judge": echo, "debater": echo}).path


def kept_invalid(results):
    """Whether an invalid decision was kept although a later judge could have decided it."""
    last = results["stage"].max()
    return bool((results["invalid"].astype(bool) & (results["stage"] < last)).any())


def cascade(run, rule, judges=(CHEAP, STRONG), backends=None, **options):
    backends = backends or {judge: Counting(judge.split(":")[1]) for judge in judges}
    report = run_cascade(run, list(judges), rule, models=backends, console=QUIET, **options)
    return report, backends


def test_confidence_rule_defers_exactly_the_unconfident_episodes(saved):
    report, backends = cascade(saved, DeferralRule("confidence", threshold=0.7))
    first = report.stages[0]
    expected = set(first.index[first[["p_answer1", "p_answer2"]].max(axis=1) < 0.7])
    results = report.results.set_index("episode")
    assert 0 < len(expected) < len(first)
    assert set(results.index[results["stage"] == 1]) == expected
    # Every decision asks both label orders: two requests an episode. The strong judge saw the deferred only.
    assert backends[STRONG].requests == 2 * len(expected)
    assert backends[CHEAP].requests == 2 * len(first)
    assert first["debiased"].all() and first["p_correct_swapped"].notna().all()
    assert report.summary["stages"][1] == {"judge": STRONG, "episodes": len(expected), "judged_now": len(expected),
                                           "prompt_tokens": int(report.stages[1]["judge_prompt_tokens"].sum())}
    # Deferred episodes carry the strong judge's decision, the others the cheap judge's. The strong judge
    # prefers the first label whatever it reads: in the presented order it picks answer 1, and debiased its
    # two orders cancel to an exact tie (invalid).
    deferred = results[results["stage"] == 1]
    assert (deferred["judge"] == STRONG).all() and (deferred["verdict_raw"] == 0).all()
    assert deferred["invalid"].all() and deferred["verdict"].isna().all()
    assert not kept_invalid(results)
    kept = results[results["stage"] == 0]
    assert (kept["p_correct"] == kept["p_correct_0"]).all() and kept["p_correct_1"].isna().all()
    assert report.summary["accuracy"] == pytest.approx(results["correct"].mean())
    assert (report.path / "cascade.parquet").is_file()
    assert json.loads((report.path / "cascade.json").read_text())["deferred_fraction"] == pytest.approx(
        len(expected) / len(first))


def test_a_rerun_makes_no_judge_call(saved):
    rule = DeferralRule("entropy", threshold=0.5)
    cascade(saved, rule)
    again, backends = cascade(saved, rule)
    assert backends[CHEAP].requests == backends[STRONG].requests == 0
    assert [s["judged_now"] for s in again.summary["stages"]] == [0, 0]


def test_invalid_cheap_decisions_are_always_deferred(saved):
    backends = {CHEAP: Tied("echo"), STRONG: Counting("first")}
    report, _ = cascade(saved, DeferralRule("confidence", threshold=0.01), backends=backends)
    assert report.stages[0]["invalid"].all()
    assert (report.results["stage"] == 1).all() and backends[STRONG].requests == 2 * len(report.results)


def test_a_position_judge_is_invalid_when_debiased_and_always_deferred(saved):
    """Under order-debiased judging a judge that only prefers a label position ties on every episode: even a
    rule that defers nothing by its score hands all of them to the next judge."""
    backends = {STRONG: Counting("first"), CHEAP: Counting("echo")}
    report, _ = cascade(saved, DeferralRule("confidence", threshold=0.0), judges=(STRONG, CHEAP),
                        backends=backends)
    first = report.stages[0]
    assert first["invalid"].all() and (first["verdict_raw"] == 0).all()
    assert report.features["invalid"].all() and np.allclose(report.features["p_max"], 0.5)
    assert (report.results["stage"] == 1).all() and backends[CHEAP].requests == 2 * len(report.results)
    assert report.summary["decided_by"] == {STRONG: 0, CHEAP: len(report.results)}


def test_a_third_judge_sees_only_what_the_second_deferred(saved):
    report, backends = cascade(saved, DeferralRule("entropy", threshold=0.0), judges=(CHEAP, STRONG, THIRD))
    # scripted:first prefers a position only: debiased, its decisions are ties (invalid), so everything it saw
    # goes on (two requests per episode: both label orders).
    assert report.stages[1]["invalid"].all()
    assert backends[THIRD].requests == backends[STRONG].requests == 2 * len(report.stages[1])
    assert (report.results.loc[report.results["stage"] > 0, "stage"] == 2).all()


def test_budget_sets_the_threshold_on_the_calibration_split(saved):
    report, _ = cascade(saved, DeferralRule("confidence", budget=0.25), calibration=0.5)
    results = report.results
    calibration = results[results["split"] == "calibration"]
    assert (calibration["stage"] > 0).mean() == pytest.approx(0.25, abs=0.1)
    assert report.summary["rules"][0]["cutoff"] is not None


def test_calibration_split_is_by_question():
    ids = pd.Series([f"q{i}" for i in range(10) for _ in range(2)])
    chosen = calibration_questions(ids, 0.3, seed=1)
    assert len(chosen) == 3 and chosen == calibration_questions(ids, 0.3, seed=1)
    assert chosen != calibration_questions(ids, 0.3, seed=2)


def test_learned_rule_is_fitted_on_the_calibration_split_only(saved, monkeypatch):
    seen = []
    fit = deferral.LogisticModel.fit.__func__

    def spy(cls, x, y, l2=1.0):
        seen.append(list(x.index))
        return fit(cls, x, y, l2)

    monkeypatch.setattr(deferral.LogisticModel, "fit", classmethod(spy))
    report, _ = cascade(saved, DeferralRule("learned", budget=0.3), calibration=0.4, seed=3)
    results = report.results.set_index("episode")
    [fitted_on] = seen
    calibration = set(results.index[results["split"] == "calibration"])
    assert set(fitted_on) == calibration
    test_questions = set(results.loc[results["split"] == "test", "question_id"])
    assert not test_questions & set(results.loc[list(calibration), "question_id"])
    assert report.summary["accuracy_test"] == pytest.approx(results.loc[results["split"] == "test", "correct"].mean())


def test_learned_rule_ignores_test_labels(saved, tmp_path):
    """Changing which answer is correct on test questions leaves the fitted rule unchanged."""
    rule = DeferralRule("learned", budget=0.3)
    report, _ = cascade(saved, rule, calibration=0.4, seed=3)
    results = report.results.set_index("episode")
    feats = features(report.stages[0].reset_index(drop=True))
    calibration = results.index[results["split"] == "calibration"]
    labels = ~report.stages[0]["correct"].astype(bool)
    flipped = labels.copy()
    flipped[results.index[results["split"] == "test"]] ^= True
    a = DeferralRule("learned", budget=0.3).fit(feats.loc[calibration], labels.loc[calibration].to_numpy())
    b = DeferralRule("learned", budget=0.3).fit(feats.loc[calibration], flipped.loc[calibration].to_numpy())
    assert np.array_equal(a.model.coef, b.model.coef) and a.cutoff == b.cutoff
    assert report.summary["rules"][0]["model"]["coefficients"] == a.describe()["model"]["coefficients"]


def test_gain_target_judges_the_calibration_split_with_the_next_judge(saved):
    # The gain target needs a next judge that is sometimes right: a position judge never is when debiased.
    backends = {CHEAP: Counting("echo"), STRONG: Salted("echo")}
    report, _ = cascade(saved, DeferralRule("learned", budget=0.2, target="gain"), calibration=0.5,
                        backends=backends)
    results = report.results
    calibration = set(results.loc[results["split"] == "calibration", "episode"])
    deferred = set(results.loc[results["stage"] == 1, "episode"])
    assert backends[STRONG].requests == 2 * len(calibration | deferred)  # both label orders of each


def test_rule_settings_are_checked():
    with pytest.raises(ConfigError, match="either a threshold or a budget"):
        DeferralRule("confidence", threshold=0.5, budget=0.2)
    with pytest.raises(ConfigError, match="unknown deferral rule"):
        DeferralRule("vibes", threshold=0.5)
    with pytest.raises(ConfigError, match="fraction"):
        DeferralRule("entropy", budget=1.5)


def test_cli_cascade_with_curves_and_clear_errors(saved):
    runner = CliRunner()
    result = runner.invoke(app, ["cascade", str(saved), "--judge", CHEAP, "--judge", STRONG, "--rule", "learned",
                                 "--curve", "--backend", "scripted"])
    assert result.exit_code == 0, result.output
    folder = next((saved / "cascades").iterdir())
    curves = pd.read_csv(folder / "curve.csv")
    assert set(curves["rule"]) == {"confidence", "entropy", "learned", "oracle"}
    assert (folder / "cascade.png").is_file() and "test-split" in result.output
    analyzed = runner.invoke(app, ["analyze", str(saved), "--no-plots"])
    assert analyzed.exit_code == 0 and "Judge cascades" in analyzed.output
    lone = subprocess.run([sys.executable, "-m", "oversight.cli", "cascade", str(saved), "--judge", CHEAP],
                          capture_output=True, text=True, check=False)
    assert lone.returncode == 2 and "at least two judges" in lone.stderr


# ------------------------------------------------------------------------------------- curves


def frames(cheap_right, strong_right, cheap_tokens=10, strong_tokens=20):
    index = [f"e{i}" for i in range(len(cheap_right))]
    cheap = pd.DataFrame({"correct": cheap_right, "judge_prompt_tokens": cheap_tokens}, index=index)
    strong = pd.DataFrame({"correct": strong_right, "judge_prompt_tokens": strong_tokens}, index=index)
    return cheap, strong


def test_deferral_curve_by_hand():
    cheap, strong = frames([True, False, False, True], [True, True, False, False])
    curve = deferral_curve(cheap, strong, np.array([0.1, 0.9, 0.5, 0.2]), "r")
    # Deferral order e1 (only strong right), e2 (both wrong), e3 (only cheap right), e0 (both right).
    assert curve["accuracy"].tolist() == [0.5, 0.75, 0.75, 0.5, 0.5]
    assert curve["prompt_tokens"].tolist() == [40, 60, 80, 100, 120]
    assert curve["relative_tokens"].iloc[-1] == 3.0


def test_oracle_is_an_upper_bound_of_every_rule():
    rng = np.random.default_rng(0)
    cheap, strong = frames(rng.random(60) < 0.6, rng.random(60) < 0.7)
    oracle = oracle_curve(cheap, strong)["accuracy"].to_numpy()
    for _ in range(20):
        curve = deferral_curve(cheap, strong, rng.random(60), "random")["accuracy"].to_numpy()
        assert (oracle >= curve - 1e-12).all()
    assert oracle[0] == cheap["correct"].mean() and oracle[-1] == strong["correct"].mean()


def test_curves_use_the_test_split_and_the_table_reads_the_gap_closed(saved):
    report, _ = cascade(saved, DeferralRule("confidence", threshold=0.6), all_stages=True)
    split = pd.Series("test", index=report.stages[0].index)
    split.iloc[:10] = "calibration"
    curves = cascade_curves(report.stages[0], report.stages[1], report.features, split)
    assert (curves.groupby("rule")["deferred"].max() == (split == "test").sum()).all()
    table = curve_table(curves).set_index(["rule", "fraction_deferred"])
    assert table.loc[("oracle", 0.0), "gap_closed"] == 0 and table.loc[("oracle", 1.0), "gap_closed"] == 1
