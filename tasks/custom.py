"""Your own binary-choice questions from a JSONL or CSV file (`--task file:PATH`).

Each row (a JSON object per line, or a CSV row under a header) is one question. Which column plays
which part is the *field mapping*, `--fields part=column,...`; parts not mapped use the column of
the same name when the file has one:

| part | required | what the column holds |
|---|---|---|
| `question` | yes | the question text |
| `correct`, `incorrect` | one of the two pairs | the correct / the incorrect answer |
| `answers`, `correct_index` | | both answers (a JSON list; in a CSV cell a JSON array such as `["yes", "no"]`) and which is correct (0 or 1) |
| `context` | no | an article only the agents read (an extractive task) |
| `images` | no | image file(s): one path, a JSON list, or paths separated by `;` (relative to the data file) |
| `id` | no | your id, kept as `meta["source_id"]` |

Example: `oversight run debate --task file:items.csv --fields question=prompt,correct=good,incorrect=bad`.
Ids: `<file stem>/test/<index>` (0-based row). The family shown is `extractive` when a context
column is used, `multimodal` with images, else `closed`. Every row is checked: a missing or empty
cell, an index other than 0/1, two equal answers, a missing image or a relative image path leading
outside the data file's folder (`../`, a symlink out) names the file and line; absolute paths are
taken as written.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from oversight.errors import ConfigError, DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, read_csv, read_jsonl

PARTS = ("question", "correct", "incorrect", "answers", "correct_index", "context", "images", "id")

FILE_INFO = TaskInfo(
    name="file",
    family="custom",
    description="your own JSONL/CSV questions: --task file:PATH [--fields question=COL,correct=COL,incorrect=COL,...]",
    size="your file",
)


def parse_fields(text: str | None) -> dict[str, str] | None:
    """`"question=prompt,correct=good"` -> {"question": "prompt", "correct": "good"}; ConfigError on bad syntax."""
    if text is None or not text.strip():
        return None
    out: dict[str, str] = {}
    for item in text.split(","):
        part, sep, column = (x.strip() for x in item.partition("="))
        if not sep or not part or not column:
            raise ConfigError(f"--fields: {item.strip()!r} is not PART=COLUMN; e.g. --fields question=prompt,"
                              "correct=good,incorrect=bad")
        out[part] = column
    return out


def _cell_list(value: Any, split_on: str | None = None) -> list[Any] | None:
    """A list from a JSON list, a JSON-array string, or (with `split_on`) a separated string."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, list) else None
    if isinstance(value, str) and split_on:
        return [v.strip() for v in value.split(split_on) if v.strip()]
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value).strip()


@register("task", "file")
class CustomTask(Task):
    """Questions from the user's JSONL/CSV file, mapped by `--fields`."""

    info = FILE_INFO

    def __init__(self, path: str | Path | None = None, fields: dict[str, str] | None = None) -> None:
        unknown = sorted(set(fields or {}) - set(PARTS))
        if unknown:
            raise ConfigError(f"--fields: unknown part(s) {', '.join(unknown)}; parts: {', '.join(PARTS)}")
        self.path = Path(path).expanduser() if path is not None else None
        self.fields = dict(fields or {})
        if self.path is not None:
            self.info = TaskInfo(name=f"file:{path}", family="custom", description=f"questions from {self.path}",
                                 files={"test": self.path.name}, size="your file")

    @classmethod
    def from_spec(cls, arg: str, fields: dict[str, str] | None = None) -> CustomTask:
        if not arg.strip():
            raise ConfigError("--task file: needs a path, e.g. --task file:questions.jsonl")
        return cls(arg.strip(), fields)

    def locate(self, data: str | Path | None, split: str) -> Path | None:
        if self.path is None:
            raise ConfigError("task 'file' needs a path: --task file:PATH")
        if data is not None and str(data) != "":
            raise ConfigError("--data does not apply to --task file:PATH (the path names the data already)")
        if not self.path.is_file():
            raise DataError(f"--task file:{self.path}: no such file ({self.path.resolve()})")
        return self.path

    def records(self, data: Path | None, split: str) -> list[Record]:
        if data is None:
            raise ConfigError("task 'file' needs a path: --task file:PATH")
        records = read_csv(data) if data.suffix.lower() in (".csv", ".tsv") else read_jsonl(data)
        if not records:
            return records
        self.columns = self._resolve_columns(data, records[0].data.keys())
        family = "multimodal" if "images" in self.columns else "extractive" if "context" in self.columns else "closed"
        self.info = dataclasses.replace(self.info, family=family)
        return [Record(r.index, self._item(r, data.parent), r.where) for r in records]

    def _resolve_columns(self, path: Path, present: Any) -> dict[str, str]:
        """Part -> column: the mapping, else a same-named column; checks the required parts are covered."""
        present = set(present)
        cols = {part: self.fields.get(part, part) for part in PARTS}
        cols = {part: col for part, col in cols.items() if part in self.fields or col in present}
        missing = [f"{part}={col}" for part, col in cols.items() if col not in present]
        if missing:
            raise DataError(f"{path}: column(s) not in the file: {', '.join(missing)}; its columns: "
                            f"{', '.join(sorted(present))}")
        pair = {"correct", "incorrect"} <= cols.keys()
        listed = {"answers", "correct_index"} <= cols.keys()
        if "question" not in cols or not (pair or listed):
            raise DataError(f"{path}: cannot find the question and both answers among the columns "
                            f"{', '.join(sorted(present))}; map them, e.g. --fields question=COL,correct=COL,"
                            "incorrect=COL (or answers=COL,correct_index=COL)")
        if pair and listed:
            cols.pop("answers")
            cols.pop("correct_index")
        return cols

    def _item(self, record: Record, base: Path) -> dict[str, Any]:
        d, cols, where = record.data, self.columns, record.where
        question = _text(d.get(cols["question"]))
        if "correct" in cols:
            correct, wrong = _text(d.get(cols["correct"])), _text(d.get(cols["incorrect"]))
        else:
            answers = _cell_list(d.get(cols["answers"]))
            index = d.get(cols["correct_index"])
            index = int(index) if isinstance(index, str) and index.strip() in ("0", "1") else index
            if answers is None or len(answers) != 2:
                raise DataError(f"{where}: column {cols['answers']!r} must hold a list of two answers, got "
                                f"{str(d.get(cols['answers']))[:60]!r}")
            if isinstance(index, bool) or index not in (0, 1):
                raise DataError(f"{where}: column {cols['correct_index']!r} must be 0 or 1, got {index!r}")
            correct, wrong = _text(answers[index]), _text(answers[1 - index])
        for part, value in (("question", question), ("correct answer", correct), ("incorrect answer", wrong)):
            if not value:
                raise DataError(f"{where}: the {part} is empty")
        if correct == wrong:
            raise DataError(f"{where}: the two answers are the same text ({correct[:40]!r})")
        context = _text(d.get(cols["context"])) if "context" in cols else ""
        images: list[str] = []
        if "images" in cols and d.get(cols["images"]) not in (None, ""):
            listed = _cell_list(d.get(cols["images"]), split_on=";")
            for ref in listed if listed is not None else [d.get(cols["images"])]:
                ref = _text(ref)
                if ref.startswith(("data:", "http://", "https://")):
                    images.append(ref)
                    continue
                path = (base / ref).resolve()
                if not Path(ref).is_absolute() and not path.is_relative_to(base.resolve()):  # `../`, symlinks out
                    raise DataError(f"{where}: image {ref!r} resolves to {path}, outside the data file's folder "
                                    f"{base.resolve()}; keep images in that folder (or below it) and give "
                                    "paths relative to it")
                if not path.is_file():
                    raise DataError(f"{where}: image {ref!r} not found at {path}")
                images.append(str(path))
        return {"question": question, "correct": correct, "incorrect": wrong, "context": context or None,
                "images": tuple(images), "source_id": d.get(cols["id"]) if "id" in cols else None}

    def build(self, record: Record, split: str) -> Question:
        d = record.data
        stem = self.path.stem if self.path is not None else "file"
        meta = {"source_index": record.index, "split": split, "source_id": d["source_id"]}
        return Question(id=f"{stem}/{split}/{record.index}", task=self.info.name, question=d["question"],
                        answers=(d["correct"], d["incorrect"]), correct_index=0, context=d["context"], meta=meta,
                        images=d["images"])
