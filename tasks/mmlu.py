"""MMLU multiple-choice knowledge questions as a binary choice (task `mmlu`, family `closed`).

Sources: the hub dataset `cais/mmlu` (config `all`: `question`, `subject`, `choices`, `answer` (0-3)),
or local CSV files, one per subject, named `<subject>_<split>.csv` (`abstract_algebra_test.csv`), in
either layout: with a header `question,choice0,choice1,choice2,choice3,answer` and a 0-based answer
index (the shared copy), or the original hendrycks/test files (no header, six columns, answer letter
A-D). `--data` may name one such file, a folder of them, or a folder holding `<split>/` or
`mmlu/<split>/`; `$OVERSIGHT_DATA_DIR/mmlu/<split>/` is used when present.

Subjects are read in alphabetical order, rows in file order; `business_ethics` is left out, as in
Kenton et al. 2024 (`EXCLUDED_SUBJECTS`). Ids: `mmlu/<split>/<index>` over that sequence.

**Incorrect option.** One of the three wrong choices, picked by `stable_choice(question id, 3)`
(CRC-32 of the id): the study's "correct answer + a random answer", deterministic per question.
`meta`: `source_index`, `split`, `subject`, `subject_row` (0-based row in its file), `options` (all
four, original order), `gold_index`, `incorrect_index`.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import DATA_DIR_ENV, Record, Task, TaskInfo, load_hub_split, stable_choice

EXCLUDED_SUBJECTS = frozenset({"business_ethics"})
LETTERS = "ABCD"

MMLU_INFO = TaskInfo(
    name="mmlu",
    family="closed",
    description="MMLU (57 subjects, business ethics excluded as in the study): correct vs one wrong choice",
    hub_id="cais/mmlu",
    hub_config="all",
    folder="mmlu",
    files={"test": "test", "dev": "dev"},
    size="13,942 test (14,042 less 100 business ethics); 280 dev",
)


def subject_files(folder: Path, split: str) -> list[Path]:
    return sorted(folder.glob(f"*_{split}.csv"))


def find_split_folder(base: Path, split: str) -> Path | None:
    """The folder of `<subject>_<split>.csv` files at, or under, `base` (`base`, `base/split`, `base/mmlu/split`)."""
    for candidate in (base, base / split, base / "mmlu" / split):
        if candidate.is_dir() and subject_files(candidate, split):
            return candidate
    return None


def parse_subject_file(path: Path, split: str) -> list[tuple[str, dict[str, object]]]:
    """(`path:line`, item) for every row of one subject file, in either layout."""
    subject = path.name.removesuffix(f"_{split}.csv")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path} as UTF-8 CSV: {e}") from e
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = list(enumerate(reader, start=1))
    if rows and [c.strip().lower() for c in rows[0][1]][:1] == ["question"]:
        rows = rows[1:]  # header layout: 0-based answer index
    items = []
    for n, (lineno, row) in enumerate(rows):
        where = f"{path}:{lineno}"
        if len(row) != 6 or not all(c.strip() for c in row[:5]):
            raise DataError(f"{where}: expected 6 non-empty cells (question, 4 choices, answer), got {len(row)}")
        answer = row[5].strip()
        gold = LETTERS.index(answer) if answer in LETTERS else int(answer) if answer in ("0", "1", "2", "3") else None
        if gold is None:
            raise DataError(f"{where}: answer must be 0-3 or A-D, got {answer!r}")
        items.append((where, {"question": row[0], "choices": [c.strip() for c in row[1:5]], "answer": gold,
                              "subject": subject, "subject_row": n}))
    return items


@register("task", "mmlu")
class MMLUTask(Task):
    """MMLU: correct choice vs one wrong choice, business ethics excluded."""

    info = MMLU_INFO

    def locate(self, data: str | Path | None, split: str) -> Path | None:
        if data is not None and str(data) != "":
            p = Path(data).expanduser()
            if p.is_file():
                return p
            if not p.exists():
                raise DataError(f"--data {str(data)!r}: no such file or folder ({p.resolve()})")
            found = find_split_folder(p, split)
            if found is None:
                raise DataError(f"--data {str(data)!r} holds no *_{split}.csv files (looked in {p}, {p / split} "
                                f"and {p / 'mmlu' / split})")
            return found
        env = os.environ.get(DATA_DIR_ENV, "").strip()
        return find_split_folder(Path(env).expanduser() / "mmlu", split) if env else None

    def records(self, data: Path | None, split: str) -> list[Record]:
        if data is None:
            hub = load_hub_split(self.info, split)
            items = [(r.where, r.data) for r in hub]
            for where, d in items:
                if not isinstance(d.get("choices"), list) or len(d["choices"]) != 4 or d.get("answer") not in range(4):
                    raise DataError(f"{where}: expected 4 'choices' and an 'answer' 0-3")
        else:
            files = [data] if data.is_file() else subject_files(data, split)
            items = [item for f in files for item in parse_subject_file(f, split)]
        kept = [(w, d) for w, d in items if d.get("subject") not in EXCLUDED_SUBJECTS]
        return [Record(i, d, w) for i, (w, d) in enumerate(kept)]

    def build(self, record: Record, split: str) -> Question:
        d = record.data
        qid = f"mmlu/{split}/{record.index}"
        choices = [str(c).strip() for c in d["choices"]]
        gold = int(d["answer"])
        others = [i for i, c in enumerate(choices) if i != gold and c != choices[gold]]
        if not others:
            raise DataError(f"{record.where}: every wrong choice repeats the correct one")
        wrong = others[stable_choice(qid, len(others))]
        meta = {"source_index": record.index, "split": split, "subject": d.get("subject"),
                "subject_row": d.get("subject_row"), "options": choices, "gold_index": gold, "incorrect_index": wrong}
        return Question(id=qid, task=self.info.name, question=str(d["question"]).strip(),
                        answers=(choices[gold], choices[wrong]), correct_index=0, meta=meta)
