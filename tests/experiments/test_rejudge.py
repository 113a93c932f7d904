"""Re-judging saved transcripts: only the final decision is asked, of the new judge; no agent is called."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from oversight.config import make_config
from oversight.errors import ConfigError, DataError
from oversight.models.scripted import ScriptedBackend
from oversight.experiments.rejudge import rejudge
from oversight.experiments.run import run_experiment
from oversight.store import RunStore
from oversight.types import Reply, Transcript
from tests.helpers import CountingScripted as Counting

ORDER_COLUMNS = ["debiased", "p_correct_raw", "verdict_raw", "correct_raw", "invalid_raw", "p_correct_swapped",
                 "decision_method"]


def saved_run(tmp_path, protocol: str, **extra):
    config = make_config(protocol=protocol, task="math", limit=3, rounds=2, order="both", backend="scripted",
                         judge="scripted:first", debater="scripted:echo", out=str(tmp_path), **extra)
    agent = ScriptedBackend("echo")
    return run_experiment(config, models={"judge": ScriptedBackend("first"), "debater": agent, "consultant": agent})


@pytest.mark.parametrize("protocol", ["direct", "debate", "consultancy"])
def test_rejudging_calls_only_the_new_judge_and_keeps_the_arguments(tmp_path, protocol):
    original = saved_run(tmp_path, protocol)
    agent, judge = Counting("echo"), Counting("second")
    report = rejudge(original.path, "scripted:second", models={"judge": judge, "debater": agent, "consultant": agent})
    assert agent.requests == 0
    before = original.results.set_index("episode").sort_index()
    after = pd.read_parquet(report.path / "results.parquet").set_index("episode").sort_index()
    assert report.path == original.path / "judged" / "scripted-second"
    assert list(after.index) == list(before.index) and report.episodes_run == len(before)
    # Order-debiased (the run's default): the new judge decides each episode in both label orders. It prefers
    # the second label whatever it reads, so its presented-order verdict is answer 2 and its debiased decision
    # an exact tie (invalid); the original judge's presented-order verdicts were answer 1.
    assert set(ORDER_COLUMNS) <= set(after.columns) and after["debiased"].all()
    assert (after["judge"] == "scripted:second").all() and (after["verdict_raw"] == 1).all()
    assert after["invalid"].all() and list(after["p_correct_swapped"]) == pytest.approx(1 - after["p_correct_raw"])
    assert (before["verdict_raw"] == 0).all()
    # Consultancy's judge also asked questions between rounds: those stay the original judge's.
    assert judge.requests == 2 * len(before)
    kept = ["protocol", "question_id", "swapped", "assignment"]
    pd.testing.assert_frame_equal(before[kept], after[kept])
    judged = [Transcript.from_dict(r["transcript"]) for r in RunStore(report.path).records()]
    # Both orders kept, in the presented answer order: label 2 is answer 2, then (swapped) answer 1.
    assert all([p for o in t.decision.orders for p in o.probs] == pytest.approx([0.1, 0.9, 0.9, 0.1]) for t in judged)


@pytest.mark.parametrize("saved_before_debiasing", [False, True])
def test_rejudging_a_one_order_run_asks_one_order(tmp_path, saved_before_debiasing):
    # The saved run's setting holds for its re-judging: one decision per episode, in the presented order. A run
    # saved before order-debiased judging existed (no `debias` in its config.yaml) was judged in one order.
    original = saved_run(tmp_path, "debate", debias=False)
    if saved_before_debiasing:
        file = original.path / "config.yaml"
        file.write_text(yaml.safe_dump({k: v for k, v in yaml.safe_load(file.read_text()).items() if k != "debias"}))
    judge = Counting("second")
    report = rejudge(original.path, "scripted:second", models={"judge": judge})
    after = report.results
    assert judge.requests == len(after) == len(original.results)
    assert not after["debiased"].any() and (after["verdict"] == 1).all() and after["p_correct_swapped"].isna().all()
    assert (after["p_correct_raw"] == after["p_correct"]).all()


class InvalidChooser(Counting):
    """Argues like `scripted:echo`; its answer choice leans to answer 1 but its most likely token is no label."""

    def choice(self, requests):
        self.requests += len(requests)
        return [Reply(option_probs=(0.7, 0.3), option_mass=0.2, top_is_option=False) for _ in requests]


def test_an_invalid_agent_choice_replays_to_the_saved_side(tmp_path):
    config = make_config(protocol="open-consultancy", task="math", limit=6, rounds=1, order="both",
                         backend="scripted", judge="scripted:echo", consultant="scripted:echo", out=str(tmp_path))
    original = run_experiment(config, models={"judge": ScriptedBackend("echo"), "consultant": InvalidChooser("echo")})
    before = original.results.set_index("episode").sort_index()
    assert not before["agent_choice_valid"].any() and set(before["agent_choice"]) == {0, 1}  # seeded sides
    report = rejudge(original.path, "scripted:echo", models={"judge": ScriptedBackend("echo")})
    after = report.results.set_index("episode").sort_index()
    for column in ("agent_choice", "agent_choice_valid", "assignment", "p_answer1", "p_correct_swapped"):
        assert list(after[column]) == list(before[column]), column  # same side argued: the same judge prompts
    # A transcript whose saved choice the protocol does not reproduce is refused, not judged on the other side.
    file = original.path / "transcripts.jsonl"
    records = [json.loads(line) for line in file.read_text().splitlines()]
    records[0]["transcript"]["meta"]["agent_choice"] ^= 1
    file.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(DataError, match="does not replay to the saved one"):
        rejudge(original.path, "scripted:first", models={"judge": ScriptedBackend("first")})


@pytest.mark.parametrize("protocol", ["debate", "consultancy"])
def test_same_judge_reproduces_the_saved_decisions_exactly(tmp_path, protocol):
    # The echo judge's probabilities hash the whole prompt: equal numbers mean an identical judge prompt.
    config = make_config(protocol=protocol, task="math", limit=2, rounds=2, backend="scripted",
                         judge="scripted:echo", debater="scripted:echo", out=str(tmp_path))
    original = run_experiment(config, models={"judge": ScriptedBackend("echo"), "debater": ScriptedBackend("echo"),
                                              "consultant": ScriptedBackend("echo")})
    report = rejudge(original.path, "scripted:echo", models={"judge": ScriptedBackend("echo")})
    before = original.results.set_index("episode").sort_index()
    after = report.results.set_index("episode").sort_index()
    assert list(after["p_answer1"]) == list(before["p_answer1"])


def test_rejudging_resumes_and_rejects_a_non_run_folder(tmp_path):
    original = saved_run(tmp_path, "debate")
    judge = Counting("second")
    rejudge(original.path, "scripted:second", models={"judge": judge})
    again = rejudge(original.path, "scripted:second", models={"judge": judge})
    assert again.episodes_run == 0 and judge.requests == 2 * len(original.results)  # both label orders, once
    with pytest.raises(ConfigError, match="not a run folder"):
        rejudge(tmp_path / "nowhere", "scripted:second")


def test_cli_run_from_a_config_file_then_judge_it_again(tmp_path):
    import os
    import subprocess
    import sys

    def oversight(*args):
        return subprocess.run([sys.executable, "-m", "oversight.cli", *args], check=False, capture_output=True,
                              text=True, env=os.environ, timeout=300)

    file = tmp_path / "run.yaml"
    file.write_text(yaml.safe_dump({"protocol": "debate", "task": "math", "limit": 5, "rounds": 1,
                                    "judge": "scripted:first", "debater": "scripted:echo", "backend": "scripted"}))
    ran = oversight("run", "--config", str(file), "--limit", "2", "--out", str(tmp_path / "runs"))
    assert ran.returncode == 0, ran.stderr
    [run] = list((tmp_path / "runs").iterdir())
    assert yaml.safe_load((run / "config.yaml").read_text())["limit"] == 2  # the flag won over the file
    judged = oversight("judge", str(run), "--judge", "scripted:second")
    assert judged.returncode == 0, judged.stderr
    judged_rows = pd.read_parquet(run / "judged" / "scripted-second" / "results.parquet")
    assert len(judged_rows) == 2 and set(ORDER_COLUMNS + ["lenient_turns", "retried_turns"]) <= set(judged_rows)
    assert judged_rows["debiased"].all() and (judged_rows["verdict_raw"] == 1).all()
    bad = oversight("judge", str(run), "--judge", "embedded:gpt-9")
    assert bad.returncode == 2 and "unknown embedded model 'gpt-9'" in bad.stderr
