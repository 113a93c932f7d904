"""GSM8K as a binary choice: GSM8KQA programs (task `math`) or worked solutions (task `math-prose`).

Task `math` (GSM8KQA, as in the reference study): the two options are short Python programs, one
assignment per calculation step and `answer = ...` at the end; the correct one computes the gold
answer, the incorrect one a different value. Two sources:

- *derived* (the default, `--data` pointing at GSM8K itself): the gold solution as a program and the
  same program with the mistake described below applied to one step (`tasks/gsm8k_programs.py`).
  Loading runs nothing: the values are computed exactly, and `oversight tasks build math` (and the
  tests) run both programs in the sandbox to check them. The 59 of 1,319 test items where no
  calculation step computes the answer (the fallback below) have no program and are left out: 1,260.
- *built* (`--data FILE` written by `oversight tasks build math --source mutate|sample`): the derived
  programs verified by execution, or programs sampled from an agent model and sorted by what they
  print (`tasks/build.py`). Loading such a file runs nothing either.

`meta` of `math`: `source_index`, `split`, `gold_answer`, `wrong_answer`, `wrong_method`, `wrong_detail`,
`source` (`derived`, `mutate` or `sample`).

Task `math-prose`: the same items as worked solutions, described in the rest of this docstring.

Source: `openai/gsm8k` (config `main`) on the hub, or a local `gsm8k/test.jsonl` / `train.jsonl`
(fields `question`, `answer`; the answer is a worked solution with calculator annotations
`<<expr=result>>` and the final answer after `#### `). Question ids: `gsm8k/<split>/<index>`, the
0-based line (= hub row) index.

Each question shows the problem and two worked solutions; option 0 (before framing) is correct.

**Correct option.** The gold solution with the calculator annotations removed, ending with
"The answer is N." instead of "#### N".

**Incorrect option.** The same solution with one deliberate mistake carried through to the end, so
it reads like a plausible wrong solution, never a random number. Deterministic, no RNG:

1. *Steps.* Every annotation `<<expr=result>>` whose expression is plain arithmetic (numbers,
   `+ - * / **`, parentheses; evaluated exactly with `fractions.Fraction` by a small
   recursive-descent parser, nothing is ever `eval`-ed) and gives its written result (exactly, or
   rounded to the written decimals) is a calculation step. A prose equation without an annotation
   (`10-2=8`, `12/20 x 100% = 60%`) is a step too when its arithmetic checks out exactly. A step is
   *shown* when the prose right before it writes out the same expression, units allowed
   (`16 - 3 - 4 = 9`, `20 sheep + 160 sheep = 180`, `$20/hour * 35 hours/week = $700`; `a+b` and
   `a*b` may appear in either order).
2. *Perturbations of a step, in rank order:* swap one operator, last one first (`+` <-> `-`,
   `*` <-> `/`); then shift one operand up by one unit, last operand first; then down by one unit
   (only when the operand stays positive). The unit is 1 for integers below 100 and one unit of
   the leading digit otherwise (`80,000` -> `90,000`, `0.6` -> `0.7`, `1.5` -> `2.5`).
3. *Propagation.* The perturbed step is recomputed; every later step with an operand equal to a
   changed result takes the new value and is recomputed, and so on down the chain (the most recent
   step producing a value owns it). The prose follows: the perturbed expression is rewritten where
   it is shown (operator symbol or operand), operands and results of recomputed steps are
   rewritten, and every other number in the prose equal to a changed result, from the line of the
   step that changed it on, takes the new value. The wrong final answer is the new value of the
   gold final answer; a perturbation that does not reach it is discarded.
4. *Choice.* Candidate steps are tried in a rotation that starts at `crc32(question id) mod
   #steps`, so the mistake falls early in some solutions and late in others; for each step the
   perturbations in rank order. The first candidate passing every **strict** check (`CHECKS`) wins:
   `answer`: the wrong final answer is a non-negative integer (and differs from the gold one,
   always required); `clean`: every changed value is non-negative, an integer where the original
   was, else at most 2 decimals; `shown`: the perturbed step is written out in the prose;
   `propagated_shown`: so is every recomputed step; `magnitude`: every changed value is within a
   factor 10 of the original; `unambiguous`: no changed value that is used later also occurs as a
   number in the question (where "the old value" could mean either). If no candidate passes all,
   the one failing the fewest checks (then the least important ones, in that order; then rank)
   is used, with values rounded to 2 decimals in the prose: `meta["wrong_checks"]` = `relaxed`
   and `meta["wrong_failed_checks"]` lists what failed.
5. *Fallback*, when no step reaches the final answer (algebra written without annotations, prose
   the parser does not follow): the wrong answer is twice the gold one (1 when the gold one is 0),
   written in place of the gold number on the last line that shows it and in the final line.
   `meta["wrong_method"]` = `fallback_double`.

Measured on the 1,319-item test split: 44.1% operator swaps and 45.6% operand shifts passing every
strict check (89.7% in all), 5.8% relaxed (3.9% operator swap, 1.9% operand shift), 4.5% fallback;
the wrong final answer differs from the gold one on every item; all 1,319 build in about 0.6 s.

`meta`: `source_index`, `split`, `gold_answer` / `wrong_answer` (numbers as strings, no thousands
separators), `wrong_method` (`operator_swap`, `operand_shift`, `fallback_double`), `wrong_checks`
(`strict`, `relaxed`, `fallback`), `wrong_failed_checks`, `wrong_step` (0-based index of the
perturbed step, None for the fallback) and `wrong_detail` (e.g. `step 2: 9*2=18 -> 9*3=27`).

`worked_solution_options` is the worked-solution construction on its own; the `math` programs reuse
its choice of mistake (`find_mistake`).

Code: `tasks.arith` (exact arithmetic, never `eval`), `tasks.gsm8k_steps` (reading a solution:
numbers, tokens, calculation steps and where the prose shows them), `tasks.gsm8k_mistake`
(perturbation, propagation, checks, rendering, fallback: `worked_solution_options`),
`tasks.gsm8k_programs` (the programs of `math`). This module
holds the task and re-exports their public names.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.arith import evaluate, safe_eval, tokenize_expr
from tasks.base import Record, Task, TaskInfo, load_records, require_str_fields
from tasks.built import built_question, is_built
from tasks.gsm8k_mistake import (
    CHECKS,
    Perturbation,
    WorkedOptions,
    perturbations,
    shift_unit,
    worked_solution_options,
)
from tasks.gsm8k_programs import ProgramOptions, program_options
from tasks.gsm8k_steps import display_answer, split_gold, strip_annotations

__all__ = [
    "CHECKS",
    "GSM8K_INFO",
    "MathProseTask",
    "MathTask",
    "Perturbation",
    "ProgramOptions",
    "WorkedOptions",
    "build_question",
    "evaluate",
    "perturbations",
    "program_options",
    "program_question",
    "safe_eval",
    "shift_unit",
    "split_gold",
    "strip_annotations",
    "tokenize_expr",
    "worked_solution_options",
]

# ----------------------------------------------------------------------------- the task

GSM8K_INFO = TaskInfo(
    name="math",
    family="closed",
    description="GSM8KQA: two Python programs for a GSM8K problem, the gold solution's and one with a "
                "mistaken step (or a file from `tasks build math`, e.g. agent-sampled programs)",
    hub_id="openai/gsm8k",
    hub_config="main",
    folder="gsm8k",
    files={"test": "test.jsonl", "train": "train.jsonl"},
    size="1,260 of 1,319 test problems have programs; 7,473 train",
)
PROSE_INFO = dataclasses.replace(
    GSM8K_INFO, name="math-prose", size="1,319 test; 7,473 train",
    description="GSM8K grade-school math: the gold worked solution vs. the same solution with one "
                "calculation step perturbed and carried through")


def gsm8k_records(records: list[Record]) -> list[Record]:
    """`records`, each checked to have a question and a worked solution with `####`."""
    for r in records:
        require_str_fields(r, ("question", "answer"))
        if "####" not in r.data["answer"]:
            raise DataError(f"{r.where}: field 'answer' has no '#### <final answer>' line; "
                            "expected a GSM8K worked solution")
    return records


@register("task", "math")
class MathTask(Task):
    """GSM8KQA: a choice between two Python programs (derived from the gold solution, or a built file)."""

    info = GSM8K_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        raw = load_records(self.info, data, split)
        if is_built(raw):
            return raw
        usable: list[Record] = []
        for r in gsm8k_records(raw):
            opts = derived_programs(r, split)
            if opts is not None:
                usable.append(Record(len(usable), {**r.data, "source_index": r.index, "programs": opts}, r.where))
        return usable

    def build(self, record: Record, split: str) -> Question:
        if "programs" not in record.data:
            return built_question(record, self.info.name)
        return program_question(record.data["question"], record.data["programs"], record.data["source_index"],
                                split, self.info.name)


def derived_programs(record: Record, split: str) -> ProgramOptions | None:
    try:
        return _cached_program_options(record.data["question"], record.data["answer"], f"gsm8k/{split}/{record.index}")
    except ValueError as e:
        raise DataError(f"{record.where}: {e}") from e


@functools.cache
def _cached_program_options(question: str, answer: str, question_id: str) -> ProgramOptions | None:
    # Deriving every item's programs takes seconds; sweeps and tournaments load the task many times.
    return program_options(question, answer, question_id)


def program_question(question: str, opts: ProgramOptions, index: int, split: str, task: str = "math",
                     source: str = "derived") -> Question:
    meta: dict[str, Any] = {"source_index": index, "split": split, "gold_answer": display_answer(opts.gold),
                            "wrong_answer": display_answer(opts.wrong_value), "wrong_method": opts.method,
                            "wrong_detail": opts.detail, "source": source}
    return Question(id=f"gsm8k/{split}/{index}", task=task, question=question.strip(),
                    answers=(opts.correct, opts.wrong), correct_index=0, context=None, meta=meta)


@register("task", "math-prose")
class MathProseTask(Task):
    """GSM8K as a binary choice between two worked solutions."""

    info = PROSE_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        return gsm8k_records(load_records(self.info, data, split))

    def build(self, record: Record, split: str) -> Question:
        return build_question(record, split, self.info.name)


def build_question(record: Record, split: str, task: str = "math-prose") -> Question:
    qid = f"gsm8k/{split}/{record.index}"
    question = record.data["question"].strip()
    try:
        opts = worked_solution_options(question, record.data["answer"], qid)
    except ValueError as e:
        raise DataError(f"{record.where}: {e}") from e
    meta: dict[str, Any] = {
        "source_index": record.index,
        "split": split,
        "gold_answer": opts.gold_answer,
        "wrong_answer": opts.wrong_answer,
        "wrong_method": opts.method,
        "wrong_checks": opts.checks,
        "wrong_failed_checks": list(opts.failed_checks),
        "wrong_step": opts.step,
        "wrong_detail": opts.detail,
    }
    return Question(id=qid, task=task, question=question, answers=(opts.correct, opts.wrong), correct_index=0,
                    context=None, meta=meta)
