"""GPQA graduate-level science questions (tasks `gpqa`, family `closed`, and `gpqa-extractive`).

GPQA is gated so that it stays out of training crawls; nothing of it is stored with this project.
Two sources:

* the official `dataset.zip` (github.com/idavidrein/gpqa), password-protected with the password its
  README publishes (`deserted-untie-orchid`): pass its path with `--data PATH/dataset.zip` (or put it at
  `$OVERSIGHT_DATA_DIR/gpqa/dataset.zip`). The CSV inside is decrypted in memory and never written to
  disk. A plain CSV with the same columns (e.g. one you exported) is read too;
* the hub dataset `Idavidrein/gpqa` (configs `gpqa_main`, `gpqa_diamond`, `gpqa_extended`; split
  `train`) when your Hugging Face account has accepted its terms.

Splits: `test` = GPQA main (448 questions), `diamond` (198), `extended` (546). Columns used:
`Question`, `Correct Answer`, `Incorrect Answer 1..3`, `Explanation`, `Record ID`, `High-level domain`,
`Subdomain`.

`gpqa` (closed): the judge and agents see the question and two answers; agents are simply stronger.
`gpqa-extractive`: the writer's expert explanation becomes the article (`Question.context`): agents
read it, the judge does not, as in Kenton et al. 2024.

**Incorrect option.** One of the three incorrect answers, `Incorrect Answer {1 + stable_choice(id, 3)}`
(CRC-32 of the question id), the same in both tasks. Ids: `gpqa/<split>/<index>` (0-based row).
`meta`: `source_index`, `split`, `record_id`, `domain`, `subdomain`, `incorrect_column`, `options`
(correct first, then incorrect 1-3).
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, load_hub_split, parse_csv, read_csv, require_str_fields, stable_choice

PASSWORD = b"deserted-untie-orchid"
"""Published in the GPQA README; the zip's encryption keeps the questions out of web crawls only."""
SUBSETS = {"test": "main", "diamond": "diamond", "extended": "extended"}
INCORRECT = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
REQUIRED = ("Question", "Correct Answer", *INCORRECT)

GPQA_INFO = TaskInfo(
    name="gpqa",
    family="closed",
    description="GPQA graduate-level science (gated): correct vs one incorrect answer; needs the official "
                "dataset.zip (--data) or hub access",
    hub_id="Idavidrein/gpqa",
    hub_config="gpqa_main",
    folder="gpqa",
    files={split: "dataset.zip" for split in SUBSETS},
    size="448 main (test); 198 diamond; 546 extended",
)
GPQA_EXTRACTIVE_INFO = dataclasses.replace(
    GPQA_INFO, name="gpqa-extractive", family="extractive",
    description="GPQA with the expert explanation as the article: agents read it, the judge does not")


def read_zip_member(path: Path, subset: str) -> str:
    """The text of `dataset/gpqa_<subset>.csv` inside the official zip, decrypted in memory."""
    member_name = f"gpqa_{subset}.csv"
    try:
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if Path(n).name == member_name]
            if not members:
                raise DataError(f"{path}: no {member_name} inside (found {', '.join(archive.namelist()[:6])}); "
                                "expected the official GPQA dataset.zip")
            raw = archive.read(members[0], pwd=PASSWORD)
    except zipfile.BadZipFile as e:
        raise DataError(f"{path}: not a zip file ({e}); pass the official GPQA dataset.zip or a CSV") from e
    except RuntimeError as e:  # wrong password / not decryptable
        raise DataError(f"{path}: cannot decrypt {member_name} with the published GPQA password ({e}); "
                        "pass the unmodified official dataset.zip") from e
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: {member_name} is not UTF-8 text (byte {e.start})") from e


class _GPQABase(Task):
    def records(self, data: Path | None, split: str) -> list[Record]:
        subset = SUBSETS[split]
        if data is None:
            info = dataclasses.replace(self.info, hub_config=f"gpqa_{subset}")
            records = load_hub_split(info, split, hub_split="train")
        elif data.suffix.lower() == ".csv":
            records = read_csv(data)
        else:
            records = parse_csv(read_zip_member(data, subset), f"{data}!gpqa_{subset}.csv")
        for r in records:
            require_str_fields(r, REQUIRED)
        return records

    def build(self, record: Record, split: str) -> Question:
        d = record.data
        qid = f"gpqa/{split}/{record.index}"
        correct = d["Correct Answer"].strip()
        pick = stable_choice(qid, len(INCORRECT))
        wrong = d[INCORRECT[pick]].strip()
        if wrong == correct:
            raise DataError(f"{record.where}: {INCORRECT[pick]!r} repeats the correct answer")
        meta = {"source_index": record.index, "split": split, "record_id": d.get("Record ID"),
                "domain": d.get("High-level domain"), "subdomain": d.get("Subdomain"),
                "incorrect_column": INCORRECT[pick], "options": [correct, *(d[c].strip() for c in INCORRECT)]}
        return Question(id=qid, task=self.info.name, question=d["Question"].strip(), answers=(correct, wrong),
                        correct_index=0, context=self.context(record), meta=meta)

    def context(self, record: Record) -> str | None:
        return None


@register("task", "gpqa")
class GPQATask(_GPQABase):
    """GPQA (closed): correct vs one incorrect answer."""

    info = GPQA_INFO


@register("task", "gpqa-extractive")
class GPQAExtractiveTask(_GPQABase):
    """GPQA with the expert explanation as the agents' article."""

    info = GPQA_EXTRACTIVE_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        records = super().records(data, split)
        for r in records:
            require_str_fields(r, ("Explanation",))
        return records

    def context(self, record: Record) -> str | None:
        return record.data["Explanation"].strip()
