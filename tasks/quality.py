"""QuALITY long-article reading comprehension as a binary choice (task `quality`, family `extractive`).

Agents read the article (`Question.context`); the judge sees only the question and the two answers,
the information asymmetry of Kenton et al. 2024 and Khan et al. 2024.

Two file formats are read, detected per line:

* **L-Eval** (the local copy, `$OVERSIGHT_DATA_DIR/quality_leval/quality.jsonl`, and the hub dataset
  `L4NLP/LEval`, config `quality`): one article per line, `input` (article text), `instructions` (each
  the question followed by `\\n (A) ... \\n (B) ... \\n (C) ... \\n (D) ...`) and `outputs` (the gold
  option, `"(B) ..."`).
* **Official QuALITY** (`QuALITY.v1.0.1.htmlstripped.{train,dev}` from nyu-mll/quality): one article
  per line, `article`, `title`, `questions` (each `question`, `options` (4), `gold_label` (1-based),
  `validation` (annotators' `untimed_best_distractor`, 1-based), `difficult`). Items without a
  `gold_label` (the official test split) are skipped.

Each question is one item; ids are `quality/<split>/<index>` counting questions in file order.

**Incorrect option.** The best distractor where the data labels one: the option most annotators
named as `untimed_best_distractor` (votes for the gold option ignored; ties go to the lowest option
number), the pair Khan et al. 2024 and Kenton et al. 2024 debate over; a vote that is not an option
number 1-4 is a DataError. The L-Eval copy has no such labels (nor does Khan et al.'s question list,
which names questions but not their distractors), so there the incorrect option is one of the three
wrong options chosen by `stable_choice(question id, 3)` (CRC-32 of the id), fixed for a question
whatever else is loaded, and not necessarily the hardest one. `meta["distractor"]` records which rule
applied per question (`best_distractor` / `crc32`), so every transcript shows it.

`meta`: `source_index`, `split`, `article_line` (1-based line of the article), `question_number`
(within the article), `title` (official format), `options` (all four, original order),
`gold_letter`, `incorrect_letter`, `distractor`, `difficult` (official format).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, load_records, stable_choice

LETTERS = "ABCD"
_OPTION = re.compile(r"\n\s*\(([A-D])\)\s")
_GOLD = re.compile(r"\s*\(([A-D])\)\s*(.*)", re.DOTALL)

QUALITY_INFO = TaskInfo(
    name="quality",
    family="extractive",
    description="QuALITY stories: agents read the article, the judge does not; correct vs the annotators' best "
                "distractor (official files), else a wrong option chosen by CRC-32 of the id (the L-Eval copy has "
                "no distractor labels; meta['distractor'] says which)",
    hub_id="L4NLP/LEval",
    hub_config="quality",
    folder="quality_leval",
    files={"test": "quality.jsonl"},
    size="202 questions on 15 articles (L-Eval); official dev 2,086",
)


def parse_leval_instruction(text: str) -> tuple[str, list[str]]:
    """(question, [option A..D]) from an L-Eval instruction; ValueError unless exactly (A)-(D) follow."""
    parts = _OPTION.split(text)
    letters, options = parts[1::2], [p.strip() for p in parts[2::2]]
    if letters != list(LETTERS) or not parts[0].strip() or not all(options):
        raise ValueError("expected the question, then options '(A) ...' to '(D) ...' on their own lines")
    return parts[0].strip(), options


def _leval_items(data: dict[str, Any], where: str) -> list[dict[str, Any]]:
    article, instructions, outputs = data.get("input"), data.get("instructions"), data.get("outputs")
    if not isinstance(article, str) or not article.strip():
        raise DataError(f"{where}: field 'input' (the article) must be a non-empty string")
    if not isinstance(instructions, list) or not isinstance(outputs, list) or len(instructions) != len(outputs):
        raise DataError(f"{where}: 'instructions' and 'outputs' must be lists of the same length (L-Eval format)")
    items = []
    for k, (instruction, output) in enumerate(zip(instructions, outputs), start=1):
        if not isinstance(instruction, str) or not isinstance(output, str):
            raise DataError(f"{where}: question {k}: instruction and output must be strings")
        try:
            question, options = parse_leval_instruction(instruction)
        except ValueError as e:
            raise DataError(f"{where}: question {k}: {e}") from e
        gold = _GOLD.match(output)
        if gold is None:
            raise DataError(f"{where}: question {k}: output {output[:40]!r} does not start with '(A)'..'(D)'")
        items.append({"article": article, "question": question, "options": options,
                      "gold": LETTERS.index(gold.group(1)), "distractor": None, "number": k})
    return items


def _vote(value: Any) -> int | None:
    """An annotator's `untimed_best_distractor` (1-based option number; digit strings accepted), None if absent."""
    if value is None:
        return None
    number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(LETTERS):
        raise ValueError(f"'untimed_best_distractor' must be an option number 1-4, got {value!r}")
    return number


def best_distractor(validation: Any, gold: int) -> int | None:
    """0-based option most annotators named as best distractor (lowest on ties), None without a vote for a wrong
    option. ValueError on a vote that is not an option number."""
    votes = Counter(_vote(v.get("untimed_best_distractor")) for v in validation or () if isinstance(v, dict))
    ranked = sorted((-n, o) for o, n in votes.items() if o is not None and o - 1 != gold)
    return ranked[0][1] - 1 if ranked else None


def _official_items(data: dict[str, Any], where: str) -> list[dict[str, Any]]:
    article, questions = data.get("article"), data.get("questions")
    if not isinstance(article, str) or not article.strip() or not isinstance(questions, list):
        raise DataError(f"{where}: expected 'article' (non-empty string) and 'questions' (list), the official "
                        "QuALITY format")
    items = []
    for k, q in enumerate(questions, start=1):
        options = q.get("options") if isinstance(q, dict) else None
        if not isinstance(q, dict) or not isinstance(q.get("question"), str) or not isinstance(options, list) \
                or len(options) != 4 or not all(isinstance(o, str) and o.strip() for o in options):
            raise DataError(f"{where}: question {k}: needs 'question' and 4 non-empty 'options'")
        label = q.get("gold_label")
        if label is None:
            continue  # official test split: no answers
        if label not in (1, 2, 3, 4):
            raise DataError(f"{where}: question {k}: 'gold_label' must be 1-4, got {label!r}")
        try:
            distractor = best_distractor(q.get("validation"), label - 1)
        except ValueError as e:
            raise DataError(f"{where}: question {k}: 'validation': {e}") from e
        items.append({"article": article, "question": q["question"].strip(), "options": [o.strip() for o in options],
                      "gold": label - 1, "distractor": distractor,
                      "number": k, "title": data.get("title"), "difficult": q.get("difficult")})
    return items


@register("task", "quality")
class QualityTask(Task):
    """QuALITY: correct answer vs best distractor; the article is the agents' context."""

    info = QUALITY_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        out: list[Record] = []
        for line in load_records(self.info, data, split):
            parse = _official_items if "questions" in line.data else _leval_items
            for item in parse(line.data, line.where):
                item["article_line"] = line.index + 1
                out.append(Record(len(out), item, f"{line.where} (question {item['number']})"))
        return out

    def build(self, record: Record, split: str) -> Question:
        item = record.data
        qid = f"quality/{split}/{record.index}"
        gold, options = item["gold"], item["options"]
        if options[gold] in [o for i, o in enumerate(options) if i != gold]:
            raise DataError(f"{record.where}: the correct option's text repeats another option")
        wrong = item["distractor"]
        rule = "best_distractor"
        if wrong is None:
            others = [i for i in range(len(options)) if i != gold]
            wrong, rule = others[stable_choice(qid, len(others))], "crc32"
        meta = {"source_index": record.index, "split": split, "article_line": item["article_line"],
                "question_number": item["number"], "options": list(options), "gold_letter": LETTERS[gold],
                "incorrect_letter": LETTERS[wrong], "distractor": rule}
        meta.update({k: item[k] for k in ("title", "difficult") if item.get(k) is not None})
        return Question(id=qid, task=self.info.name, question=item["question"], answers=(options[gold], options[wrong]),
                        correct_index=0, context=item["article"], meta=meta)
