"""tasks/mmlu.py: the 57 subject files, business ethics left out, and both CSV layouts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from oversight.errors import DataError
from tasks import load_questions
from tests.tasks.checks import assert_well_formed


@pytest.fixture(scope="module")
def mmlu_test(data_dir: Path):
    return load_questions("mmlu")


def test_all_subjects_but_business_ethics(mmlu_test) -> None:
    assert len(mmlu_test) == 14042 - 100
    assert_well_formed(mmlu_test, "mmlu")
    per_subject = Counter(q.meta["subject"] for q in mmlu_test)
    assert len(per_subject) == 56 and "business_ethics" not in per_subject
    assert per_subject["professional_law"] == 1534 and per_subject["abstract_algebra"] == 100


def test_options_come_from_the_row(mmlu_test, data_dir: Path) -> None:
    q = mmlu_test[0]  # abstract_algebra row 0: "Find the degree ..." answer index 1 ("4")
    assert q.meta["subject"] == "abstract_algebra" and q.meta["subject_row"] == 0
    assert q.answers[0] == q.meta["options"][q.meta["gold_index"]] == "4"
    assert q.answers[1] == q.meta["options"][q.meta["incorrect_index"]] != "4"
    assert Counter(q.meta["incorrect_index"] for q in mmlu_test[:400]).keys() == {0, 1, 2, 3}


def test_sample_is_deterministic(data_dir: Path, mmlu_test) -> None:
    a = load_questions("mmlu", limit=7, seed=11)
    assert [(q.id, q.answers) for q in a] == [(q.id, q.answers) for q in load_questions("mmlu", limit=7, seed=11)]
    by_id = {q.id: q.answers for q in mmlu_test}
    assert all(by_id[q.id] == q.answers for q in a)


def test_data_may_be_a_subject_file_or_folder_and_the_original_headerless_layout(tmp_path: Path, data_dir: Path) -> None:
    one = load_questions("mmlu", data=data_dir / "mmlu" / "test" / "anatomy_test.csv")
    assert len(one) == 135 and {q.meta["subject"] for q in one} == {"anatomy"}
    assert len(load_questions("mmlu", data=data_dir / "mmlu")) == 13942
    (tmp_path / "virology_test.csv").write_text('"What is a virus?",a cell,a particle,a plant,a fungus,B\n'
                                                 '"Second?",w,x,y,z,D\n')
    qs = load_questions("mmlu", data=tmp_path)
    assert [q.answers[0] for q in qs] == ["a particle", "z"]


@pytest.mark.parametrize("row, message", [
    ("Q?,a,b,c,d,E", r"answer must be 0-3 or A-D, got 'E'"),
    ("Q?,a,b,c,d", r"expected 6 non-empty cells"),
    ("Q?,a,,c,d,1", r"expected 6 non-empty cells"),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "virology_test.csv"
    path.write_text("question,choice0,choice1,choice2,choice3,answer\nOk?,a,b,c,d,0\n" + row + "\n")
    with pytest.raises(DataError, match=rf"{path}:3: {message}"):
        load_questions("mmlu", data=tmp_path)


def test_folder_without_subject_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no \*_test\.csv files"):
        load_questions("mmlu", data=tmp_path)
