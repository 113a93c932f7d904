"""tasks/custom.py: `--task file:PATH` with a field mapping, from JSONL and CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from oversight.config import make_config
from oversight.errors import ConfigError, DataError
from tasks import load_questions
from tasks.custom import parse_fields
from tests.tasks.checks import assert_well_formed


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_jsonl_with_default_column_names(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", [
        {"question": f"Is {i} even?", "correct": "yes" if i % 2 == 0 else "no", "incorrect": "no" if i % 2 == 0
         else "yes", "id": f"item-{i}"} for i in range(6)])
    qs = load_questions(f"file:{path}")
    assert len(qs) == 6
    assert_well_formed(qs, f"file:{path}")
    assert qs[1].answers == ("no", "yes") and qs[1].id == "items/test/1" and qs[1].meta["source_id"] == "item-1"
    assert qs[0].context is None and qs[0].images == ()
    sample = load_questions(f"file:{path}", limit=3, seed=1)
    assert [q.id for q in sample] == [q.id for q in load_questions(f"file:{path}", limit=3, seed=1)]


def test_csv_with_a_field_mapping_article_and_images(tmp_path: Path) -> None:
    (tmp_path / "pic.png").write_bytes(b"\x89PNG fake")
    path = write_csv(tmp_path / "mine.csv", [
        {"prompt": "Who wins?", "good": "Alice", "bad": "Bob", "story": "Alice won the race.", "pics": "pic.png"},
        {"prompt": "Who lost?", "good": "Bob", "bad": "Alice", "story": "Bob was last.", "pics": ""},
    ])
    fields = parse_fields("question=prompt,correct=good,incorrect=bad,context=story,images=pics")
    qs = load_questions(f"file:{path}", fields=fields)
    assert [q.answers for q in qs] == [("Alice", "Bob"), ("Bob", "Alice")]
    assert qs[0].context == "Alice won the race." and qs[0].images == (str(tmp_path / "pic.png"),)
    assert qs[1].images == ()


def test_answers_list_with_correct_index(tmp_path: Path) -> None:
    rows = [{"q": "2+2?", "opts": ["5", "4"], "label": 1}, {"q": "3+3?", "opts": ["6", "7"], "label": 0}]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    qs = load_questions(f"file:{path}", fields={"question": "q", "answers": "opts", "correct_index": "label"})
    assert [q.answers for q in qs] == [("4", "5"), ("6", "7")]
    csv_path = write_csv(tmp_path / "pairs.csv", [{"q": "2+2?", "opts": '["5", "4"]', "label": "1"}])
    [q] = load_questions(f"file:{csv_path}", fields={"question": "q", "answers": "opts", "correct_index": "label"})
    assert q.answers == ("4", "5")


@pytest.mark.parametrize("rows, fields, message", [
    ([{"question": "Q", "correct": "a", "incorrect": "a"}], None, r":1: the two answers are the same text"),
    ([{"question": "Q", "correct": "", "incorrect": "b"}], None, r":1: the correct answer is empty"),
    ([{"q": "Q", "a": ["x", "y"], "i": 2}], {"question": "q", "answers": "a", "correct_index": "i"},
     r":1: column 'i' must be 0 or 1, got 2"),
    ([{"q": "Q", "a": ["x"], "i": 0}], {"question": "q", "answers": "a", "correct_index": "i"},
     r":1: column 'a' must hold a list of two answers"),
    ([{"question": "Q", "right": "a", "wrong": "b"}], None, r"cannot find the question and both answers"),
    ([{"question": "Q", "correct": "a", "incorrect": "b"}], {"context": "article"}, r"not in the file: context=article"),
])
def test_bad_files_name_the_problem(tmp_path: Path, rows: list, fields: dict | None, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=message):
        load_questions(f"file:{path}", fields=fields)


def test_spec_and_mapping_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such file"):
        load_questions(f"file:{tmp_path / 'missing.jsonl'}")
    with pytest.raises(ConfigError, match=r"needs a path"):
        load_questions("file:")
    with pytest.raises(ConfigError, match=r"unknown part\(s\) answer"):
        load_questions(f"file:{tmp_path / 'x.jsonl'}", fields={"answer": "a"})
    with pytest.raises(ConfigError, match=r"applies to --task file:PATH only"):
        load_questions("quality", fields={"question": "q"})
    with pytest.raises(ConfigError, match=r"is not PART=COLUMN"):
        parse_fields("question")
    assert parse_fields(" question = q , correct=c ") == {"question": "q", "correct": "c"}
    assert parse_fields(None) is None


def test_run_id_of_a_file_task_is_a_folder_name(tmp_path: Path) -> None:
    config = make_config(protocol="debate", task=f"file:{tmp_path}/my items.jsonl",
                         fields={"question": "q"})
    assert "/" not in config.run_id and " " not in config.run_id and config.run_id.startswith("debate-")
    assert config.fields == {"question": "q"}


def test_oversight_tasks_lists_every_task_with_source_and_size(data_dir: Path) -> None:
    from typer.testing import CliRunner

    from oversight.cli import app

    result = CliRunner().invoke(app, ["tasks"], env={"COLUMNS": "250", "OVERSIGHT_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]]
            for line in result.output.splitlines() if line.startswith("│") and line.split("│")[1].strip()}
    for name in ("quality", "boolq", "gpqa", "gpqa-extractive", "mmlu", "truthfulqa", "logic", "logic-gen", "mmmu",
                 "file"):
        assert name in rows, name
    assert rows["quality"][1:] == [str(data_dir / "quality_leval" / "quality.jsonl"), "202 (test)"]
    assert rows["mmlu"][2] == "13,942 (test)" and rows["truthfulqa"][2] == "790 (test)"
    assert rows["logic"][2] == "500 (test)" and rows["mmmu"][2] == "21 (test)"
    assert rows["boolq"][1] == "google/boolq" and rows["gpqa"][1].startswith("Idavidrein/gpqa")
