"""The command line: fast help, clear errors with exit code 2, a full run on the scripted backend."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

SCRIPTED = ["--judge", "scripted:first", "--debater", "scripted:echo"]


def oversight(*args: str, env: dict[str, str] | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oversight.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def test_help_imports_no_torch_or_vllm():
    # --help stays fast because the CLI module imports nothing heavy; check the cause, not a timing.
    result = oversight("--help")
    assert result.returncode == 0 and "run" in result.stdout
    heavy = "('torch', 'vllm', 'transformers', 'pandas')"
    probe = subprocess.run([sys.executable, "-c", f"import sys, oversight.cli; "
                            f"print(sorted(m for m in {heavy} if m in sys.modules))"], capture_output=True, text=True)
    assert probe.stdout.strip() == "[]"


@pytest.mark.parametrize("args, message", [
    (["run", "debate", "--task", "nope"], "unknown task 'nope'"),
    (["run", "chess", "--task", "math"], "unknown protocol 'chess'"),
    (["run", "debate", "--task", "math", "--judge", "embedded:gpt-9"], "unknown embedded model 'gpt-9'"),
    (["run", "debate", "--task", "math", "--judge", "magic:model"], "unknown backend 'magic'"),
    (["run", "debate", "--task", "math", "--judge", "hf:embedded:gpt-9"], "unknown embedded model 'gpt-9'"),
    (["run", "debate", "--task", "math", "--judge", "scripted:embedded:smollm2-135m"], "needs a real backend"),
    (["run", "debate", "--task", "math", "--limit", "0"], "--limit"),
    (["run", "debate", "--task", "math", "--order", "sideways"], "--order"),
    # QA with article on a task without articles would silently be plain QA: refused before any model loads
    (["run", "direct-article", "--task", "math", "--limit", "2"], "shows the judge the source text"),
    # fails while loading the model, after the run folder's path is known: still nothing written
    (["run", "direct", "--task", "math", "--limit", "2", "--judge", "scripted:nonsense"], "unknown scripted model"),
])
def test_bad_input_is_one_clear_message_and_exit_code_2(tmp_path, args, message):
    result = oversight(*args, "--out", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_missing_data_says_how_to_point_at_local_files(tmp_path):
    env = {"OVERSIGHT_DATA_DIR": "", "HF_HUB_OFFLINE": "1"}
    result = oversight("run", "debate", "--task", "math", "--out", str(tmp_path), *SCRIPTED, env=env)
    assert result.returncode == 2
    assert "OVERSIGHT_DATA_DIR" in result.stderr and "--data" in result.stderr
    missing = oversight("run", "debate", "--task", "math", "--data", str(tmp_path / "nowhere"), *SCRIPTED)
    assert missing.returncode == 2 and "nowhere" in missing.stderr


def test_scripted_debate_run_writes_the_run_folder_and_resumes(tmp_path):
    args = ["run", "debate", "--task", "math", "--limit", "6", "--rounds", "2", "--order", "both",
            "--out", str(tmp_path), *SCRIPTED]
    first = oversight(*args)
    assert first.returncode == 0, first.stderr
    [run] = list(tmp_path.iterdir())
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "transcripts.jsonl", "results.parquet"}
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["models"] == {"debater": "scripted:echo", "judge": "scripted:first"}
    assert saved["rounds"] == 2 and saved["order"] == "both" and saved["run_id"] == run.name
    results = pd.read_parquet(run / "results.parquet")
    assert len(results) == 12 and results["question_id"].nunique() == 6
    # A judge that always picks label 1 is right exactly half the time in the presented order...
    assert results["correct_raw"].mean() == 0.5
    assert set(results.groupby("question_id")["correct_raw"].sum()) == {1}
    # ...and, order-debiased (the default), has no preference at all: every decision is a tie, invalid.
    assert results["debiased"].all() and results["invalid"].all() and not results["correct"].any()
    assert "accuracy" in first.stdout and "95% CI" in first.stdout
    assert "the presented order alone: accuracy 0.500" in first.stdout and "agent turns: 48; argument forced after the thinking budget 0, sampled again 0" in first.stdout

    again = oversight(*args)
    assert again.returncode == 0
    assert "0 episodes run, 12 already done" in again.stdout
    assert len((run / "transcripts.jsonl").read_text().splitlines()) == 12


SHARED_COLUMNS = {"question_id", "article", "judge", "debater", "consultant", "assignment", "p_answer1", "p_answer2",
                  "verdict", "correct", "invalid", "judge_mass", "best_of_n", "debiased", "p_correct_raw",
                  "verdict_raw", "correct_raw", "invalid_raw", "p_correct_swapped", "decision_method",
                  "harness_version", "config_hash", "prompts_hash", "models"}
AGENT_COLUMNS = {"agent_turns", "invalid_turns", "lenient_turns", "retried_turns", "forced_turns", "quotes",
                 "verified_quotes"}
OPEN_COLUMNS = {"agent_choice", "agent_correct", "agent_choice_valid", "judge_agrees"}


@pytest.mark.parametrize("protocol, per_question, own_columns", [
    ("direct", 1, set()), ("direct-article", 1, set()), ("debate", 1, AGENT_COLUMNS),
    ("consultancy", 2, AGENT_COLUMNS | {"consultant_correct"}), ("open-debate", 1, AGENT_COLUMNS | OPEN_COLUMNS),
    ("open-consultancy", 1, AGENT_COLUMNS | OPEN_COLUMNS | {"consultant_correct"})])
def test_every_protocol_runs_on_math_with_one_results_schema(tmp_path, protocol, per_question, own_columns):
    task = "quality" if protocol == "direct-article" else "math"  # QA with article needs a task with articles
    result = oversight("run", protocol, "--task", task, "--limit", "3", "--rounds", "2", "--order", "fixed",
                       "--out", str(tmp_path), "--consultant", "scripted:echo", *SCRIPTED)
    assert result.returncode == 0, result.stderr
    [run] = list(tmp_path.iterdir())
    results = pd.read_parquet(run / "results.parquet")
    assert len(results) == 3 * per_question and set(results["protocol"]) == {protocol}
    assert set(results.columns) - SHARED_COLUMNS - own_columns == {
        "run_id", "episode", "task", "protocol", "rounds", "swapped", "correct_index", "p_correct"}
    if protocol == "consultancy":
        # Each question is argued once for the correct and once for the incorrect answer.
        assert sorted(results["consultant_correct"]) == [False] * 3 + [True] * 3
