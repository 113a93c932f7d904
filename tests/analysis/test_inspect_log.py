"""`oversight export RUN --format inspect`: a run as an Inspect eval log that Inspect's own reader opens."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.inspect_log import to_eval_log, write_inspect_log
from oversight.config import make_config
from oversight.errors import ConfigError
from oversight.experiments.run import run_experiment
from oversight.store import RunStore

pytest.importorskip("inspect_ai")
from inspect_ai.log import (list_eval_logs, read_eval_log, read_eval_log_sample,  # noqa: E402
                            read_eval_log_sample_summaries)


def oversight(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oversight.cli", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def run_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if (p / "config.yaml").is_file())


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """The documented example, one answer order judged (its swapped-order column is NaN)."""
    out = tmp_path_factory.mktemp("small")
    run_experiment(make_config(protocol="debate", task="math", limit=3, rounds=1, judge="scripted:first",
                               debater="scripted:echo", backend="scripted", debias=False, out=str(out)))
    return run_folders(out)[0]


@pytest.mark.parametrize("suffix", [".eval", ".json"])
def test_every_episode_is_a_sample_with_its_turns_scores_and_config(scripted_runs, tmp_path, suffix):
    for run in run_folders(scripted_runs):
        path = write_inspect_log(run, tmp_path / f"{run.name}{suffix}")
        log = read_eval_log(str(path))
        results = pd.read_parquet(run / "results.parquet").set_index("episode")
        records = {record["key"]: record for record in RunStore(run).records()}
        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))

        assert log.status == "success"
        assert [s.id for s in log.samples] == list(records) and set(records) == set(results.index)
        assert log.eval.run_id == config["run_id"] and log.eval.metadata["run_id"] == config["run_id"]
        assert log.eval.metadata["config"] == config
        assert log.eval.metadata["harness_version"] == importlib.metadata.version("oversight")
        assert {role: m.model for role, m in log.eval.model_roles.items()} == config["models"]
        assert log.eval.model == results["judge"].iloc[0]
        accuracy = {s.name: s.metrics for s in log.results.scores}["correct"]["accuracy"].value
        assert accuracy == pytest.approx(results["correct"].mean())

        for sample in log.samples:
            row, transcript = results.loc[sample.id], records[sample.id]["transcript"]
            question = transcript["question"]
            assert sample.scores["correct"].value == ("C" if row["correct"] else "I")
            assert sample.scores["p_correct"].value == row["p_correct"]
            verdict = None if pd.isna(row["verdict"]) else str(int(row["verdict"]) + 1)
            assert sample.scores["correct"].answer == verdict
            assert sample.target == str(question["correct_index"] + 1)
            prompt, *turns, decision = sample.messages
            assert prompt.role == "user" and prompt.text == sample.input[0].text
            assert question["question"] in prompt.text and all(answer in prompt.text for answer in question["answers"])
            assert [(m.role, m.metadata["role"], m.metadata["round"]) for m in turns] == [
                ("assistant", t["role"], t["round"]) for t in transcript["turns"]]
            assert all(t["text"] in m.text and m.model for m, t in zip(turns, transcript["turns"]))
            assert decision.role == "assistant" and decision.metadata["decision"] == transcript["decision"]
            assert sample.metadata["question_id"] == row["question_id"]


def test_inspect_view_loader_lists_and_reads_the_default_log(small_run):
    path = write_inspect_log(small_run)
    assert path == small_run / "inspect" / f"{small_run.name}.eval"
    assert [Path(info.name.removeprefix("file://")) for info in list_eval_logs(str(path.parent))] == [path]
    header = read_eval_log(str(path), header_only=True)
    assert header.samples is None and header.results.completed_samples == 3 and header.eval.task == "debate/math"
    summaries = read_eval_log_sample_summaries(str(path))
    assert len(summaries) == 3 and all(s.scores and "p_correct" in s.scores for s in summaries)
    sample = read_eval_log_sample(str(path), id=summaries[0].id, epoch=1)
    assert len(sample.messages) == 4  # the question, two debaters' turns, the judge's decision


def test_json_log_is_strict_json(small_run, tmp_path):
    # a results row's NaN (the swapped-order column of a one-order run) is written as null, never as NaN
    path = write_inspect_log(small_run, tmp_path / "log.json")

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the log")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert data["samples"][0]["metadata"]["p_correct_swapped"] is None
    assert math.isnan(pd.read_parquet(small_run / "results.parquet")["p_correct_swapped"].iloc[0])


def test_an_unfinished_run_exports_its_finished_episodes_as_cancelled(small_run, tmp_path):
    run = tmp_path / small_run.name
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("inspect", ".lock", "cache.sqlite"))
    lines = (run / "transcripts.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (run / "transcripts.jsonl").write_text("".join(lines[:2]), encoding="utf-8")
    log = to_eval_log(run)
    assert log.status == "cancelled" and len(log.samples) == 2
    assert (log.results.completed_samples, log.results.total_samples) == (2, 3)


def test_not_a_run_folder_is_a_config_error(scripted_runs, tmp_path):
    with pytest.raises(ConfigError, match="not a run folder"):
        to_eval_log(scripted_runs)  # the parent of runs
    with pytest.raises(ConfigError, match="does not exist"):
        write_inspect_log(tmp_path / "nowhere")


def test_cli_writes_the_default_log(small_run, tmp_path):
    out = tmp_path / "run.eval"
    result = oversight("export", str(small_run), "--format", "inspect", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and len(read_eval_log(str(out)).samples) == 3


@pytest.mark.parametrize("args, message", [
    (["--format", "csv"], "unknown export format 'csv'"),
    (["--format", "inspect", "--out", "log.txt"], "must end in .eval or .json"),
])
def test_cli_bad_options_exit_2(small_run, args, message):
    result = oversight("export", str(small_run), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_cli_bad_run_folder_exits_2(scripted_runs, tmp_path):
    for folder, message in ((scripted_runs, "not a run folder"), (tmp_path / "nowhere", "does not exist")):
        result = oversight("export", str(folder), "--format", "inspect")
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_missing_inspect_ai_names_the_extra(small_run):
    hide = ("import sys; sys.modules['inspect_ai'] = None; from oversight.cli import main; "
            f"sys.argv = ['oversight', 'export', {str(small_run)!r}, '--format', 'inspect']; main()")
    result = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "pip install 'oversight[inspect]'" in result.stderr
