"""tasks/boolq.py: BoolQ from a JSONL file in the hub schema (no local copy ships), and the hub fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oversight.errors import DataError
from tasks import load_questions
from tests.tasks.checks import assert_well_formed

ROWS = [
    {"question": "is windows movie maker part of windows essentials", "answer": True,
     "passage": "Windows Movie Maker is a discontinued video editing software by Microsoft. It was part of "
                "the Windows Essentials software suite.", "title": "Windows Movie Maker"},
    {"question": "do iran and afghanistan speak the same language", "answer": True,
     "passage": "Persian is spoken in Iran and, as Dari, in Afghanistan."},
    {"question": "is the sun a planet", "answer": False, "passage": "The Sun is the star at the centre of the "
                                                                   "Solar System."},
]


def write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_hub_schema_jsonl_gives_true_false_questions_with_the_passage(tmp_path: Path) -> None:
    qs = load_questions("boolq", data=write(tmp_path / "dev.jsonl", ROWS))
    assert len(qs) == 3
    assert_well_formed(qs, "boolq")
    assert [q.answers for q in qs] == [("True", "False"), ("True", "False"), ("False", "True")]
    assert qs[0].question == "Is windows movie maker part of windows essentials?"
    assert qs[0].context.startswith("Windows Movie Maker\n\nWindows Movie Maker is")  # title heads the passage
    assert qs[2].context == ROWS[2]["passage"] and qs[2].meta["label"] is False
    assert [q.id for q in qs] == ["boolq/test/0", "boolq/test/1", "boolq/test/2"]


def test_folder_layout_and_deterministic_sample(tmp_path: Path) -> None:
    rows = [{**ROWS[i % 3], "question": f"is item {i} true"} for i in range(30)]
    (tmp_path / "boolq").mkdir()
    write(tmp_path / "boolq" / "dev.jsonl", rows)
    a = load_questions("boolq", data=tmp_path, limit=5, seed=2)
    assert [q.id for q in a] == [q.id for q in load_questions("boolq", data=tmp_path / "boolq", limit=5, seed=2)]
    assert len(a) == 5 and [q.meta["source_index"] for q in a] == sorted(q.meta["source_index"] for q in a)


@pytest.mark.parametrize("row, message", [
    ({"question": "q", "answer": "yes", "passage": "p"}, r"'answer' must be true or false"),
    ({"question": "q", "answer": True}, r"field 'passage' must be a non-empty string"),
    ({"question": "", "answer": True, "passage": "p"}, r"field 'question'"),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, row: dict, message: str) -> None:
    path = write(tmp_path / "dev.jsonl", [ROWS[0], row])
    with pytest.raises(DataError, match=rf"{path}:2: .*{message}"):
        load_questions("boolq", data=path)


def test_without_local_data_the_hub_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OVERSIGHT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"google/boolq.*--data PATH"):
        load_questions("boolq")
