"""The run folder survives crashes: truncated lines are dropped, configs are checked."""

from __future__ import annotations

import pytest

from oversight.errors import ConfigError, DataError
from oversight.store import RunStore
from oversight.types import JudgeDecision, Transcript
from tests.helpers import make_questions


def transcript(i: int) -> Transcript:
    return Transcript(protocol="direct", question=make_questions(i + 1)[i], turns=(),
                      decision=JudgeDecision(probs=(0.7, 0.3), verdict=0))


def test_append_then_reopen_lists_finished_episodes(tmp_path):
    store = RunStore.open(tmp_path / "run", {"a": 1}, {"a": 1})
    for i in range(3):
        store.append(f"k{i}", transcript(i), {"question_id": f"q{i}", "correct": True})
    reopened = RunStore.open(tmp_path / "run", {"a": 1}, {"a": 1})
    assert reopened.done_keys() == {"k0", "k1", "k2"}
    records = list(reopened.records())
    assert Transcript.from_dict(records[1]["transcript"]) == transcript(1)
    assert len(reopened.write_results()) == 3
    assert (tmp_path / "run" / "results.parquet").exists()


def test_truncated_last_line_is_dropped_and_appending_continues(tmp_path):
    store = RunStore.open(tmp_path / "run", {"a": 1}, {"a": 1})
    store.append("k0", transcript(0), {"question_id": "q0"})
    with open(tmp_path / "run" / "transcripts.jsonl", "a") as fh:
        fh.write('{"key": "k1", "row": {"quest')  # killed mid-write
    assert store.done_keys() == {"k0"}
    store.repair()
    store.append("k1", transcript(1), {"question_id": "q1"})
    assert store.done_keys() == {"k0", "k1"}


def test_a_complete_last_line_without_its_newline_is_kept_by_the_repair(tmp_path):
    store = RunStore.open(tmp_path / "run", {"a": 1}, {"a": 1})
    store.append("k0", transcript(0), {"question_id": "q0"})
    store.append("k1", transcript(1), {"question_id": "q1"})
    file = tmp_path / "run" / "transcripts.jsonl"
    file.write_bytes(file.read_bytes()[:-1])  # killed between the record and its newline
    assert store.done_keys() == {"k0", "k1"}  # readers count it finished...
    store.repair()
    assert store.done_keys() == {"k0", "k1"}  # ...and the repair keeps it, so it is not lost and never redone
    store.append("k2", transcript(2), {"question_id": "q2"})
    assert [r["key"] for r in store.records()] == ["k0", "k1", "k2"]


def test_a_line_cut_inside_a_character_is_dropped_like_any_cut_off_line(tmp_path):
    store = RunStore.open(tmp_path / "run", {"a": 1}, {"a": 1})
    store.append("k0", transcript(0), {"question_id": "q0"})
    with open(tmp_path / "run" / "transcripts.jsonl", "ab") as fh:
        fh.write('{"key": "k1", "row": {"note": "\u00e9'.encode()[:-1])  # killed inside a two-byte character
    assert store.done_keys() == {"k0"}


def test_replies_holding_other_line_separators_read_back(tmp_path):
    # JSON leaves U+2028 and U+0085 unescaped; only "\n" ends a line of the file.
    store = RunStore.open(tmp_path / "run", {"a": 1}, {"a": 1})
    store.append("k0", transcript(0), {"note": "one\u2028two\x85three"})
    store.append("k1", transcript(1), {})
    assert store.done_keys() == {"k0", "k1"}
    assert next(store.records())["row"]["note"] == "one\u2028two\x85three"


def test_corrupt_line_in_the_middle_is_a_data_error(tmp_path):
    store = RunStore.open(tmp_path / "run", {"a": 1}, {"a": 1})
    store.append("k0", transcript(0), {})
    with open(tmp_path / "run" / "transcripts.jsonl", "a") as fh:
        fh.write("garbage\n")
    store.append("k1", transcript(1), {})
    with pytest.raises(DataError, match="transcripts.jsonl:2"):
        store.done_keys()


def test_reopening_with_another_config_names_the_difference(tmp_path):
    RunStore.open(tmp_path / "run", {"rounds": 1}, {"rounds": 1})
    with pytest.raises(ConfigError, match="differs in: rounds"):
        RunStore.open(tmp_path / "run", {"rounds": 2}, {"rounds": 2})
