"""load_runs: one tidy row per judged episode across run folders, and clear errors on bad folders."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from analysis.load import find_runs, load_runs
from oversight.errors import DataError
from oversight.store import RunStore
from oversight.types import JudgeDecision, Question, Transcript


def test_loads_every_run_below_a_folder(scripted_runs):
    results = load_runs(scripted_runs)
    assert sorted(results.groupby("protocol").size().items()) == [("consultancy", 24), ("debate", 12), ("direct", 12)]
    assert results["run"].nunique() == 3 and results["family"].eq("closed").all()
    assert set(results["order"]) == {"original", "swapped"}
    valid = results[~results["invalid"]]
    assert (valid["chosen_position"] == valid["verdict"] + 1).all()
    assert (results["cluster"] == results["question_id"]).all()  # closed task: the question is the cluster
    debate = results[results["protocol"] == "debate"]
    assert (debate["agents"] == "scripted:echo").all() and (debate["debater_a"] == "scripted:echo").all()
    assert (results.loc[results["protocol"] == "direct", "agents"] == "").all()


def test_a_run_folder_and_its_parent_give_the_same_rows(scripted_runs):
    [debate] = [run for run in find_runs([scripted_runs]) if run.name.startswith("debate")]
    one = load_runs(debate)
    assert len(one) == 12 and set(one["run"]) == {debate.name}


def test_an_unfinished_run_is_read_from_its_transcripts(scripted_runs, tmp_path):
    [debate] = [run for run in find_runs([scripted_runs]) if run.name.startswith("debate")]
    copy = shutil.copytree(debate, tmp_path / "cut")
    (copy / "results.parquet").unlink()
    assert len(load_runs(copy)) == 12


def test_extractive_questions_cluster_by_article(tmp_path):
    store = RunStore.open(tmp_path / "run", {"protocol": "direct"}, {"protocol": "direct"})
    for i, article in enumerate(["story one", "story one", "story two"]):
        question = Question(id=f"q{i}", task="math", question="?", answers=("a", "b"), correct_index=0,
                            context=article)
        transcript = Transcript("direct", question, (), JudgeDecision((0.7, 0.3), 0))
        row = {"episode": f"q{i}#original", "question_id": f"q{i}", "protocol": "direct", "task": "math",
               "judge": "j", "swapped": False, "correct_index": 0, "p_answer1": 0.7, "p_answer2": 0.3,
               "p_correct": 0.7, "verdict": 0, "correct": True, "invalid": False, "assignment": "{}"}
        store.append(f"q{i}#original", transcript, row)
    store.write_results()
    results = load_runs(tmp_path / "run")
    assert results["cluster"].nunique() == 2
    assert results.loc[0, "cluster"] == results.loc[1, "cluster"] != results.loc[2, "cluster"]


def test_missing_and_empty_folders_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_runs(tmp_path / "nowhere")
    with pytest.raises(DataError, match="holds no run"):
        load_runs(tmp_path)


def test_a_damaged_results_file_names_the_file_and_the_fix(scripted_runs, tmp_path):
    [debate] = [run for run in find_runs([scripted_runs]) if run.name.startswith("debate")]
    copy = shutil.copytree(debate, tmp_path / "damaged")
    (copy / "results.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"results.parquet cannot be read.*rerun the same"):
        load_runs(copy)


def test_a_results_file_without_the_run_columns_is_rejected(tmp_path):
    import pandas as pd

    (tmp_path / "other").mkdir()
    pd.DataFrame({"question_id": ["q1"], "score": [1.0]}).to_parquet(tmp_path / "other" / "results.parquet")
    with pytest.raises(DataError, match="lacks the columns"):
        load_runs(tmp_path / "other")


def test_results_rows_carry_the_article_so_the_table_alone_clusters(tmp_path):
    from oversight.config import make_config
    from oversight.models import ModelSpec
    from oversight.experiments.run import result_row

    config = make_config(protocol="direct", task="quality", judge="scripted:first", backend="scripted")
    rows = []
    for i, article in enumerate(["story one", "story one", "story two"]):
        question = Question(id=f"q{i}", task="quality", question="?", answers=("a", "b"), correct_index=0,
                            context=article)
        transcript = Transcript("direct", question, (), JudgeDecision((0.7, 0.3), 0))
        rows.append(result_row(config, f"q{i}#original", transcript, {"judge": ModelSpec("scripted", "first")}))
    (tmp_path / "run").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "run" / "results.parquet")  # no transcripts beside it
    results = load_runs(tmp_path / "run")
    assert results.loc[0, "cluster"] == results.loc[1, "cluster"] != results.loc[2, "cluster"]
    assert results.loc[0, "cluster"] == Question("x", "quality", "?", ("a", "b"), 0, context="story one").article
