"""BoolQ yes/no questions about a Wikipedia passage (task `boolq`, family `extractive`).

Source: the hub dataset `google/boolq` (fields `question`, `answer` (bool), `passage`), or a local
JSON Lines file with the same fields (the original release's `dev.jsonl` / `train.jsonl` also carry
`title`). BoolQ's test labels are hidden, so split `test` is the labelled evaluation split
(`validation` on the hub, `dev.jsonl` locally, 3,270 questions); `train` is the training split.

The two answers are "True" and "False" (the correct one first); agents read the passage
(`Question.context`, headed by the title when there is one), the judge does not. BoolQ questions are
lower-case without a question mark ("is windows movie maker part of windows essentials"); the
question shown starts with a capital and ends with "?", the original is `meta["original_question"]`.

Ids: `boolq/<split>/<index>` (0-based line / row). `meta`: `source_index`, `split`, `label` (bool),
`title`, `original_question`.
"""

from __future__ import annotations

from pathlib import Path

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, load_hub_split, read_jsonl, require_str_fields

BOOLQ_INFO = TaskInfo(
    name="boolq",
    family="extractive",
    description="BoolQ: a yes/no question about a Wikipedia passage the agents read; answers True / False",
    hub_id="google/boolq",
    folder="boolq",
    files={"test": "dev.jsonl", "train": "train.jsonl"},
    size="3,270 validation (used as test); 9,427 train",
)
HUB_SPLITS = {"test": "validation", "train": "train"}


def display_question(question: str) -> str:
    text = question.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith("?") else text + "?"


@register("task", "boolq")
class BoolQTask(Task):
    """BoolQ: True vs False about a passage only the agents read."""

    info = BOOLQ_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        records = read_jsonl(data) if data is not None else load_hub_split(self.info, split, HUB_SPLITS[split])
        for r in records:
            require_str_fields(r, ("question", "passage"))
            if not isinstance(r.data.get("answer"), bool):
                raise DataError(f"{r.where}: field 'answer' must be true or false (JSON boolean), "
                                f"got {r.data.get('answer')!r}")
        return records

    def build(self, record: Record, split: str) -> Question:
        d = record.data
        label: bool = d["answer"]
        title = d.get("title") if isinstance(d.get("title"), str) else None
        context = f"{title}\n\n{d['passage'].strip()}" if title else d["passage"].strip()
        answers = ("True", "False") if label else ("False", "True")
        meta = {"source_index": record.index, "split": split, "label": label, "title": title,
                "original_question": d["question"]}
        return Question(id=f"boolq/{split}/{record.index}", task=self.info.name,
                        question=display_question(d["question"]), answers=answers, correct_index=0,
                        context=context, meta=meta)
