"""Built binary sets: the JSONL files `oversight tasks build` writes and `--data FILE` loads back.

One question per line, in `Question.to_dict()` form: `id`, `task`, `question`, `answers` (two
distinct non-empty strings), `correct_index` (0 or 1), `context`, `meta` (how the options were made
and verified). Loading one executes nothing: the options were verified when the file was built.
A task recognises a built file by its first item having `answers`; every line is then checked, and
a line built for another task is a DataError naming the task to use.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from oversight.errors import DataError
from oversight.types import Question
from tasks.base import Record


def is_built(records: Sequence[Record]) -> bool:
    return bool(records) and "answers" in records[0].data


def built_question(record: Record, task: str) -> Question:
    """The question on one line of a built file, checked; a bad line -> DataError naming it."""
    d = record.data
    answers = d.get("answers")
    if not (isinstance(answers, list) and len(answers) == 2 and all(isinstance(a, str) and a.strip()
                                                                    for a in answers)):
        raise DataError(f"{record.where}: 'answers' must be a list of two non-empty strings")
    if answers[0] == answers[1]:
        raise DataError(f"{record.where}: the two answers are identical; a built file needs two different options")
    if d.get("correct_index") not in (0, 1) or isinstance(d.get("correct_index"), bool):
        raise DataError(f"{record.where}: 'correct_index' must be 0 or 1, got {d.get('correct_index')!r}")
    for name in ("id", "question"):
        if not isinstance(d.get(name), str) or not d[name].strip():
            raise DataError(f"{record.where}: field {name!r} must be a non-empty string")
    if d.get("task", task) != task:
        raise DataError(f"{record.where}: built for task {d['task']!r}; load it with --task {d['task']}")
    if not isinstance(d.get("meta", {}), dict) or not isinstance(d.get("context"), (str, type(None))):
        raise DataError(f"{record.where}: 'meta' must be an object and 'context' a string or null")
    return Question(id=d["id"], task=task, question=d["question"], answers=(answers[0], answers[1]),
                    correct_index=d["correct_index"], context=d.get("context"), meta=dict(d.get("meta") or {}))


def write_built(path: str | Path, questions: Iterable[Question]) -> int:
    """Write `questions` to `path` atomically (a temp file renamed into place); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for q in questions:
                f.write(json.dumps(q.to_dict(), ensure_ascii=False) + "\n")
                count += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
