"""`rejudge:` in a sweep file: every finished cell judged again from its transcripts, no agent called."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from analysis.load import load_runs
from oversight.errors import ConfigError
from oversight.models import ModelSpec, load_backend
from oversight.models.scripted import ScriptedBackend
from oversight.experiments.rejudge import JUDGED
from oversight.experiments.schedule import ModelPool, run_sweep
from oversight.store import RunStore
from oversight.experiments.sweep import load_sweep

AGENT = ModelSpec("scripted", "echo")
SECOND = ModelSpec("scripted", "second")


def counting_pool() -> ModelPool:
    return ModelPool(loader=lambda spec, config: load_backend(spec))


def test_every_cell_is_judged_again_without_calling_an_agent(write_sweep):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["direct", "consultancy", "debate"]}},
                                   base={"order": "both"}, rejudge=["scripted:second"]))
    pool = counting_pool()
    report = run_sweep(sweep, pool=pool)
    assert not report.failed
    agent: ScriptedBackend = pool.loaded[AGENT]
    second: ScriptedBackend = pool.loaded[SECOND]
    assert {c.kind for c in agent.calls} == {"generate"} and len(agent.calls) == 1  # the cells' one round only
    for cell in sweep.cells:
        folder = sweep.path / cell.id
        judged = RunStore(folder / JUDGED / "scripted-second").done_keys()
        assert judged == RunStore(folder).done_keys() and judged
    # one batched decision call per cell from the second judge, over both label orders of all its episodes
    assert [c.size for c in second.calls] == [2 * len(RunStore(sweep.path / c.id).done_keys()) for c in sweep.cells]
    merged = pd.read_parquet(sweep.path / "results.parquet")
    assert set(merged["judge"]) == {"scripted:first", "scripted:second"}
    assert merged.groupby("judge").size().nunique() == 1  # the second judge saw exactly the same episodes
    assert (merged["cell"].str.endswith(f"/{JUDGED}/scripted-second") == (merged["judge"] == "scripted:second")).all()


def test_the_self_judging_pass_says_which_set_it_judges(write_sweep):
    path = write_sweep({"product": {"protocol": ["direct", "debate"]}}, rejudge=["scripted:second"])
    sweep = load_sweep(path)
    console = Console(file=io.StringIO(), width=200)
    run_sweep(sweep, console=console, pool=counting_pool())
    printed = console.file.getvalue()
    for number, cell in enumerate(sweep.cells, 1):
        episodes = len(RunStore(sweep.path / cell.id).done_keys())
        assert f"judging {cell.id} again with scripted:second ({number}/2): {episodes} episode(s)" in printed
        assert f"judged {cell.id} again in " in printed
    again = Console(file=io.StringIO(), width=200)
    run_sweep(load_sweep(path), console=again, pool=counting_pool())
    assert "judging" not in again.file.getvalue()  # nothing left to judge: no line


def test_a_finished_sweep_reruns_with_no_model_loaded(write_sweep):
    path = write_sweep({"product": {"protocol": ["direct", "debate"]}}, rejudge=["scripted:second"])
    run_sweep(load_sweep(path), pool=counting_pool())
    again = counting_pool()
    report = run_sweep(load_sweep(path), pool=again)
    assert report.episodes_run == 0 and not again.loads


def test_a_cell_is_not_judged_again_by_its_own_judge(write_sweep):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["direct"], "judge": ["scripted:first", "scripted:second"]}},
                                   rejudge=["scripted:second"]))
    pool = counting_pool()
    run_sweep(sweep, pool=pool)
    own = next(c for c in sweep.cells if c.config.judge == "scripted:second")
    other = next(c for c in sweep.cells if c.config.judge == "scripted:first")
    assert not (sweep.path / own.id / JUDGED).exists()
    assert (sweep.path / other.id / JUDGED / "scripted-second" / "results.parquet").is_file()


def test_bad_rejudge_spec_names_its_key(write_sweep):
    with pytest.raises(ConfigError, match=r"rejudge\[1\]: .*names no model"):
        load_sweep(write_sweep({"product": {"protocol": ["direct"]}}, rejudge=["scripted:second", "vllm:"]))


def test_analysis_of_a_sweep_counts_each_episode_once(write_sweep):
    sweep = load_sweep(write_sweep({"product": {"protocol": ["direct", "debate"]}}, rejudge=["scripted:second"]))
    run_sweep(sweep, pool=counting_pool())
    rows = load_runs(sweep.path)  # the sweep's own results.parquet merges the cells: not a run of its own
    merged = pd.read_parquet(sweep.path / "results.parquet")
    assert len(rows) == len(merged) == 2 * sum(len(RunStore(sweep.path / c.id).done_keys()) for c in sweep.cells)
    assert not rows.duplicated(["run", "episode"]).any()
