"""Re-judging saved transcripts: only the final decision is asked, of the new judge; no agent is called."""

from __future__ import annotations

import pandas as pd
import pytest

from oversight.config import make_config
from oversight.errors import ConfigError
from oversight.models.scripted import ScriptedBackend
from oversight.rejudge import rejudge
from oversight.runner import run_experiment
from tests.helpers import CountingScripted as Counting


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
    assert (after["judge"] == "scripted:second").all() and (after["verdict"] == 1).all()
    assert (before["verdict"] == 0).all()
    # Consultancy's judge also asked questions between rounds: those stay the original judge's.
    assert judge.requests == len(before)
    kept = ["protocol", "question_id", "swapped", "assignment"]
    pd.testing.assert_frame_equal(before[kept], after[kept])


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
    assert again.episodes_run == 0 and judge.requests == len(original.results)
    with pytest.raises(ConfigError, match="not a run folder"):
        rejudge(tmp_path / "nowhere", "scripted:second")


def test_cli_run_from_a_config_file_then_judge_it_again(tmp_path):
    import os
    import subprocess
    import sys

    import yaml

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
    assert len(pd.read_parquet(run / "judged" / "scripted-second" / "results.parquet")) == 2
    bad = oversight("judge", str(run), "--judge", "embedded:gpt-9")
    assert bad.returncode == 2 and "unknown embedded model 'gpt-9'" in bad.stderr
