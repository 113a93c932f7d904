"""README's "Results on a laptop" is generated from the committed study summary and cannot drift from it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.study import BEGIN, END, readme_section, study_tables

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = ROOT / "docs" / "laptop-study" / "results.parquet"


def test_readme_shows_the_tables_of_the_committed_study():
    readme = (ROOT / "README.md").read_text()
    shown = readme[readme.index(BEGIN): readme.index(END) + len(END)]
    assert shown == readme_section(study_tables(SUMMARY.parent)), (
        "README is out of date: paste the output of `python -m analysis.study docs/laptop-study` between the markers")


def test_the_committed_study_follows_the_design():
    results = pd.read_parquet(SUMMARY)
    assert results["judge"].nunique() == 2  # the weak judge and the agent judging itself
    questions = results.groupby(["judge", "task", "protocol"])["question_id"].nunique()
    assert (questions >= 50).all()
    assert (questions.xs("quality", level="task") >= 200).all()  # all of the local QuALITY copy, every protocol
    assert results.loc[results["task"] == "quality", "article"].nunique() == 15
    for judge, part in questions.groupby(level="judge"):
        cells = set(part.index.droplevel("judge"))
        assert cells == {(task, protocol) for task in ("quality", "math", "logic", "code")
                         for protocol in ("direct", "consultancy", "debate")} | {("quality", "direct-article")}, judge
    # each question played once, in a random answer order; every decision made in both label orders
    assert not results.duplicated(["judge", "cell", "question_id", "assignment"]).any()
    assert results["swapped"].nunique() == 2
    assert results["debiased"].all()
    assert (ROOT / "docs" / "laptop-study" / "accuracy.png").stat().st_size > 0
