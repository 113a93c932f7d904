"""tasks/base.py: registry, data resolution, sampling, and the errors users see."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from oversight.errors import ConfigError, DataError
from tasks import load_questions, resolve_data_file, task_infos, task_names
from tasks.base import sample_indices

GOOD = {"question": "Tom has 3 bags of 4 apples. How many apples?",
        "answer": "He has 3*4=<<3*4=12>>12 apples.\n#### 12"}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ registry


def test_math_is_registered_with_its_description() -> None:
    assert "math" in task_names()
    info = next(i for i in task_infos() if i.name == "math")
    assert info.family == "closed"
    assert info.hub_id == "openai/gsm8k" and info.hub_config == "main"
    assert info.folder == "gsm8k" and info.files["test"] == "test.jsonl"
    assert info.description


def test_unknown_task_lists_known_tasks() -> None:
    with pytest.raises(ConfigError, match=r"unknown task 'nope'.*math"):
        load_questions("nope")


@pytest.mark.parametrize("limit", [0, -3])
def test_limit_below_one_is_a_config_error(limit: int) -> None:
    with pytest.raises(ConfigError, match=rf"--limit must be >= 1, got {limit}"):
        load_questions("math", limit=limit)


def test_unknown_split_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown split 'dev'.*test, train"):
        load_questions("math", split="dev")


# ------------------------------------------------------------------ sampling


def test_no_limit_gives_every_item_in_file_order(data_dir: Path, gsm8k_test) -> None:
    qs = load_questions("math-prose")
    assert len(qs) == 1319
    assert [q.id for q in qs] == [f"gsm8k/test/{i}" for i in range(1319)]
    assert [q.answers for q in qs[:50]] == [q.answers for q in gsm8k_test[:50]]


def test_limit_is_a_deterministic_seeded_sample(data_dir: Path) -> None:
    a = load_questions("math", limit=20, seed=7)
    b = load_questions("math", limit=20, seed=7)
    c = load_questions("math", limit=20, seed=8)
    assert len(a) == 20
    assert [q.id for q in a] == [q.id for q in b]
    assert [q.answers for q in a] == [q.answers for q in b]
    assert {q.id for q in a} != {q.id for q in c}
    indices = [q.meta["source_index"] for q in a]
    assert indices == sorted(indices), "returned in dataset order"
    assert indices != list(range(20)), "a sample, not the head of the file"


def test_smaller_limit_is_a_subset_of_larger(data_dir: Path) -> None:
    small = {q.id for q in load_questions("math", limit=10, seed=3)}
    large = {q.id for q in load_questions("math", limit=100, seed=3)}
    assert small < large


def test_limit_above_size_gives_everything() -> None:
    assert sample_indices(5, 10, 0) == [0, 1, 2, 3, 4]
    assert sample_indices(5, None, 0) == [0, 1, 2, 3, 4]
    assert sample_indices(1000, 3, 0) == sample_indices(1000, 3, 0)


# ------------------------------------------------------------------ where the data comes from


def test_data_accepts_a_file_or_a_folder_in_either_layout(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "gsm8k" / "test.jsonl"
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "test.jsonl").write_bytes(src.read_bytes())
    expected = [q.id for q in load_questions("math", limit=5, seed=1)]
    for data in (src, str(src), data_dir, data_dir / "gsm8k", flat):
        got = load_questions("math", limit=5, seed=1, data=data)
        assert [q.id for q in got] == expected, data


def test_data_folder_without_the_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"test\.jsonl") as e:
        load_questions("math", data=tmp_path)
    assert str(tmp_path) in str(e.value)


def test_missing_explicit_path_is_a_data_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gsm.jsonl"
    with pytest.raises(DataError) as e:
        load_questions("math", data=missing)
    assert str(missing) in str(e.value)


def test_resolve_data_file_env_and_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_lines(tmp_path / "gsm8k" / "test.jsonl", [json.dumps(GOOD)])
    monkeypatch.setenv("OVERSIGHT_DATA_DIR", str(tmp_path))
    assert resolve_data_file("gsm8k", "test.jsonl", None) == tmp_path / "gsm8k" / "test.jsonl"
    assert resolve_data_file("gsm8k", "train.jsonl", None) is None  # not there: the hub
    monkeypatch.delenv("OVERSIGHT_DATA_DIR")
    assert resolve_data_file("gsm8k", "test.jsonl", None) is None


@pytest.mark.parametrize("env", ["empty-dir", "unset"])
def test_offline_without_local_data_is_one_data_error_with_the_fix(
        env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if env == "unset":
        monkeypatch.delenv("OVERSIGHT_DATA_DIR", raising=False)
    else:
        monkeypatch.setenv("OVERSIGHT_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as e:
        load_questions("math", limit=3)
    msg = str(e.value)
    for part in ("'math'", "openai/gsm8k", "HF_HUB_OFFLINE", "--data", "OVERSIGHT_DATA_DIR",
                 "gsm8k/test.jsonl"):
        assert part in msg, (part, msg)
    if env == "empty-dir":
        assert str(tmp_path / "gsm8k" / "test.jsonl") in msg


def _fake_datasets(monkeypatch: pytest.MonkeyPatch, load_dataset) -> None:
    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("OVERSIGHT_DATA_DIR", raising=False)


def test_hub_connection_failure_becomes_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    _fake_datasets(monkeypatch, load_dataset)
    with pytest.raises(DataError) as e:
        load_questions("math")
    msg = str(e.value)
    for part in ("ConnectionError", "--data", "OVERSIGHT_DATA_DIR", "openai/gsm8k"):
        assert part in msg, (part, msg)


def test_hub_rows_are_loaded_through_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def load_dataset(hub_id, config, split):
        calls.append((hub_id, config, split))
        return [GOOD, {**GOOD, "question": "Another one?"}]

    _fake_datasets(monkeypatch, load_dataset)
    qs = load_questions("math-prose", split="train")
    assert calls == [("openai/gsm8k", "main", "train")]
    assert [q.id for q in qs] == ["gsm8k/train/0", "gsm8k/train/1"]
    assert qs[0].answers[0] == "He has 3*4=12 apples.\nThe answer is 12."


# ------------------------------------------------------------------ bad files


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD), "", json.dumps(GOOD), '{"question": "x", '])
    with pytest.raises(DataError, match=r"line 4: malformed JSON") as e:
        load_questions("math", data=path)
    assert str(path) in str(e.value)


def test_non_utf8_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"question": "caf\xe9"}'.encode("latin-1") + b"\n")
    with pytest.raises(DataError, match=r"line 2: not UTF-8"):
        load_questions("math", data=path)


def test_non_object_line_is_a_data_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "list.jsonl", ["[1, 2]"])
    with pytest.raises(DataError, match=r"line 1: expected a JSON object, got list"):
        load_questions("math", data=path)


def test_missing_field_names_line_and_field(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "nofield.jsonl", [json.dumps(GOOD), json.dumps({"question": "q"})])
    with pytest.raises(DataError, match=r"nofield\.jsonl:2: field 'answer' must be a non-empty string"):
        load_questions("math", data=path)


def test_answer_without_final_line_is_a_data_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "nofinal.jsonl", [json.dumps({"question": "q", "answer": "It is 3."})])
    with pytest.raises(DataError, match=r"nofinal\.jsonl:1: .*####"):
        load_questions("math", data=path)


def test_empty_file_is_a_data_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "empty.jsonl", ["", "  "])
    with pytest.raises(DataError, match=r"no items"):
        load_questions("math", data=path)
