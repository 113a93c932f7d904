"""A GSM8K worked solution as a short Python program, and the same program with the mistake (task `math`).

`program_options(question, answer, key)` turns the gold solution's calculation steps
(`tasks.gsm8k_steps`) into one assignment each, `step_N = <expression>`, then `answer = step_K` (the
latest step whose result is the gold answer). An operand equal to an earlier step's result refers to
that step's variable (the latest such step), so the program is the solution's data flow. Each prose
line with a step precedes its assignments as a comment. A step whose written result is rounded
becomes `round(<expression>, decimals)`; a step whose expression does not give its written result
holds that number as a literal.

The incorrect program is the same program with the mistake `tasks.gsm8k_mistake` chooses for the
worked-solution variant (`math-prose`) applied to its step: the operator swapped, or the operand
shifted (`(step_2 + 1)` when the operand is a variable). Later steps need no rewriting, since they
refer to variables: running the program carries the mistake to the answer. The comments come from
the wrong worked solution, so comments and code agree.

The values of both programs are computed here exactly (`fractions.Fraction`, nothing executed), the
same data flow the mistake machinery simulates; `tasks build math` and the tests check by running
both programs in the sandbox that they print these values. `None` when no calculation step computes
the gold answer (the worked-solution fallback cases): such items have no program variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from tasks.arith import ParseError, evaluate
from tasks.gsm8k_mistake import Perturbation, _Step, find_mistake
from tasks.gsm8k_steps import display_answer, strip_annotations

ANSWER_MARK = "__answer__"
"""The line `program_runner` adds prints: `__answer__ <float(answer)>`."""


@dataclass(frozen=True)
class ProgramOptions:
    correct: str
    wrong: str
    gold: Fraction
    wrong_value: Fraction
    method: str
    """`operator_swap` or `operand_shift`."""
    detail: str


def _literal(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text if Fraction(text) == value else f"({value.numerator} / {value.denominator})"


def _decimals(step: _Step) -> int:
    return len(step.old_text.split(".")[1]) if "." in step.old_text else 0


def _program(steps: list[_Step], lines: list[str], gold: Fraction,
             mistake: tuple[int, Perturbation] | None) -> tuple[str, Fraction] | None:
    """(program text, its exact value); None when a step fails to evaluate or none gives `gold`."""
    out: list[str] = []
    values: list[Fraction] = []
    owner: dict[Fraction, int] = {}  # written value -> latest step producing it
    commented: set[int] = set()
    for j, step in enumerate(steps):
        if step.line not in commented and lines[step.line].strip():
            commented.add(step.line)
            out.append(f"# {lines[step.line].strip()}")
        if not step.expr:
            code, value = _literal(step.old), step.old
        else:
            parts: list[str] = []
            exact: list[Fraction | str] = []
            for i, tok in enumerate(step.expr):
                if isinstance(tok, str):
                    sym = tok
                    if mistake and mistake[0] == j and mistake[1].index == i:
                        sym = {"+": "-", "-": "+", "*": "/", "/": "*"}[tok]
                    parts.append(sym if sym in "()" else f" {sym} " if _is_binary(step.expr, i) else sym)
                    exact.append(sym)
                    continue
                ref = owner.get(tok)
                text, value = (f"step_{ref + 1}", values[ref]) if ref is not None else (_literal(tok), tok)
                if mistake and mistake[0] == j and mistake[1].index == i:
                    delta = mistake[1].delta
                    sign = "+" if delta > 0 else "-"
                    text = f"({text} {sign} {_literal(abs(delta))})" if ref is not None else _literal(value + delta)
                    value = value + delta
                parts.append(text)
                exact.append(value)
            try:
                value = evaluate(exact)
            except ParseError:
                return None
            code = "".join(parts)
            if not step.exact:
                value = round(value, _decimals(step))
                code = f"round({code}, {_decimals(step)})"
        out.append(f"step_{j + 1} = {code}")
        values.append(value)
        owner[step.old] = j
    final = owner.get(gold)
    if final is None:
        return None
    out.append(f"answer = step_{final + 1}")
    return "\n".join(out) + "\n", values[final]


def _is_binary(expr: list[Fraction | str], i: int) -> bool:
    return i > 0 and (isinstance(expr[i - 1], Fraction) or expr[i - 1] == ")")


def program_options(question: str, answer: str, key: str) -> ProgramOptions | None:
    """The correct and the incorrect program of a GSM8K item, with their exact values; None: no program."""
    m = find_mistake(question, answer, key)
    if m.outcome is None:
        return None
    target, p = m.outcome.target, m.outcome.perturbation
    correct = _program(m.steps, strip_annotations(m.body).split("\n"), m.gold, None)
    wrong = _program(m.steps, strip_annotations(m.wrong_prose).split("\n"), m.gold, (target, p))
    if correct is None or wrong is None or correct[1] != m.gold or wrong[1] == m.gold:
        return None
    return ProgramOptions(correct[0], wrong[0], m.gold, wrong[1], p.kind,
                          f"step {target + 1}: {p.kind.replace('_', ' ')}; answer {display_answer(m.gold)} -> "
                          f"{display_answer(wrong[1])}")


def program_runner(program: str) -> str:
    """`program` followed by a line printing its `answer` as a float, for running in the sandbox."""
    return f"{program}\n\nprint({ANSWER_MARK!r}, float(answer))\n"


def printed_answer(stdout: str) -> float | None:
    """The value `program_runner`'s last line printed, or None when it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(ANSWER_MARK + " "):
            try:
                return float(line.split(" ", 1)[1])
            except ValueError:
                return None
    return None


def same_number(value: float, exact: Fraction) -> bool:
    """Whether a float the program printed is the exact value (up to float rounding)."""
    return abs(value - float(exact)) <= 1e-6 * max(1.0, abs(float(exact)))
