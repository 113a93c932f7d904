"""Checks every task's questions must pass, shared by the per-task tests."""

from __future__ import annotations

from collections.abc import Sequence

from oversight.types import Question


def assert_well_formed(questions: Sequence[Question], task: str) -> None:
    """Two distinct non-empty answers, the correct one at index 0 (as loaded), unique ids, the task's name."""
    assert questions, "no questions"
    for q in questions:
        assert q.task == task, q.id
        assert q.question.strip(), q.id
        assert len(q.answers) == 2 and all(a.strip() for a in q.answers), q.id
        assert q.answers[0] != q.answers[1], q.id
        assert q.correct_index == 0, q.id
    assert len({q.id for q in questions}) == len(questions), "question ids are unique"
