"""Judge panels: aggregation arithmetic, batching of members, stored per-member verdicts, analysis by size."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.panels import member_matrix, panel_size_table, panel_verdicts
from oversight.config import make_config
from oversight.errors import ConfigError
from oversight.models.scripted import ScriptedBackend
from protocols.panel import aggregate, panel_members
from oversight.experiments.run import run_experiment
from oversight.store import RunStore
from oversight.types import JudgeDecision, Transcript


def member(p1: float, p2: float) -> JudgeDecision:
    return JudgeDecision(probs=(p1, p2), verdict=0 if p1 > p2 else 1)


INVALID = JudgeDecision(probs=(math.nan, math.nan), verdict=None, invalid=True)
THREE = [member(0.9, 0.1), member(0.4, 0.6), member(0.3, 0.7)]


def test_majority_vote_shares():
    decision = aggregate(THREE, "majority")  # votes: answer 1, answer 2, answer 2
    assert decision.probs == pytest.approx((1 / 3, 2 / 3)) and decision.verdict == 1 and not decision.invalid


def test_mean_of_probabilities():
    decision = aggregate(THREE, "mean")  # (0.9 + 0.4 + 0.3) / 3 = 0.5333
    assert decision.probs == pytest.approx((1.6 / 3, 1.4 / 3)) and decision.verdict == 0


def test_normalised_geometric_mean():
    # 0.9*0.4*0.3 = 0.108 and 0.1*0.6*0.7 = 0.042; cube roots 0.4762203 and 0.3476027; normalised by their sum 0.8238230:
    decision = aggregate(THREE, "logmean")
    assert decision.probs == pytest.approx((0.578061, 0.421939), abs=1e-6) and decision.verdict == 0


def test_aggregations_can_disagree_and_members_are_kept():
    verdicts = {how: aggregate(THREE, how).verdict for how in ("majority", "mean", "logmean")}
    assert verdicts == {"majority": 1, "mean": 0, "logmean": 0}
    assert aggregate(THREE, "mean").members == tuple(THREE)


def test_invalid_members_abstain():
    decision = aggregate([member(0.8, 0.2), INVALID, member(0.3, 0.7)], "mean")
    assert decision.probs == pytest.approx((0.55, 0.45)) and decision.verdict == 0
    assert aggregate([INVALID, INVALID], "logmean").invalid


def test_majority_tie_is_broken_by_the_mean_and_an_exact_tie_is_invalid():
    tied = aggregate([member(0.9, 0.1), member(0.4, 0.6)], "majority")
    assert tied.probs == pytest.approx((0.5, 0.5)) and tied.verdict == 0  # mean 0.65 decides
    assert aggregate([member(0.7, 0.3), member(0.3, 0.7)], "majority").invalid


def test_logmean_survives_a_certain_member():
    decision = aggregate([member(1.0, 0.0), member(0.2, 0.8)], "logmean")
    assert all(math.isfinite(p) for p in decision.probs) and decision.verdict == 0


def test_unknown_aggregation_is_a_config_error():
    with pytest.raises(ConfigError, match="majority, mean, logmean"):
        aggregate(THREE, "median")


def test_decision_with_members_round_trips_through_a_transcript_dict():
    decision = aggregate(THREE, "mean")
    again = JudgeDecision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again == decision and again.members[1].probs == (0.4, 0.6)
    assert "members" not in member(0.6, 0.4).to_dict()  # single judges keep their format


def panel_run(tmp_path, judges, models, **extra):
    config = make_config(protocol="debate", task="math", limit=4, rounds=1, order="both", backend="scripted",
                         judge=judges, debater="scripted:echo", out=str(tmp_path), **extra)
    return config, run_experiment(config, models=models)


def test_panel_members_each_decide_and_are_batched_per_model(tmp_path):
    first, second, echo = ScriptedBackend("first"), ScriptedBackend("second"), ScriptedBackend("echo")
    # The members' per-position votes are the point: one label order, else the position judges tie.
    _, report = panel_run(tmp_path, ["scripted:first", "scripted:second", "scripted:echo"],
                          {"judge": first, "judge_2": second, "judge_3": echo, "debater": echo},
                          panel_aggregate="majority", debias=False)
    # One choice call per member model covering all 8 episodes (the echo model also argues: its
    # generate calls are separate).
    assert [c.size for c in first.calls] == [8] and [c.size for c in second.calls] == [8]
    assert [c.size for c in echo.calls if c.kind == "choice"] == [8]
    results = report.results
    assert (results["judge"] == "panel-majority(scripted:first, scripted:second, scripted:echo)").all()
    assert (results["panel_size"] == 3).all()
    for _, row in results.iterrows():
        p = json.loads(row["member_p_correct"])
        assert p[0] == pytest.approx(0.9 if row["correct_index"] == 0 else 0.1)
        assert p[1] == pytest.approx(0.9 if row["correct_index"] == 1 else 0.1)
        votes = sum(v > 0.5 for v in p)
        assert row["p_correct"] == pytest.approx(votes / 3)
    saved = [Transcript.from_dict(r["transcript"]) for r in RunStore(report.path).records()]
    assert all(len(t.decision.members) == 3 for t in saved)


def test_debiased_panel_members_decide_both_orders_in_one_call_per_model(tmp_path):
    first, second, echo = ScriptedBackend("first"), ScriptedBackend("second"), ScriptedBackend("echo")
    _, report = panel_run(tmp_path, ["scripted:first", "scripted:second", "scripted:echo"],
                          {"judge": first, "judge_2": second, "judge_3": echo, "debater": echo})
    # Both label orders of all 8 episodes in one choice call per member model.
    assert [c.size for c in first.calls] == [16] and [c.size for c in second.calls] == [16]
    assert [c.size for c in echo.calls if c.kind == "choice"] == [16]
    saved = [Transcript.from_dict(r["transcript"]) for r in RunStore(report.path).records()]
    for t in saved:
        by_position, by_other_position, by_content = t.decision.members
        assert by_position.orders[0].probs == pytest.approx((0.9, 0.1))  # presented: label 1 is answer 1
        assert by_position.orders[1].probs == pytest.approx((0.1, 0.9))  # swapped: label 1 is answer 2
        assert by_position.invalid and by_other_position.invalid and not by_content.invalid
    assert report.results["debiased"].all()


def test_one_model_sampled_with_several_seeds_is_one_batched_call(tmp_path):
    echo = ScriptedBackend("echo")
    _, report = panel_run(tmp_path, ["scripted:echo?seed=1", "scripted:echo?seed=2"],
                          {"judge": echo, "judge_2": echo, "debater": echo}, judge_cot=True, judge_temperature=0.7)
    generate = [c for c in echo.calls if c.kind == "generate" and "judge" in c.roles]
    # 8 episodes x 2 members x 2 label orders (order-debiased), all reasoning in one call, then one choice call.
    assert [c.roles.count("judge") + c.roles.count("judge_2") for c in generate] == [32]
    choice = [c for c in echo.calls if c.kind == "choice"]
    assert [c.roles.count("judge") + c.roles.count("judge_2") for c in choice] == [32]
    saved = [Transcript.from_dict(r["transcript"]) for r in RunStore(report.path).records()]
    for s in saved:
        reasoning = {(t.meta["member"], t.meta.get("labels", "presented")): t.raw
                     for t in s.turns if t.meta.get("kind") == "reasoning"}
        assert len(reasoning) == 4  # each member reasons once per label order
        for labels in ("presented", "swapped"):  # different seeds, different samples
            assert reasoning[(0, labels)] != reasoning[(1, labels)]
    assert all(s.decision.members[0].probs != s.decision.members[1].probs for s in saved)


def test_member_options_are_checked_before_any_model_loads():
    with pytest.raises(ConfigError, match="nope/judge"):
        panel_members(["scripted:first?prompt=nope/judge"], "scripted")
    with pytest.raises(ConfigError, match="seed= must be an integer"):
        panel_members(["scripted:first?seed=x"], "scripted")
    spec, who = panel_members(["scripted:first", "scripted:first?prompt=debate/judge&seed=3"], "scripted")[1]
    assert spec.options == () and who.role == "judge_2" and who.template == "debate/judge" and who.seed == 3


def test_a_one_judge_list_is_the_single_judge_run():
    single = make_config(protocol="debate", task="math", judge="scripted:first")
    listed = make_config(protocol="debate", task="math", judge=["scripted:first"])
    assert listed.judge == "scripted:first" and listed.run_id == single.run_id
    assert "panel_aggregate" not in single.identity() and "judge_temperature" not in single.identity()
    with pytest.raises(ConfigError, match="at least one judge"):
        make_config(protocol="debate", task="math", judge=[])


# ------------------------------------------------------------------------------------- analysis


def test_panel_analysis_reads_p_correct_like_the_run_time_aggregation():
    # P(correct) of three members; the correct answer is shown second here, as in a swapped episode.
    members = np.array([[0.9, 0.4, 0.3], [0.9, 0.4, math.nan], [0.7, 0.3, math.nan]])
    reported, right = panel_verdicts(members, "majority")
    assert reported[0] == pytest.approx(1 / 3) and not right[0]
    assert reported[1] == pytest.approx(0.5) and right[1]  # tied vote: the mean 0.65 decides
    assert reported[2] == pytest.approx(0.5) and not right[2]  # the mean ties too: invalid, counted wrong
    swapped = [member(1 - p, p) for p in (0.9, 0.4, 0.3)]
    assert panel_verdicts(members[:1], "logmean")[0][0] == pytest.approx(aggregate(swapped, "logmean").probs[1])


def test_panel_size_table_by_hand():
    # Two episodes, three members' P(correct); the correct answer is answer 1 throughout.
    members = np.array([[0.9, 0.6, 0.2], [0.3, 0.8, 0.7]])
    table = panel_size_table(members).set_index(["aggregation", "panel_size"])
    # Size 1: each member alone is right on 2, 1 and 1 of the 2 episodes: mean accuracy 4/6.
    assert table.loc[("mean", 1), "accuracy"] == pytest.approx(4 / 6)
    # Size 3, mean: (0.9+0.6+0.2)/3 = 0.567 and (0.3+0.8+0.7)/3 = 0.6, both right; one subset, no variance.
    assert table.loc[("mean", 3), "accuracy"] == 1.0 and table.loc[("mean", 3), "variance"] == 0
    assert table.loc[("mean", 3), "brier"] == pytest.approx(((1 - 1.7 / 3) ** 2 + (1 - 0.6) ** 2) / 2)
    # Variance across single members shrinks when they are averaged in pairs.
    assert table.loc[("mean", 2), "variance"] < table.loc[("mean", 1), "variance"]


def test_member_matrix_reads_invalid_members_as_missing():
    frame = pd.DataFrame({"member_p_correct": [json.dumps([0.7, None]), json.dumps([0.2, 0.4])],
                          "member_invalid": [json.dumps([False, True]), json.dumps([True, False])]})
    matrix = member_matrix(frame)
    assert np.isnan(matrix[0, 1]) and np.isnan(matrix[1, 0])
    assert panel_verdicts(matrix, "mean")[0].tolist() == pytest.approx([0.7, 0.4])

def test_a_panel_is_one_value_of_a_sweep_axis(tmp_path):
    import subprocess
    import sys

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"""out: {tmp_path / 'out'}
base: {{task: math, limit: 2, rounds: 1, backend: scripted, debater: "scripted:echo"}}
sweep:
  product:
    protocol: [direct]
    judge: ["scripted:first", ["scripted:first", "scripted:second?prompt=direct/judge"]]
""")
    done = subprocess.run([sys.executable, "-m", "oversight.cli", "sweep", str(sweep)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    results = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out").rglob("results.parquet")
                        if p.parent.name != "sweep")
    judges = set(results["judge"])
    assert "scripted:first" in judges and "panel-mean(scripted:first, scripted:second?prompt=direct/judge)" in judges
    bad = tmp_path / "bad.yaml"
    bad.write_text(sweep.read_text().replace("direct/judge", "direct/nope"))
    failed = subprocess.run([sys.executable, "-m", "oversight.cli", "sweep", str(bad)], capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and "direct/nope" in failed.stderr and "judge" in failed.stderr
