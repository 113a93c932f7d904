"""The deliberate mistake in a GSM8K worked solution, carried through to a wrong final answer.

`worked_solution_options` gives the correct and the incorrect worked solution of one item: it
perturbs one calculation step (`perturbations`: operator swap or operand shift), recomputes every
later step that uses a changed value (`_simulate`), keeps the first candidate passing every strict
check in `CHECKS` (else the best relaxed one, else `_fallback`), and writes the changes into the
prose (`_render`). The construction is documented in the `tasks.math` docstring; reading the
solution (tokens, steps, where the prose shows them) is `tasks.gsm8k_steps`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from tasks.arith import ParseError, binary_ops, evaluate, safe_eval
from tasks.gsm8k_steps import (
    _PROSE,
    _fmt,
    _num_value,
    _parse_steps,
    _Step,
    _Tok,
    _tokenize_solution,
    display_answer,
    split_gold,
    strip_annotations,
)

_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*"}
_SWAP_SHOWN = {"+": "-", "-": "+", "\u2212": "+", "\u2013": "+", "*": "/", "x": "/", "X": "/",
               "\u00d7": "\u00f7", "/": "*", "\u00f7": "\u00d7"}


def _expr_str(tokens: Sequence[Fraction | str]) -> str:
    return "".join(_fmt(t) if isinstance(t, Fraction) else t for t in tokens)


@dataclass(frozen=True)
class Perturbation:
    kind: str
    """`operator_swap` or `operand_shift`."""
    index: int
    """Index into the step's expression tokens (the operator, or the operand)."""
    delta: Fraction = Fraction(0)
    """For `operand_shift`: what is added to the operand."""


def shift_unit(value: Fraction) -> Fraction:
    """The "one" of an operand shift: 1 for integers below 100, else one unit of the leading digit
    (80,000 -> 10,000; 1.5 -> 1; 0.25 -> 0.1)."""
    if value.denominator == 1 and value < 100:
        return Fraction(1)
    unit = Fraction(1)
    while unit * 10 <= value:
        unit *= 10
    while unit > value:
        unit /= 10
    return unit


def perturbations(expr: Sequence[Fraction | str]) -> list[Perturbation]:
    """The ranked perturbations of one expression: operator swaps (last operator first), then
    operand shifts up by one unit (last operand first), then down by one unit (result stays > 0)."""
    out = [Perturbation("operator_swap", i) for i in reversed(binary_ops(expr)) if expr[i] in _SWAP]
    operands = [i for i, t in enumerate(expr) if isinstance(t, Fraction) and t > 0]
    out += [Perturbation("operand_shift", i, shift_unit(expr[i])) for i in reversed(operands)]  # type: ignore[arg-type]
    out += [Perturbation("operand_shift", i, -shift_unit(expr[i]))  # type: ignore[arg-type]
            for i in reversed(operands) if expr[i] > shift_unit(expr[i])]  # type: ignore[arg-type,operator]
    return out


def _apply(expr: list[Fraction | str], p: Perturbation) -> list[Fraction | str]:
    out = list(expr)
    if p.kind == "operator_swap":
        out[p.index] = _SWAP[str(out[p.index])]
    else:
        value = out[p.index]
        assert isinstance(value, Fraction)
        out[p.index] = value + p.delta
    return out


@dataclass
class _Outcome:
    target: int
    perturbation: Perturbation
    wrong: Fraction
    new_expr: dict[int, list[Fraction | str]] = field(default_factory=dict)
    """Step index -> its expression after substitution (only steps that changed)."""
    new_value: dict[int, Fraction] = field(default_factory=dict)
    line_maps: list[tuple[int, dict[Fraction, Fraction]]] = field(default_factory=list)
    """(line, old value -> new value in force after that line's steps), by increasing line."""
    used: set[Fraction] = field(default_factory=set)
    """Changed old values that a later step used as an operand."""


def _round_like(value: Fraction, step: _Step) -> Fraction:
    if step.exact:
        return value
    decimals = len(step.old_text.split(".")[1]) if "." in step.old_text else 0
    return round(value, decimals)


def _simulate(steps: list[_Step], target: int, p: Perturbation, gold: Fraction) -> _Outcome | None:
    """Apply `p` to step `target` and carry the change through; None if it never reaches `gold`."""
    mapping: dict[Fraction, Fraction] = {}
    out = _Outcome(target, p, gold)
    for j, step in enumerate(steps):
        if not step.expr:  # opaque (expression does not match its result): holds a value only
            mapping.pop(step.old, None)
            _snapshot(out, step.line, mapping)
            continue
        expr = step.expr
        changed = False
        if mapping:
            expr = []
            for t in step.expr:
                if t.__class__ is Fraction and t in mapping:
                    out.used.add(t)  # type: ignore[arg-type]
                    expr.append(mapping[t])  # type: ignore[index]
                    changed = True
                else:
                    expr.append(t)
        if j == target:
            expr = _apply(expr, p)
            changed = True
        if not changed:
            mapping.pop(step.old, None)
        else:
            try:
                value = _round_like(evaluate(expr), step)
            except ParseError:
                return None
            out.new_expr[j] = expr
            out.new_value[j] = value
            if value == step.old:
                mapping.pop(step.old, None)
            else:
                mapping[step.old] = value
        _snapshot(out, step.line, mapping)
    if gold not in mapping:
        return None
    out.wrong = mapping[gold]
    return out


def _snapshot(out: _Outcome, line: int, mapping: dict[Fraction, Fraction]) -> None:
    if out.line_maps and out.line_maps[-1][0] == line:
        out.line_maps[-1] = (line, dict(mapping))
    elif mapping or out.line_maps:
        out.line_maps.append((line, dict(mapping)))


def _line_map(o: _Outcome, line: int) -> dict[Fraction, Fraction]:
    current: dict[Fraction, Fraction] = {}
    for ln, mapping in o.line_maps:
        if ln > line:
            break
        current = mapping
    return current


def _prose_changes(toks: list[_Tok], steps: list[_Step],
                   o: _Outcome) -> tuple[dict[int, Fraction], set[Fraction]]:
    """(token index -> new value for every prose number that changes, old values changed by the
    plain "later mention" rule rather than as a step's operand or result)."""
    fixed: dict[int, Fraction] = {}
    for j, step in enumerate(steps):
        expr = o.new_expr.get(j)
        if step.operand_toks is not None:
            numbers = [t for t in (expr or step.expr) if isinstance(t, Fraction)]
            fixed.update(zip(step.operand_toks, numbers, strict=True))
        if step.result_tok is not None:
            fixed[step.result_tok] = o.new_value.get(j, step.old)
    changes: dict[int, Fraction] = {}
    mentioned: set[Fraction] = set()
    first_line = steps[o.target].line
    for i, tok in enumerate(toks):
        if tok.kind != "num" or tok.line < first_line:
            continue
        assert tok.value is not None
        if i in fixed:
            new = fixed[i]
        else:
            new = _line_map(o, tok.line).get(tok.value, tok.value)
            if new != tok.value:
                mentioned.add(tok.value)
        if new != tok.value:
            changes[i] = new
    return changes, mentioned


CHECKS = ("answer", "clean", "shown", "propagated_shown", "magnitude", "unambiguous")
"""The strict checks (see the `tasks.math` docstring), most important first."""


def _failed_checks(toks: list[_Tok], steps: list[_Step], o: _Outcome, question_numbers: set[Fraction],
                   first_only: bool) -> list[str]:
    failed: list[str] = []

    def fail(name: str) -> bool:
        failed.append(name)
        return first_only

    if (o.wrong < 0 or o.wrong.denominator != 1) and fail("answer"):
        return failed
    if any(not _clean(v, steps[j].old) for j, v in o.new_value.items()) and fail("clean"):
        return failed
    if not steps[o.target].shown and fail("shown"):
        return failed
    if any(not steps[j].shown for j in o.new_value if j != o.target) and fail("propagated_shown"):
        return failed
    if any(not _within(v, steps[j].old) for j, v in o.new_value.items()) and fail("magnitude"):
        return failed
    if o.used & question_numbers or _prose_changes(toks, steps, o)[1] & question_numbers:
        fail("unambiguous")
    return failed


def _clean(value: Fraction, old: Fraction) -> bool:
    if value < 0 <= old:
        return False
    return value.denominator == 1 if old.denominator == 1 else (value * 100).denominator == 1


def _within(value: Fraction, old: Fraction) -> bool:
    if old == 0:
        return abs(value) <= 10
    ratio = value / old
    return Fraction(1, 10) <= ratio <= 10


def _render(toks: list[_Tok], steps: list[_Step], o: _Outcome) -> str:
    """The solution text (annotations removed) with the outcome's changes written into the prose."""
    changes, _ = _prose_changes(toks, steps, o)
    target = steps[o.target]
    swap_at: tuple[int, int] | None = None
    if o.perturbation.kind == "operator_swap" and target.op_at is not None:
        swap_at = target.op_at[binary_ops(target.expr).index(o.perturbation.index)]
    parts: list[str] = []
    for i, tok in enumerate(toks):
        if tok.kind == "ann":
            continue
        if tok.kind == "text":
            if swap_at is not None and swap_at[0] == i:
                at = swap_at[1]
                parts.append(tok.text[:at] + _SWAP_SHOWN[tok.text[at]] + tok.text[at + 1:])
            else:
                parts.append(tok.text)
        else:
            parts.append(_fmt(changes[i], tok.text) if i in changes else tok.text)
    return "".join(parts)


def _describe(step: _Step, expr: list[Fraction | str], value: Fraction) -> str:
    return f"{_expr_str(step.expr)}={_fmt(step.old)} -> {_expr_str(expr)}={_fmt(value)}"


@dataclass(frozen=True)
class WorkedOptions:
    """The two worked solutions of one GSM8K item and how the wrong one was made."""

    correct: str
    wrong: str
    gold_answer: str
    wrong_answer: str
    method: str
    """`operator_swap`, `operand_shift` or `fallback_double`."""
    checks: str
    """`strict` (every check in CHECKS passed), `relaxed` or `fallback`."""
    failed_checks: tuple[str, ...]
    step: int | None
    detail: str

@dataclass(frozen=True)
class Mistake:
    """One GSM8K item read and its deliberate mistake chosen (None: no step reaches the answer)."""

    body: str
    """The worked solution without its `#### N` line, annotations still in."""
    final_text: str
    gold: Fraction
    toks: list[_Tok]
    steps: list[_Step]
    outcome: _Outcome | None
    failed: tuple[str, ...]
    """The strict checks the chosen mistake fails (empty: it passes them all)."""

    @property
    def wrong_prose(self) -> str:
        """The solution text with the mistake carried through (annotations removed); needs an outcome."""
        assert self.outcome is not None
        return _render(self.toks, self.steps, self.outcome)


def find_mistake(question: str, answer: str, key: str) -> Mistake:
    """Read a GSM8K item and choose its mistake (see the `tasks.math` docstring).

    `key` (the question id) only chooses where the mistake goes. Raises ValueError when the answer
    has no final `####` line or a non-numeric final answer.
    """
    body, final_text = split_gold(answer)
    gold = safe_eval(final_text.replace(",", ""))
    if gold is None:
        raise ValueError(f"final answer {final_text!r} is not a number")
    toks = _tokenize_solution(body)
    steps = _parse_steps(toks)
    question_numbers = {_num_value(m.group("num")) for m in _PROSE.finditer(question) if m.group("num")}
    o, failed = _choose(toks, steps, gold, key, question_numbers)
    return Mistake(body, final_text, gold, toks, steps, o, tuple(failed))


def worked_solution_options(question: str, answer: str, key: str) -> WorkedOptions:
    """The correct and one deterministic incorrect worked solution for a GSM8K item.

    `key` (the question id) only chooses where the mistake goes (see the `tasks.math` docstring).
    Raises ValueError when the answer has no final `####` line or a non-numeric final answer.
    """
    m = find_mistake(question, answer, key)
    body, final_text, gold, toks, steps, o, failed = m.body, m.final_text, m.gold, m.toks, m.steps, m.outcome, m.failed
    correct = f"{strip_annotations(body).rstrip()}\nThe answer is {final_text}."
    if o is None:
        return _fallback(body, final_text, gold, correct)
    text = f"{_render(toks, steps, o).rstrip()}\nThe answer is {_fmt(o.wrong, final_text)}."
    return WorkedOptions(correct, text, display_answer(gold), display_answer(o.wrong), o.perturbation.kind,
                         "relaxed" if failed else "strict", tuple(failed), o.target,
                         f"step {o.target + 1}: "
                         f"{_describe(steps[o.target], o.new_expr[o.target], o.new_value[o.target])}")


def _choose(toks: list[_Tok], steps: list[_Step], gold: Fraction, key: str,
            question_numbers: set[Fraction]) -> tuple[_Outcome | None, list[str]]:
    """(the outcome to use, the checks it fails: none when it passes every strict one); None when
    no perturbation reaches a different final answer. Steps are tried in a rotation from crc32(key),
    each with its perturbations in rank order; the first strict candidate wins."""
    candidates = [j for j, s in enumerate(steps) if s.expr and binary_ops(s.expr)]
    if candidates:
        start = zlib.crc32(key.encode("utf-8")) % len(candidates)
        candidates = candidates[start:] + candidates[:start]
    chosen: _Outcome | None = None
    others: list[_Outcome] = []
    for j in candidates:
        for p in perturbations(steps[j].expr):
            o = _simulate(steps, j, p, gold)
            if o is None or o.wrong == gold or display_answer(o.wrong) == display_answer(gold):
                continue
            if not _failed_checks(toks, steps, o, question_numbers, first_only=True):
                chosen = o
                break
            others.append(o)
        if chosen:
            break
    failed: list[str] = []
    if chosen is None and others:
        # the best relaxed candidate: fewest failed checks, heavier checks first; ties by rank order
        def weight(o: _Outcome) -> tuple[int, ...]:
            f = _failed_checks(toks, steps, o, question_numbers, first_only=False)
            return tuple(int(c in f) for c in CHECKS)

        chosen = min(others, key=lambda o: (sum(weight(o)), weight(o)))
        failed = _failed_checks(toks, steps, chosen, question_numbers, first_only=False)
    return chosen, failed


def _fallback(body: str, final_text: str, gold: Fraction, correct: str) -> WorkedOptions:
    wrong = gold * 2 if gold != 0 else Fraction(1)
    lines = strip_annotations(body).rstrip().split("\n")
    for li in range(len(lines) - 1, -1, -1):
        nums = [m for m in _PROSE.finditer(lines[li])
                if m.group("num") and _num_value(m.group("num")) == gold]
        if nums:
            line = lines[li]
            for m in reversed(nums):
                line = line[:m.start()] + _fmt(wrong, m.group("num")) + line[m.end():]
            lines[li] = line
            break
    wrong_text = _fmt(wrong, final_text)
    text = "\n".join(lines) + f"\nThe answer is {wrong_text}."
    return WorkedOptions(correct, text, display_answer(gold), display_answer(wrong), "fallback_double", "fallback", (),
                         None,
                         f"no calculation step reaches the answer: {display_answer(gold)} doubled")
