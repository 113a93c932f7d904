"""TruthfulQA questions that many humans answer falsely (task `truthfulqa`, family `closed`).

Sources: the official CSV (`TruthfulQA.csv`: `Type, Category, Question, Best Answer, Best Incorrect
Answer, Correct Answers, Incorrect Answers, Source`, answers `; `-separated; the 2021 release has no
`Best Incorrect Answer` column), or the hub dataset `truthfulqa/truthful_qa` (config `generation`,
split `validation`: `question`, `best_answer`, `correct_answers`, `incorrect_answers`, ...).
Splits: `test` = `TruthfulQA.csv` (current release, 790 questions; the hub's 817-question 2021
release when loading from the hub) and `v2021` = `TruthfulQA_v2021.csv` (817).

**Options.** The best answer vs the best incorrect answer (Kenton et al. 2024's binarised multiple
choice). Where the data names no best incorrect answer (2021 release, hub), the incorrect option is
one of the `Incorrect Answers`, picked by `stable_choice(question id, n)` (CRC-32 of the id).
Ids: `truthfulqa/<split>/<index>` (0-based row). `meta`: `source_index`, `split`, `type`,
`category`, `source`, `incorrect_rule` (`best_incorrect` / `crc32`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, load_hub_split, read_csv, stable_choice

TRUTHFULQA_INFO = TaskInfo(
    name="truthfulqa",
    family="closed",
    description="TruthfulQA: the best true answer vs the best incorrect answer (an imitative falsehood)",
    hub_id="truthfulqa/truthful_qa",
    hub_config="generation",
    folder="truthfulqa",
    files={"test": "TruthfulQA.csv", "v2021": "TruthfulQA_v2021.csv"},
    size="790 (2025 release); 817 (2021 release, v2021 and the hub)",
)
HUB_COLUMNS = {"question": "Question", "best_answer": "Best Answer", "incorrect_answers": "Incorrect Answers",
               "type": "Type", "category": "Category", "source": "Source"}


def split_answers(value: Any) -> list[str]:
    """A `; `-separated CSV cell or a hub list, as a list of non-empty answers."""
    parts = value if isinstance(value, list) else str(value or "").split(";")
    return [p.strip() for p in parts if isinstance(p, str) and p.strip()]


@register("task", "truthfulqa")
class TruthfulQATask(Task):
    """TruthfulQA: best answer vs best incorrect answer."""

    info = TRUTHFULQA_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        if data is None:
            rows = load_hub_split(self.info, split, hub_split="validation")
            records = [Record(r.index, {HUB_COLUMNS.get(k, k): v for k, v in r.data.items()}, r.where) for r in rows]
        else:
            records = read_csv(data)
        for r in records:
            for name in ("Question", "Best Answer"):
                if not str(r.data.get(name) or "").strip():
                    raise DataError(f"{r.where}: column {name!r} must be non-empty (TruthfulQA CSV columns: "
                                    "Type, Category, Question, Best Answer, [Best Incorrect Answer], Correct Answers, "
                                    "Incorrect Answers, Source)")
            if not str(r.data.get("Best Incorrect Answer") or "").strip() and not split_answers(
                    r.data.get("Incorrect Answers")):
                raise DataError(f"{r.where}: no incorrect answer (columns 'Best Incorrect Answer' and "
                                "'Incorrect Answers' are both empty)")
        return records

    def build(self, record: Record, split: str) -> Question:
        d = record.data
        qid = f"truthfulqa/{split}/{record.index}"
        best = str(d["Best Answer"]).strip()
        wrong = str(d.get("Best Incorrect Answer") or "").strip()
        rule = "best_incorrect"
        if not wrong:
            pool = [a for a in split_answers(d.get("Incorrect Answers")) if a != best]
            if not pool:
                raise DataError(f"{record.where}: every incorrect answer repeats the best answer")
            wrong, rule = pool[stable_choice(qid, len(pool))], "crc32"
        if wrong == best:
            raise DataError(f"{record.where}: the best incorrect answer repeats the best answer")
        meta = {"source_index": record.index, "split": split, "type": d.get("Type"), "category": d.get("Category"),
                "source": d.get("Source"), "incorrect_rule": rule}
        return Question(id=qid, task=self.info.name, question=str(d["Question"]).strip(), answers=(best, wrong),
                        correct_index=0, meta=meta)
