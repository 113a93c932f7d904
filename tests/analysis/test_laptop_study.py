"""The laptop study: its sweep file, a rerun that calls no model, and the README section built from its results."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.study import BEGIN, END, readme_section, study_tables
from oversight.models import load_backend
from oversight.experiments.schedule import ModelPool, run_sweep
from oversight.experiments.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[2]


def scripted_copy(folder: Path) -> Path:
    """configs/laptop-study.yaml with scripted models (2 questions per task), self-judged by the agent model."""
    data = yaml.safe_load((ROOT / "configs" / "laptop-study.yaml").read_text())
    data["base"] |= {"judge": "scripted:first", "debater": "scripted:echo", "backend": "scripted", "limit": 2}
    data |= {"rejudge": ["scripted:echo"], "out": str(folder)}
    path = folder / "laptop-study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def counting_pool() -> ModelPool:
    return ModelPool(loader=lambda spec, config: load_backend(spec))


@pytest.fixture(scope="module")
def scripted_study(tmp_path_factory) -> Path:
    sweep = load_sweep(scripted_copy(tmp_path_factory.mktemp("study")))
    report = run_sweep(sweep, pool=counting_pool())
    assert not report.failed
    return sweep.path


def test_the_study_sweep_covers_the_design():
    sweep = load_sweep(ROOT / "configs" / "laptop-study.yaml")
    cells = {(c.config.protocol, c.config.task) for c in sweep.cells}
    assert cells == {(p, t) for p in ("direct", "consultancy", "debate") for t in ("quality", "math", "logic", "code")
                     } | {("direct-article", "quality")}
    # every question once, in a random answer order; the judge decides in both label orders (order-debiased)
    assert all(c.config.order == "random" and c.config.debias for c in sweep.cells)
    assert all(c.config.limit >= (202 if c.config.task == "quality" else 50) for c in sweep.cells)
    assert {c.config.judge for c in sweep.cells} == {"embedded:smollm2-135m"}
    agents = {c.config.debater for c in sweep.cells if c.config.protocol == "debate"}
    agents |= {c.config.consultant for c in sweep.cells if c.config.protocol == "consultancy"}
    assert [*agents] == sweep.settings.rejudge  # self-judging: one agent model, which judges every cell again


def test_a_finished_study_reruns_with_no_model_call(scripted_study):
    before = pd.read_parquet(scripted_study / "results.parquet")
    pool = counting_pool()
    assert run_sweep(load_sweep(scripted_copy(scripted_study.parent)), pool=pool).episodes_run == 0
    assert not pool.loads  # no model loaded, so no call made
    pd.testing.assert_frame_equal(pd.read_parquet(scripted_study / "results.parquet"), before)


def test_the_readme_section_reports_every_table_of_the_design(scripted_study):
    tables = study_tables(scripted_study, n_boot=200)
    section = readme_section(tables)
    assert section.startswith(BEGIN) and section.endswith(END)
    for title in ("Judge accuracy, raw and order-debiased", "Debate against consultancy", "Consultancy by assignment",
                  "Open protocols, derived", "Positional bias", "Calibration on valid verdicts"):
        assert title in section
    accuracy = section.split("**Debate against")[0]
    # both judges x (4 protocols on the extractive task, 3 on closed, 3 on code); QA with article only on extractive
    assert accuracy.count("| first | ") == 10 and accuracy.count("| echo | ") == 10
    assert accuracy.count("QA with article") == 2
    number = r"-?[0-9.]+ \[-?[0-9.]+, -?[0-9.]+\]"
    assert re.search(rf"\| first \| extractive \| QA with article \| {number} \| [0-9.]+ \| {number} \| [0-9.]+ \| "
                     rf"{number} \|", accuracy)
    by_family = tables["accuracy_by_family"]
    row = by_family[(by_family["family"] == "closed") & (by_family["protocol"] == "debate")
                    & (by_family["judge"] == "scripted:first")].iloc[0]
    assert (f"| first | closed | debate | {row['accuracy']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] | "
            f"{row['invalid_rate']:.3f} | {row['debiased_accuracy']:.3f} [{row['debiased_ci_low']:.3f}, "
            f"{row['debiased_ci_high']:.3f}] |") in accuracy
    # `scripted:first` puts 0.9 on answer label 1 whatever it reads: averaged over the two label orders it has
    # no preference left, so every debiased decision is a tie (invalid), while raw it is right exactly when the
    # random order put the correct answer first.
    first = by_family[by_family["judge"] == "scripted:first"]
    assert (first["debiased_invalid_rate"] == 1.0).all()
    results = pd.read_parquet(scripted_study / "results.parquet")
    mine = results[results["judge"] == "scripted:first"]
    assert (mine["correct_raw"] == (mine["correct_index"] == 0)).all() and mine["swapped"].nunique() == 2
    comparisons = tables["comparisons_by_family"]
    assert {"closed", "code", "extractive"} <= set(comparisons["family"])
