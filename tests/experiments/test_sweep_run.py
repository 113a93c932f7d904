"""Running sweeps on the scripted backend: shared models, cross-cell batching, resume, failures, status."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

from oversight.models import ModelSpec, load_backend
from oversight.models.scripted import ScriptedBackend
from oversight.experiments.schedule import ModelPool, run_sweep
from oversight.store import RunStore
from oversight.experiments.sweep import load_sweep
from oversight.experiments.sweep_state import sweep_status

JUDGE = ModelSpec("scripted", "first")
AGENT = ModelSpec("scripted", "echo")


def counting_pool() -> ModelPool:
    return ModelPool(loader=lambda spec, config: load_backend(spec))


def test_cells_share_each_model_and_its_batched_calls(write_sweep):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["direct", "debate"], "seed": [0, 1]}}))
    pool = ModelPool()  # loads as `oversight run` does
    report = run_sweep(sweep, pool=pool)
    assert not report.failed and len(sweep.cells) == 4
    assert pool.loads == {JUDGE: 1, AGENT: 1}  # two distinct specs, each loaded once for four cells
    judge: ScriptedBackend = pool.loaded[JUDGE]
    agent: ScriptedBackend = pool.loaded[AGENT]
    # 2 questions x 2 seeds of debate: every debater turn of every cell in ONE generate call; the judges of
    # the direct cells (first step) and of the debate cells (after the round) in two choice calls, each with
    # both label orders of its 4 episodes.
    assert [c.kind for c in agent.calls] == ["generate"] and agent.calls[0].size == 8
    assert [c.size for c in judge.calls] == [8, 8]
    results = pd.read_parquet(sweep.path / "results.parquet")
    assert len(results) == 8 and results["cell"].nunique() == 4


def test_resume_skips_finished_cells_and_episodes(write_sweep):
    path = write_sweep({"product": {"protocol": ["direct", "debate"]}})
    sweep = load_sweep(path)
    first = run_sweep(sweep, pool=counting_pool())
    assert first.episodes_run == 4
    # Edit the file: one new cell; the old ones are done and must not load or call anything.
    pool = counting_pool()
    edited = load_sweep(write_sweep({"product": {"protocol": ["direct", "debate"], "seed": [0, 3]}}))
    second = run_sweep(edited, pool=pool)
    assert second.episodes_run == 4  # only the two seed-3 cells
    assert sum(len(b.calls) for b in pool.loaded.values()) == 3  # direct judge + debate round + debate judge
    third_pool = counting_pool()
    assert run_sweep(edited, pool=third_pool).episodes_run == 0 and not third_pool.loads


def test_interrupted_cell_resumes_at_its_missing_episodes(write_sweep):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["debate"]}}, base={"limit": 3}))
    [cell] = sweep.cells
    run_sweep(sweep, pool=counting_pool())
    transcripts = sweep.path / cell.id / "transcripts.jsonl"
    lines = transcripts.read_text().splitlines()
    transcripts.write_text("\n".join(lines[:1]) + "\n" + lines[1][:40])  # one episode kept, one cut mid-write
    pool = counting_pool()
    report = run_sweep(sweep, pool=pool)
    assert report.episodes_run == 2
    assert pool.loaded[AGENT].calls[0].size == 4  # two debates, two debaters each
    assert len(RunStore(sweep.path / cell.id).done_keys()) == 3


class Broken(ScriptedBackend):
    def generate(self, requests):
        raise RuntimeError("the server went away")


def test_failing_cell_is_retried_then_reported_and_the_rest_finish(write_sweep):
    path = write_sweep({"product": {"protocol": ["direct", "debate", "consultancy"]}},
                       base={"consultant": "scripted:second"}, cell_retries=2)
    sweep = load_sweep(path)
    loads: list[ModelSpec] = []

    def loader(spec: ModelSpec, config):
        loads.append(spec)
        return Broken(spec.model) if spec.model == "second" else load_backend(spec)

    report = run_sweep(sweep, pool=ModelPool(loader=loader))
    consultancy = next(c.id for c in sweep.cells if c.config.protocol == "consultancy")
    assert set(report.failed) == {consultancy} and "the server went away" in report.failed[consultancy]
    states = {s.id: s.state for s in sweep_status(sweep.path)}
    assert states.pop(consultancy) == "failed" and set(states.values()) == {"done"}
    assert len(loads) == len(set(loads)) == 3  # retries reuse the loaded models
    failure = sweep.path / "failures" / f"{consultancy}.yaml"
    assert "attempts: 3" in failure.read_text()
    # Fixed (the model answers again): the rerun finishes it and clears its failure record.
    assert not run_sweep(sweep, pool=counting_pool()).failed
    assert not failure.exists() and {s.state for s in sweep_status(sweep.path)} == {"done"}


def test_unloadable_model_fails_only_its_cells(write_sweep):
    grid = {"product": {"protocol": ["debate"], "debater": ["scripted:echo", "scripted:nope"]}}
    sweep = load_sweep(write_sweep(grid))
    report = run_sweep(sweep, pool=counting_pool())
    assert len(report.failed) == 1 and "unknown scripted model 'nope'" in next(iter(report.failed.values()))
    assert sorted(s.state for s in sweep_status(sweep.path)) == ["done", "failed"]


def test_max_models_runs_waves_and_frees_models(write_sweep):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["direct"], "judge": ["scripted:first", "scripted:second",
                                                                                  "scripted:correct"]}},
                                   max_models=1))
    pool = counting_pool()
    report = run_sweep(sweep, pool=pool)
    assert not report.failed and sum(pool.loads.values()) == 3 and len(pool.loaded) == 1


def oversight(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oversight.cli", *args], check=False, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


def test_cli_plan_run_status_and_overrides(write_sweep, tmp_path):
    path = write_sweep({"product": {"protocol": ["direct", "debate"], "seed": [0, 1]}})
    plan = oversight("sweep", str(path), "--dry-run", "--limit", "3")
    assert plan.returncode == 0, plan.stderr
    # 12 episodes (3 questions x 4 cells): two judge requests each (both label orders), 12 debater turns.
    assert "4 cells, 4 with work left" in plan.stdout and "judge 24" in plan.stdout and "debater 12" in plan.stdout
    assert not (tmp_path / "runs").exists()
    ran = oversight("sweep", str(path), "--limit", "3")
    assert ran.returncode == 0, ran.stderr
    assert "12 episodes run" in ran.stdout and "accuracy" in ran.stdout
    status = oversight("status", str(tmp_path / "runs" / "grid"))
    assert status.returncode == 0 and "4 cells: 4 done, 0 pending, 0 failed" in status.stdout
    # Given the file, status reads the folder the file's sweep writes to.
    by_file = oversight("status", str(path))
    assert by_file.returncode == 0 and "4 cells: 4 done" in by_file.stdout
    bad = oversight("sweep", str(path), "--judge", "embedded:gpt-9")
    assert bad.returncode == 2 and "--judge: unknown embedded model 'gpt-9'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_window_bounds_the_batches_and_gives_the_same_results(write_sweep, tmp_path):
    grid = {"product": {"protocol": ["direct", "debate"], "seed": [0, 1]}}
    whole = load_sweep(write_sweep(grid, base={"limit": 3}))
    run_sweep(whole, pool=counting_pool())
    windowed = load_sweep(write_sweep(grid, base={"limit": 3}, name="windowed", window=2))
    pool = counting_pool()
    assert not run_sweep(windowed, pool=pool).failed
    agent: ScriptedBackend = pool.loaded[AGENT]
    assert max(c.size for c in agent.calls) <= 2 * 2  # two live episodes, two debaters each
    columns = ["cell", "episode", "verdict", "p_answer1", "correct"]

    def rows(sweep):
        frame = pd.read_parquet(sweep.path / "results.parquet")[columns]
        return frame.sort_values(["cell", "episode"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(windowed), rows(whole))
