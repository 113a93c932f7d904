"""kill -9 of `oversight run` midway, then the same command again: the results equal an uninterrupted
run's, with no episode lost or written twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from oversight.cache import CACHE_FILE
from oversight.config import make_config
from oversight.experiments.run import run_experiment
from tests.serving.test_resume import results, scripted_models, transcripts

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["run", "debate", "--task", "math", "--limit", "4", "--rounds", "2", "--order", "both",
        "--judge", "scripted:echo", "--debater", "scripted:echo", "--max-tokens", "16", "--name", "killed"]


def finished_lines(run: Path) -> int:
    file = run / "transcripts.jsonl"
    return file.read_bytes().count(b"\n") if file.exists() else 0


def cached_entries(run: Path) -> int:
    try:
        with sqlite3.connect(run / CACHE_FILE) as db:
            return db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_when(out: Path, ready, env: dict[str, str], limit: float = 60.0) -> None:
    """Start the slowed command, SIGKILL it as soon as `ready(run_folder)` holds."""
    process = subprocess.Popen([sys.executable, "-m", "tests.serving.slow_cli", *ARGS, "--out", str(out)],
                               cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + limit
    try:
        while not ready(out / "killed"):
            if process.poll() is not None:
                pytest.fail(f"the run ended (code {process.returncode}) before the kill point: "
                            f"{process.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the kill point was never reached")
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        process.stderr.close()


@pytest.mark.parametrize("point", ["between episodes", "inside model calls"])
def test_kill_9_midway_then_resume_equals_an_uninterrupted_run(tmp_path, point):
    if point == "between episodes":  # some episodes on disk, the rest not yet
        env, ready = {"SLOW_APPEND_SECONDS": "0.25"}, lambda run: finished_lines(run) >= 2
    else:  # debate turns cached, no episode finished
        env, ready = {"SLOW_CALL_SECONDS": "0.4"}, lambda run: cached_entries(run) >= 8
    kill_when(tmp_path / "out", ready, env)
    run = tmp_path / "out" / "killed"
    done_before = finished_lines(run)
    assert done_before < 8

    config = make_config(protocol="debate", task="math", limit=4, rounds=2, order="both", judge="scripted:echo",
                         debater="scripted:echo", max_tokens=16, name="killed", out=str(tmp_path / "out"))
    models = scripted_models()
    resumed = run_experiment(config, models=models)
    assert resumed.episodes_skipped == done_before and resumed.episodes_run == 8 - done_before
    calls = {role: [call.kind for call in model.calls] for role, model in models.items()}
    # Killed between episodes: every model call was already cached. Inside the calls: round 1 was.
    assert calls == ({"judge": [], "debater": []} if point == "between episodes"
                     else {"judge": ["choice"], "debater": ["generate"]})
    reference = run_experiment(config.model_copy(update={"out": str(tmp_path / "reference")}))
    assert transcripts(run) == transcripts(reference.path)  # same 8 keys, each once, same content
    pd.testing.assert_frame_equal(results(run), results(reference.path))
    assert cached_entries(run) == cached_entries(reference.path)  # no model call was stored twice
