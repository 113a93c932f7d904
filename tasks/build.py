"""`oversight tasks build`, the data side: which problems, how each item is verified, the written file.

The file (`tasks/built.py` format) then loads with `oversight run ... --task TASK --data FILE`
without executing anything. Building needs `--allow-code-exec`. Sources:

- `math --source mutate` (default): the derived GSM8KQA programs (`tasks/gsm8k_programs.py`); both
  run in the sandbox and an item is kept only when the correct program prints the gold answer and
  the incorrect one prints the value computed for it (which differs from the gold one).
- `math --source sample --model SPEC --samples 32`: for each problem, `samples` programs sampled
  from the agent model (prompt `prompts/tasks/math_program.j2`, temperature `--temperature`,
  a different seed per sample), each run in the sandbox. A program is *correct* when it prints the
  gold answer, *incorrect* when it prints another number, *invalid* otherwise (no code block, an
  exception, a timeout, no numeric `answer`). An item is kept when it has at least one of each: the
  first correct and the first incorrect program in sample order (the study: 32 samples). The
  sampling itself (the agent, the engine, the response cache) is the build driver's,
  `oversight/experiments/build.py`; this module receives the sampled replies.
- `code`, `code-mbpp` (`--source mutate` only): canonical solution vs. first failing mutant, both run
  against the tests (`tasks/code.py`).

`--limit N --seed S` build from a seeded sample of N problems, the sample `oversight run --limit N
--seed S` draws from the same data (for `math --source sample`: the sample of `math-prose`, since
every GSM8K problem can be sampled from); fewer than N items come out when some yield no verified
pair. Only verified items are written, atomically (a temp file renamed into place): an interrupted
build leaves no file.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

from oversight.errors import ConfigError
from oversight.types import Question
from tasks.base import get_task, resolve_data_file, sample_indices
from tasks.built import write_built
from tasks.gsm8k_programs import ProgramOptions, printed_answer, program_runner, same_number
from tasks.gsm8k_steps import display_answer
from oversight.sandbox import require_code_execution, run_python

Source = Literal["mutate", "sample"]
BUILDABLE = {"math": ("mutate", "sample"), "code": ("mutate",), "code-mbpp": ("mutate",)}
PROGRAM_TIMEOUT_S = 5.0


@dataclass
class BuildReport:
    task: str
    source: str
    out: Path
    problems: int
    """Problems tried."""
    written: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    """What happened to the problems (and, for `sample`, to the programs)."""


def check_build(task: str, source: str, *, samples: int, limit: int | None, has_agent: bool) -> None:
    """Refuse a build that cannot run (before any data or model loads); `has_agent`: a model is named or given."""
    if task not in BUILDABLE:
        raise ConfigError(f"`tasks build` builds {', '.join(BUILDABLE)}; {task!r} loads without building")
    if source not in BUILDABLE[task]:
        raise ConfigError(f"task {task!r} builds with --source {' or '.join(BUILDABLE[task])}, not {source!r}")
    if source == "sample" and not has_agent:
        raise ConfigError("--source sample needs --model SPEC, the agent that writes the programs "
                          "(e.g. embedded:qwen2.5-coder-0.5b)")
    if samples < 1 or (limit is not None and limit < 1):
        raise ConfigError(f"--samples and --limit must be >= 1, got {samples} and {limit}")
    require_code_execution(f"oversight tasks build {task}")


def build_mutated(task: str, *, out: str | Path, limit: int | None, seed: int, data: str | None, split: str,
                  say: Callable[[str], None]) -> BuildReport:
    """The `--source mutate` build of `task`: verify each problem's pair in the sandbox and write the verified."""
    start = time.perf_counter()
    impl = get_task(task)
    path = resolve_data_file(impl.info.folder, impl.info.files[split], data)
    if task == "math":
        items = _math_items(impl, path, split, limit, seed, derive=True)
        say(f"{len(items)} problems")
        questions, counts = _verify_math(items, split)
        problems = len(items)
    else:
        from tasks.code import pair_question, verify_all

        found = impl.problems(path, split, limit, seed)  # type: ignore[attr-defined]
        say(f"{len(found)} problems")
        pairs = verify_all(found)
        questions = [pair_question(p, task, i) for i, p in enumerate(pairs)]
        counts = {"verified": len(pairs), "no verified pair": len(found) - len(pairs)}
        problems = len(found)
    return finish_build(task, "mutate", out, problems, questions, counts, start)


def finish_build(task: str, source: str, out: str | Path, problems: int, questions: Sequence[Question],
                 counts: dict[str, int], start: float) -> BuildReport:
    """Write the verified `questions` (atomically) and report the build begun at `start` (perf_counter)."""
    written = write_built(out, questions)
    return BuildReport(task, source, Path(out), problems, written, time.perf_counter() - start, counts)


# --------------------------------------------------------------------------- math: derived programs


@dataclass(frozen=True)
class MathItem:
    """One GSM8K problem to build from."""

    index: int
    id: str
    """The built question's id (`gsm8k/<split>/<index>`)."""
    question: str
    gold: Fraction
    programs: ProgramOptions | None


def _math_items(impl: object, path: Path | None, split: str, limit: int | None, seed: int,
               derive: bool) -> list[MathItem]:
    """The sampled GSM8K problems; `derive`: only those with derived programs, which they carry."""
    from tasks.base import load_records
    from tasks.gsm8k_steps import split_gold
    from tasks.math import derived_programs, gsm8k_records

    records = gsm8k_records(load_records(impl.info, path, split))  # type: ignore[attr-defined]
    every = [MathItem(r.index, f"gsm8k/{split}/{r.index}", r.data["question"].strip(),
                      Fraction(split_gold(r.data["answer"])[1].replace(",", "")),
                      derived_programs(r, split) if derive else None) for r in records]
    if derive:  # sample among the problems with programs, as `oversight run --task math` does
        every = [it for it in every if it.programs is not None]
    return [every[i] for i in sample_indices(len(every), limit, seed)]


def _run_program(program: str) -> float | None:
    result = run_python(program_runner(program), timeout_s=PROGRAM_TIMEOUT_S, max_output_bytes=4000)
    return printed_answer(result.stdout) if result.ok else None


def _verify_math(items: Sequence[MathItem], split: str) -> tuple[list[Question], dict[str, int]]:
    from tasks.math import program_question

    def verify(item: MathItem) -> str:
        opts = item.programs
        if opts is None:
            return "no program"
        right, wrong = _run_program(opts.correct), _run_program(opts.wrong)
        if right is None or wrong is None:
            return "did not run"
        if not same_number(right, opts.gold) or not same_number(wrong, opts.wrong_value) \
                or same_number(wrong, opts.gold):
            return "value mismatch"
        return "verified"

    with ThreadPoolExecutor() as pool:
        verdicts = list(pool.map(verify, items))
    questions = [program_question(it.question, it.programs, it.index, split, source="mutate")  # type: ignore[arg-type]
                 for it, v in zip(items, verdicts, strict=True) if v == "verified"]
    return questions, dict(Counter(verdicts))


# --------------------------------------------------------------------------- math: sampled programs

_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)


def extract_program(reply: str) -> str | None:
    """The first fenced code block of a reply (an unclosed one runs to the end), else None."""
    m = _CODE_BLOCK.search(reply)
    return m.group(1).strip() + "\n" if m and m.group(1).strip() else None


def sample_problems(*, limit: int | None, seed: int, data: str | None, split: str) -> list[MathItem]:
    """The GSM8K problems a `--source sample` build samples programs for (every problem can be sampled from)."""
    impl = get_task("math")
    path = resolve_data_file(impl.info.folder, impl.info.files[split], data)
    return _math_items(impl, path, split, limit, seed, derive=False)


def verify_samples(items: Sequence[MathItem], replies: Sequence[Sequence[str]], split: str,
                   model: str) -> tuple[list[Question], dict[str, int]]:
    """Run every sampled program in the sandbox and keep, per problem, its first correct and first incorrect one.

    `replies[n]`: the agent's reply texts for `items[n]`, in sample order; `model` is recorded on each item.
    """
    programs = [extract_program(text) for texts in replies for text in texts]
    with ThreadPoolExecutor() as pool:
        values = iter(list(pool.map(lambda p: _run_program(p) if p else None, programs)))
    programs_left = iter(programs)
    questions: list[Question] = []
    counts: Counter[str] = Counter()
    for it, texts in zip(items, replies, strict=True):
        mine = [(next(programs_left), next(values)) for _ in texts]
        right = [p for p, v in mine if p and v is not None and same_number(v, it.gold)]
        wrong = [(p, v) for p, v in mine if p and v is not None and not same_number(v, it.gold)]
        counts["programs correct"] += len(right)
        counts["programs incorrect"] += len(wrong)
        counts["programs invalid"] += len(mine) - len(right) - len(wrong)
        if right and wrong:
            counts["kept"] += 1
            opts = ProgramOptions(right[0], wrong[0][0], it.gold, Fraction(wrong[0][1]).limit_denominator(10**6),
                                  "sampled", f"{len(right)} of {len(mine)} samples correct, {len(wrong)} incorrect")
            questions.append(_sampled_question(it, opts, split, model))
        else:
            counts["no correct program" if not right else "no incorrect program"] += 1
    return questions, dict(counts)


def _sampled_question(item: MathItem, opts: ProgramOptions, split: str, model: str) -> Question:
    from tasks.math import program_question

    q = program_question(item.question, opts, item.index, split, source="sample")
    return Question(q.id, q.task, q.question, q.answers, q.correct_index, q.context,
                    {**q.meta, "model": model, "wrong_answer": display_answer(opts.wrong_value)})
