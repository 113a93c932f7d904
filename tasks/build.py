"""`oversight tasks build`: build a task's binary set with code execution, verify it, write it to a file.

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
  first correct and the first incorrect program in sample order (the study: 32 samples).
- `code`, `code-mbpp` (`--source mutate` only): canonical solution vs. first failing mutant, both run
  against the tests (`tasks/code.py`).

`--limit N --seed S` build from a seeded sample of N problems, the sample `oversight run --limit N
--seed S` draws from the same data (for `math --source sample`: the sample of `math-prose`, since
every GSM8K problem can be sampled from); fewer than N items come out when some yield no verified pair. Only verified items are
written, atomically (a temp file renamed into place): an interrupted build leaves no file.
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
from oversight.models.base import Backend
from oversight.types import Question, Request, Sampling
from tasks.base import get_task, resolve_data_file, sample_indices
from tasks.built import write_built
from tasks.gsm8k_programs import ProgramOptions, printed_answer, program_runner, same_number
from tasks.gsm8k_steps import _display
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


def build_task(task: str, *, out: str | Path, source: Source = "mutate", limit: int | None = None, seed: int = 0,
               data: str | None = None, split: str = "test", model: str | None = None, samples: int = 32,
               max_tokens: int = 320, temperature: float = 0.8, backend: str = "auto",
               progress: Callable[[str], None] | None = None, agent: Backend | None = None) -> BuildReport:
    """Build, verify and write the binary set of `task` (see the module docstring).

    `agent`: an already-loaded backend for `--source sample` (else `model` is loaded, and closed after).
    """
    if task not in BUILDABLE:
        raise ConfigError(f"`tasks build` builds {', '.join(BUILDABLE)}; {task!r} loads without building")
    if source not in BUILDABLE[task]:
        raise ConfigError(f"task {task!r} builds with --source {' or '.join(BUILDABLE[task])}, not {source!r}")
    if source == "sample" and not model and agent is None:
        raise ConfigError("--source sample needs --model SPEC, the agent that writes the programs "
                          "(e.g. embedded:qwen2.5-coder-0.5b)")
    if samples < 1 or (limit is not None and limit < 1):
        raise ConfigError(f"--samples and --limit must be >= 1, got {samples} and {limit}")
    require_code_execution(f"oversight tasks build {task}")
    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    impl = get_task(task)
    path = resolve_data_file(impl.info.folder, impl.info.files[split], data)
    if task == "math":
        items = _math_items(impl, path, split, limit, seed, derive=source == "mutate")
        say(f"{len(items)} problems")
        if source == "mutate":
            questions, counts = _verify_math(items, split)
        else:
            questions, counts = _sample_math(items, split, model or (agent.model if agent else ""), samples,
                                             max_tokens, temperature, seed, backend, say, agent)
    else:
        from tasks.code import pair_question, verify_all

        problems = impl.problems(path, split, limit, seed)  # type: ignore[attr-defined]
        items = problems
        say(f"{len(problems)} problems")
        pairs = verify_all(problems)
        questions = [pair_question(p, task, i) for i, p in enumerate(pairs)]
        counts = {"verified": len(pairs), "no verified pair": len(problems) - len(pairs)}
    written = write_built(out, questions)
    return BuildReport(task, source, Path(out), len(items), written, time.perf_counter() - start, counts)


# --------------------------------------------------------------------------- math: derived programs


@dataclass(frozen=True)
class _MathItem:
    index: int
    question: str
    gold: Fraction
    programs: ProgramOptions | None


def _math_items(impl: object, path: Path | None, split: str, limit: int | None, seed: int,
               derive: bool) -> list[_MathItem]:
    """The sampled GSM8K problems; `derive`: only those with derived programs, which they carry."""
    from tasks.base import load_records
    from tasks.gsm8k_steps import split_gold
    from tasks.math import derived_programs, gsm8k_records

    records = gsm8k_records(load_records(impl.info, path, split))  # type: ignore[attr-defined]
    every = [_MathItem(r.index, r.data["question"].strip(), Fraction(split_gold(r.data["answer"])[1].replace(",", "")),
                       derived_programs(r, split) if derive else None) for r in records]
    if derive:  # sample among the problems with programs, as `oversight run --task math` does
        every = [it for it in every if it.programs is not None]
    return [every[i] for i in sample_indices(len(every), limit, seed)]


def _run_program(program: str) -> float | None:
    result = run_python(program_runner(program), timeout_s=PROGRAM_TIMEOUT_S, max_output_bytes=4000)
    return printed_answer(result.stdout) if result.ok else None


def _verify_math(items: Sequence[_MathItem], split: str) -> tuple[list[Question], dict[str, int]]:
    from tasks.math import program_question

    def verify(item: _MathItem) -> str:
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


def _sample_math(items: Sequence[_MathItem], split: str, model: str, samples: int, max_tokens: int,
                 temperature: float, seed: int, backend: str, say: Callable[[str], None],
                 agent: Backend | None) -> tuple[list[Question], dict[str, int]]:
    from oversight.models import load_backend, parse_model_spec
    from oversight.prompts import render

    owned = agent is None
    if agent is None:
        spec = parse_model_spec(model, backend)
        say(f"loading {spec} ...")
        agent = load_backend(spec)
    try:
        requests = [Request(role="agent", messages=render("tasks/math_program", question=it.question),
                            sampling=Sampling(max_tokens=max_tokens, temperature=temperature,
                                              seed=seed * 100_003 + it.index * samples + k))
                    for it in items for k in range(samples)]
        say(f"sampling {len(requests)} programs ...")
        replies = agent.generate(requests)
    finally:
        if owned:
            agent.close()
    programs = [extract_program(r.text) for r in replies]
    with ThreadPoolExecutor() as pool:
        values = list(pool.map(lambda p: _run_program(p) if p else None, programs))
    questions: list[Question] = []
    counts: Counter[str] = Counter()
    for n, it in enumerate(items):
        mine = list(zip(programs[n * samples:(n + 1) * samples], values[n * samples:(n + 1) * samples], strict=True))
        right = [p for p, v in mine if p and v is not None and same_number(v, it.gold)]
        wrong = [(p, v) for p, v in mine if p and v is not None and not same_number(v, it.gold)]
        counts["programs correct"] += len(right)
        counts["programs incorrect"] += len(wrong)
        counts["programs invalid"] += samples - len(right) - len(wrong)
        if right and wrong:
            counts["kept"] += 1
            opts = ProgramOptions(right[0], wrong[0][0], it.gold, Fraction(wrong[0][1]).limit_denominator(10**6),
                                  "sampled", f"{len(right)} of {samples} samples correct, {len(wrong)} incorrect")
            q = _sampled_question(it, opts, split, model)
            questions.append(q)
        else:
            counts["no correct program" if not right else "no incorrect program"] += 1
    return questions, dict(counts)


def _sampled_question(item: _MathItem, opts: ProgramOptions, split: str, model: str) -> Question:
    from tasks.math import program_question

    q = program_question(item.question, opts, item.index, split, source="sample")
    return Question(q.id, q.task, q.question, q.answers, q.correct_index, q.context,
                    {**q.meta, "model": model, "wrong_answer": _display(opts.wrong_value)})
