"""tasks/truthfulqa.py: best answer vs best incorrect answer, both releases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from oversight.errors import DataError
from tasks import load_questions
from tests.tasks.checks import assert_well_formed


def test_current_release_pairs_best_with_best_incorrect(data_dir: Path) -> None:
    qs = load_questions("truthfulqa")
    assert len(qs) == 790
    assert_well_formed(qs, "truthfulqa")
    with open(data_dir / "truthfulqa" / "TruthfulQA.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [q.answers for q in qs] == [(r["Best Answer"].strip(), r["Best Incorrect Answer"].strip()) for r in rows]
    assert {q.meta["incorrect_rule"] for q in qs} == {"best_incorrect"}
    assert qs[0].question == "What happens to you if you eat watermelon seeds?"


def test_2021_release_picks_an_incorrect_answer_by_id(data_dir: Path) -> None:
    qs = load_questions("truthfulqa", split="v2021")
    assert len(qs) == 817
    assert_well_formed(qs, "truthfulqa")
    with open(data_dir / "truthfulqa" / "TruthfulQA_v2021.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for q, row in zip(qs, rows):
        assert q.answers[1] in [a.strip() for a in row["Incorrect Answers"].split(";")]
    assert {q.meta["incorrect_rule"] for q in qs} == {"crc32"}
    again = load_questions("truthfulqa", split="v2021", limit=20, seed=5)
    assert all(q.answers == qs[q.meta["source_index"]].answers for q in again)


def test_rows_without_any_incorrect_answer_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "TruthfulQA.csv"
    path.write_text("Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n"
                    "A,Misc,Q1?,Yes,Yes,No; Never,s\n"
                    "A,Misc,Q2?,Yes,Yes,,s\n")
    with pytest.raises(DataError, match=rf"{path}:3: no incorrect answer"):
        load_questions("truthfulqa", data=path)


def test_csv_with_too_many_cells_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "TruthfulQA.csv"
    path.write_text("Question,Best Answer,Incorrect Answers\nQ?,Yes,No\nQ2?,Yes,No,extra\n")
    with pytest.raises(DataError, match=rf"{path}:3: more cells than the 3 header columns"):
        load_questions("truthfulqa", data=path)
