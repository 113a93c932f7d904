"""HumanEval (`code`) and MBPP (`code-mbpp`): which of two solutions passes the hidden tests? Family `code`.

Each question shows a programming problem and two candidate solutions; exactly one passes the
problem's tests, and both were run against them in the sandbox (`oversight/sandbox/`). The judge sees
the problem and the two solutions, never the tests.

- `code`: HumanEval (`openai/openai_humaneval`, or a local `humaneval/HumanEval.jsonl.gz`, fields
  `task_id, prompt, entry_point, canonical_solution, test`). The question is the `prompt` (signature
  and docstring); the options are function bodies completing it, as in HumanEval. Ids: `HumanEval/N`.
- `code-mbpp`: MBPP's evaluation problems, task ids 11-510 (`google-research-datasets/mbpp`, config
  `full`, or a local `mbpp/mbpp.jsonl`, fields `text, code, task_id, test_setup_code, test_list`).
  The question is the `text`; the options are whole functions. The tests are `test_list` (run after
  `test_setup_code`). Ids: `mbpp/N`.

**Correct option**: the canonical solution, kept only when it passes its tests in the sandbox.
**Incorrect option**: a mutant of it (`tasks/code_mutants.py`: comparison flip, off-by-one constant,
swapped operator, boolean swap, dropped `if`), kept only when it compiles and *fails* the tests (a
failed assertion or an exception; a mutant that runs into the time limit is skipped, so a build
does not depend on machine speed). Mutants are tried in rank order starting at `crc32(id) mod
#mutants`, at most `MAX_TRIES`; a problem with no failing mutant among them is left out.
`meta`: `mutation` (operator), `mutation_detail` (e.g. `line 14: '<' -> '<='`), `failure` (the last
line of the failing run's stderr), `tries`.

Loading needs execution, so it is opt-in:
- `--data FILE` with a file written by `oversight tasks build code --out FILE --allow-code-exec`
  loads without executing anything (the recommended way: build once, run many times);
- otherwise the raw dataset is verified at load time, which requires `--allow-code-exec` (else a
  ConfigError says so) and takes a while (see docs/sandbox.md), every problem being checked before
  the `--limit` sample is drawn so that the sample is the same on every machine.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, load_hub_split, read_jsonl, require_str_fields
from tasks.built import built_question, is_built
from tasks.code_mutants import mutants
from oversight.sandbox import SandboxResult, require_code_execution, run_python

MAX_TRIES = 12
"""Mutants run per problem before giving up on it."""
TEST_TIMEOUT_S = 10.0
"""Wall-clock limit for the canonical solution's test run."""
MUTANT_TIMEOUT_S = 3.0
"""Wall-clock limit for a mutant's test run (mutants that loop are skipped, not kept)."""


@dataclass(frozen=True)
class Problem:
    """One code problem, whichever dataset it came from."""

    id: str
    question: str
    solution: str
    """The canonical solution, as shown in the correct option."""
    prefix: str
    """Code before the solution when testing (HumanEval: the prompt; MBPP: the setup code)."""
    tests: str
    """Code after the solution that fails when it is wrong."""


@dataclass(frozen=True)
class CodePair:
    problem: Problem
    wrong: str
    meta: dict[str, Any]


def test_program(problem: Problem, solution: str) -> str:
    """The program that passes exactly when `solution` passes the problem's tests."""
    return f"{problem.prefix}{solution}\n\n{problem.tests}\n"


def run_tests(problem: Problem, solution: str, timeout_s: float = TEST_TIMEOUT_S) -> SandboxResult:
    return run_python(test_program(problem, solution), timeout_s=timeout_s, max_output_bytes=4000)


def verified_pair(problem: Problem) -> CodePair | None:
    """The canonical solution and its first failing mutant, both checked in the sandbox; None if either fails."""
    if not run_tests(problem, problem.solution).ok:
        return None
    full = problem.prefix + problem.solution
    start_line = problem.prefix.count("\n") + 1
    candidates = mutants(full, start_line)
    if not candidates:
        return None
    first = zlib.crc32(problem.id.encode()) % len(candidates)
    for tries, mutant in enumerate((candidates[first:] + candidates[:first])[:MAX_TRIES], start=1):
        wrong = mutant.source[len(problem.prefix):]
        if not mutant.source.startswith(problem.prefix) or not _compiles(mutant.source):
            continue
        result = run_tests(problem, wrong, MUTANT_TIMEOUT_S)
        if result.status == "fail":
            failure = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.reason
            return CodePair(problem, wrong, {"mutation": mutant.operator, "mutation_detail": mutant.detail,
                                             "failure": failure[:200], "tries": tries})
    return None


def _compiles(source: str) -> bool:
    try:
        compile(source, "<mutant>", "exec")  # compiling never runs the code
    except (SyntaxError, ValueError):
        return False
    return True


_verified: dict[Problem, CodePair | None] = {}
"""This process's sandbox verdicts: a sweep loads the task once per cell, the sandbox checks each problem once."""


def verify_all(problems: Sequence[Problem], workers: int | None = None) -> list[CodePair]:
    """`verified_pair` of every problem, in parallel sandbox runs; problems without a pair are left out."""
    todo = [p for p in dict.fromkeys(problems) if p not in _verified]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        _verified.update(zip(todo, pool.map(verified_pair, todo)))
    return [pair for pair in map(_verified.get, problems) if pair is not None]


def pair_question(pair: CodePair, task: str, index: int) -> Question:
    p = pair.problem
    return Question(id=p.id, task=task, question=p.question, answers=(p.solution, pair.wrong), correct_index=0,
                    context=None, meta={"source_index": index, **pair.meta})


# --------------------------------------------------------------------------- the two datasets


def humaneval_problem(record: Record) -> Problem:
    require_str_fields(record, ("task_id", "prompt", "entry_point", "canonical_solution", "test"))
    d = record.data
    return Problem(id=d["task_id"], question=d["prompt"].strip("\n"), solution=d["canonical_solution"],
                   prefix=d["prompt"], tests=f"{d['test']}\n\ncheck({d['entry_point']})")


MBPP_TEST_IDS = range(11, 511)
"""MBPP's evaluation split (task ids 11-510, as in the paper and the hub's `test` split)."""


def mbpp_problem(record: Record) -> Problem:
    require_str_fields(record, ("text", "code"))
    d = record.data
    tests = d.get("test_list")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise DataError(f"{record.where}: field 'test_list' must be a non-empty list of assert statements")
    setup = (d.get("test_setup_code") or "").replace("\r\n", "\n")
    return Problem(id=f"mbpp/{d['task_id']}", question=d["text"].strip(),
                   solution=d["code"].replace("\r\n", "\n").rstrip() + "\n",
                   prefix=f"{setup}\n" if setup.strip() else "", tests="\n".join(tests))


class _CodeTask(Task):
    """Shared loading: a built file as is, or the raw dataset verified in the sandbox (opt-in)."""

    def raw_records(self, data: Path | None, split: str) -> list[Record]:
        return read_jsonl(data) if data is not None else load_hub_split(self.info, split)

    def problem(self, record: Record) -> Problem:
        raise NotImplementedError

    def problems(self, data: Path | None, split: str, limit: int | None = None, seed: int = 0) -> list[Problem]:
        """The dataset's problems (a seeded sample of `limit`), validated, nothing executed."""
        from tasks.base import sample_indices

        records = [r for r in self.raw_records(data, split) if self.usable(r)]
        return [self.problem(records[i]) for i in sample_indices(len(records), limit, seed)]

    def usable(self, record: Record) -> bool:
        return True

    def records(self, data: Path | None, split: str) -> list[Record]:
        raw = self.raw_records(data, split)
        if is_built(raw):
            return raw
        where = str(data) if data is not None else self.info.hub_id
        require_code_execution(f"task {self.info.name!r} from the raw dataset ({where})",
                               instead=f", or load a built file: oversight tasks build {self.info.name} --out "
                                       f"{self.info.name}.jsonl --allow-code-exec, then --data {self.info.name}.jsonl")
        problems = [self.problem(r) for r in raw if self.usable(r)]
        return [Record(i, {"pair": pair}, pair.problem.id) for i, pair in enumerate(verify_all(problems))]

    def build(self, record: Record, split: str) -> Question:
        if "pair" in record.data:
            return pair_question(record.data["pair"], self.info.name, record.index)
        return built_question(record, self.info.name)


@register("task", "code")
class HumanEvalTask(_CodeTask):
    """HumanEval: the canonical completion vs. a mutant that fails the hidden tests."""

    info = TaskInfo(name="code", family="code",
                    description="HumanEval: the canonical solution vs. a mutant failing the hidden tests "
                                "(sandbox-verified; --allow-code-exec, or a file from `tasks build code`)",
                    hub_id="openai/openai_humaneval", folder="humaneval", files={"test": "HumanEval.jsonl.gz"},
                    size="164 problems, 155 with a verified pair")

    def problem(self, record: Record) -> Problem:
        return humaneval_problem(record)


@register("task", "code-mbpp")
class MBPPTask(_CodeTask):
    """MBPP (task ids 11-510): the reference solution vs. a mutant that fails the tests."""

    info = TaskInfo(name="code-mbpp", family="code",
                    description="MBPP (ids 11-510): the reference solution vs. a mutant failing the tests "
                                "(sandbox-verified; --allow-code-exec, or a file from `tasks build code-mbpp`)",
                    hub_id="google-research-datasets/mbpp", hub_config="full", folder="mbpp",
                    files={"test": "mbpp.jsonl"}, size="500 problems (ids 11-510), 418 with a verified pair")

    def usable(self, record: Record) -> bool:
        task_id = record.data.get("task_id")
        return "answers" in record.data or (isinstance(task_id, int) and task_id in MBPP_TEST_IDS)

    def problem(self, record: Record) -> Problem:
        return mbpp_problem(record)
