"""GSM8K as a binary choice between two worked solutions (task `math`, family `closed`).

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

The reference study (GSM8KQA) used Python programs executed in a sandbox as the two options;
`worked_solution_options` is the worked-solution construction on its own, so a program-based
variant can sit beside it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.registry import register
from oversight.types import Question
from tasks.base import Record, Task, TaskInfo, load_records, require_str_fields

# ----------------------------------------------------------------------------- arithmetic

_EXPR_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|(\*\*|[-+*/()]))")
_MAX_EXPONENT = 64


class _ParseError(ValueError):
    pass


def tokenize_expr(text: str) -> list[Fraction | str]:
    """Numbers (as exact Fractions) and the symbols + - * / ** ( ); anything else -> _ParseError."""
    out: list[Fraction | str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if not m:
            raise _ParseError(f"unexpected {text[pos:pos + 10]!r}")
        out.append(Fraction(m.group(1)) if m.group(1) is not None else m.group(2))
        pos = m.end()
    if not out:
        raise _ParseError("empty expression")
    return out


def evaluate(tokens: Sequence[Fraction | str]) -> Fraction:
    """Exact value of an arithmetic token list. Division by zero, huge powers, junk -> _ParseError."""
    pos = 0
    n = len(tokens)

    def op() -> str | None:  # the next token when it is a symbol (never compares a Fraction to a str)
        if pos < n:
            tok = tokens[pos]
            if tok.__class__ is str:
                return tok  # type: ignore[return-value]
        return None

    def take() -> Fraction | str:
        nonlocal pos
        if pos >= n:
            raise _ParseError("unexpected end")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Fraction:
        value = term()
        while op() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    def term() -> Fraction:
        value = unary()
        while op() in ("*", "/"):
            sym = take()
            rhs = unary()
            if sym == "*":
                value = value * rhs
            elif rhs == 0:
                raise _ParseError("division by zero")
            else:
                value = value / rhs
        return value

    def unary() -> Fraction:
        if op() in ("-", "+"):
            return -unary() if take() == "-" else unary()
        return power()

    def power() -> Fraction:
        base = atom()
        if op() == "**":
            take()
            exp = unary()
            if exp.denominator != 1 or abs(exp) > _MAX_EXPONENT or (base == 0 and exp < 0):
                raise _ParseError("unsupported power")
            return base ** int(exp)
        return base

    def atom() -> Fraction:
        tok = take()
        if tok.__class__ is Fraction:
            return tok  # type: ignore[return-value]
        if tok == "(":
            value = expr()
            if pos >= n or take() != ")":
                raise _ParseError("missing )")
            return value
        raise _ParseError(f"unexpected {tok!r}")

    result = expr()
    if pos != n:
        raise _ParseError("trailing tokens")
    return result


def safe_eval(text: str) -> Fraction | None:
    """Exact value of an arithmetic string, or None when it is not plain arithmetic."""
    try:
        return evaluate(tokenize_expr(text))
    except _ParseError:
        return None


def _binary_ops(tokens: Sequence[Fraction | str]) -> list[int]:
    """Indices of the binary operators (an operator right after a number or `)`)."""
    return [i for i, t in enumerate(tokens)
            if isinstance(t, str) and t in ("+", "-", "*", "/", "**") and i > 0
            and (isinstance(tokens[i - 1], Fraction) or tokens[i - 1] == ")")]


def _expr_str(tokens: Sequence[Fraction | str]) -> str:
    return "".join(_fmt(t) if isinstance(t, Fraction) else t for t in tokens)


# ----------------------------------------------------------------------------- number text

_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_PROSE = re.compile(r"<<(?P<ann>[^<>]*)>>|(?<![\w.])(?P<num>" + _NUM + r")(?![\d])")
_UNIT = r"[A-Za-z%$/\u2019'][A-Za-z%$/\u2019' \t]{0,40}?"
"""Unit words that may follow a number in a written-out expression (`20 sheep + 160 sheep`)."""
_EQ_TEXT = re.compile(r"^[ \t)]*(?:" + _UNIT + r")?[ \t]*=[ \t]*\$?[ \t]*$")
_OP_CHARS = {"+": r"\+", "-": "[-\u2212\u2013]", "*": "[*xX\u00d7]", "/": "[/\u00f7]", "**": r"\*\*|\^"}
_OP_TEXT = {  # a bare operator (`+`, ` * $`, `) / (`), or units then a spaced operator (` miles / `)
    op: (re.compile(r"^[\s$%()]*(?P<op>" + chars + r")[\s$%()]*$"),
         re.compile(r"^[ \t]*" + _UNIT + r"[ \t](?P<op>" + chars + r")[ \t]+[$(]*$"))
    for op, chars in _OP_CHARS.items()
}


def _match_op(text: str, op: str) -> int | None:
    """Offset of the operator `op` in separator text, or None when the text is not such a separator."""
    for pattern in _OP_TEXT[op]:
        m = pattern.match(text)
        if m:
            return m.start("op")
    return None


_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*"}
_SWAP_SHOWN = {"+": "-", "-": "+", "\u2212": "+", "\u2013": "+", "*": "/", "x": "/", "X": "/",
               "\u00d7": "\u00f7", "/": "*", "\u00f7": "\u00d7"}


def _num_value(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _fmt(value: Fraction, like: str = "") -> str:
    """`value` as prose, in the style of the number it replaces (`like`): commas, decimals.

    Integers print as integers (`4`), except in place of a 2-decimal amount (`3.50` -> `4.00`);
    other values are rounded to 2 decimals (or as many as `like` has) without trailing zeros.
    """
    decimals = len(like.partition(".")[2]) if "." in like else 0
    if decimals == 2:
        s = f"{round(value, 2).numerator / round(value, 2).denominator:.2f}"
    elif value.denominator == 1:
        s = str(value.numerator)
    else:
        places = max(2, decimals)
        rounded = round(value, places)
        s = f"{rounded.numerator / rounded.denominator:.{places}f}".rstrip("0").rstrip(".")
    if "," in like:
        sign, digits = ("-", s[1:]) if s.startswith("-") else ("", s)
        whole, _, frac = digits.partition(".")
        s = sign + f"{int(whole):,}" + (f".{frac}" if frac else "")
    if like.startswith(".") and s.startswith("0."):
        s = s[1:]
    return s


def _display(value: Fraction) -> str:
    """A final answer as text: integer, or at most 2 decimals; no thousands separators."""
    return _fmt(value)


# ----------------------------------------------------------------------------- solution model


@dataclass
class _Tok:
    kind: str  # "text", "num", "ann"
    text: str
    line: int
    value: Fraction | None = None


@dataclass
class _Step:
    pos: int
    """Token index of the annotation (or, for a prose equation, of its result number)."""
    line: int
    expr: list[Fraction | str]
    """The expression; empty for an opaque step (its expression does not give its written result)."""
    old: Fraction
    """The result as written."""
    old_text: str
    exact: bool
    """Whether the expression evaluates exactly to the written result (else rounded: decimals kept)."""
    operand_toks: list[int] | None = None
    """Token indices of the prose operands, one per number in `expr`, when the prose shows the expression."""
    op_at: list[tuple[int, int]] | None = None
    """(token index, character offset) of each shown binary operator, in expression order."""
    result_tok: int | None = None
    synthetic: bool = False

    @property
    def shown(self) -> bool:
        return self.operand_toks is not None


def _tokenize_solution(body: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    line = 0

    def add_text(s: str) -> None:
        nonlocal line
        if s:
            toks.append(_Tok("text", s, line))
            line += s.count("\n")

    for m in _PROSE.finditer(body):
        add_text(body[pos:m.start()])
        if m.group("ann") is not None:
            toks.append(_Tok("ann", m.group("ann"), line))
        else:
            toks.append(_Tok("num", m.group("num"), line, _num_value(m.group("num"))))
        pos = m.end()
    add_text(body[pos:])
    return toks


def _match_shown(toks: list[_Tok], end: int,
                 expr: list[Fraction | str]) -> tuple[list[int], list[tuple[int, int]]] | None:
    """Prose operand tokens and operator positions of `expr`, whose last operand is token `end`."""
    numbers = [t for t in expr if isinstance(t, Fraction)]
    ops = [str(expr[i]) for i in _binary_ops(expr)]
    if len(ops) != len(numbers) - 1:
        return None
    operand_toks: list[int] = []
    op_at: list[tuple[int, int]] = []
    k = end
    for n in range(len(numbers) - 1, -1, -1):
        if k < 0 or toks[k].kind != "num" or toks[k].value != numbers[n]:
            return None
        operand_toks.append(k)
        if n == 0:
            break
        if k < 2 or toks[k - 1].kind != "text":
            return None
        offset = _match_op(toks[k - 1].text, ops[n - 1])
        if offset is None:
            return None
        op_at.append((k - 1, offset))
        k -= 2
    return operand_toks[::-1], op_at[::-1]


def _show(step: _Step, toks: list[_Tok], end: int) -> None:
    """Record where the prose writes out `step`'s expression (operands in either order for `a+b`, `a*b`)."""
    shown = _match_shown(toks, end, step.expr)
    if shown is None and len(step.expr) == 3 and step.expr[1] in ("+", "*"):
        flipped = [step.expr[2], step.expr[1], step.expr[0]]
        shown = _match_shown(toks, end, flipped)
        if shown is not None:
            step.expr = flipped  # the same value; now in the order the prose shows
    if shown is not None:
        step.operand_toks, step.op_at = shown


def _consistent(value: Fraction, written: Fraction, written_text: str) -> tuple[bool, bool]:
    """(usable, exact): exact equality, or rounding to the written number of decimals."""
    if value == written:
        return True, True
    decimals = len(written_text.split(".")[1]) if "." in written_text else 0
    if decimals >= 1 and abs(value - written) <= Fraction(1, 2 * 10**decimals):
        return True, False
    return False, False


def _parse_steps(toks: list[_Tok]) -> list[_Step]:
    """Every calculation step, in text order: annotations, then plain-prose equations that check out."""
    steps: list[_Step] = []
    for i, tok in enumerate(toks):
        if tok.kind == "ann":
            lhs, eq, rhs = tok.text.partition("=")
            if not eq or "=" in rhs:
                continue
            try:
                expr = tokenize_expr(lhs)
                value = evaluate(expr)
                written = evaluate(tokenize_expr(rhs))
            except _ParseError:
                continue
            usable, exact = _consistent(value, written, rhs.strip())
            step = _Step(i, tok.line, expr if usable else [], written, rhs.strip(), exact)
            if i + 1 < len(toks) and toks[i + 1].kind == "num" and toks[i + 1].value == written:
                step.result_tok = i + 1
            if step.expr and i >= 2 and toks[i - 1].kind == "text" and _EQ_TEXT.match(toks[i - 1].text):
                _show(step, toks, i - 2)
            steps.append(step)
        elif (tok.kind == "num" and i >= 4 and toks[i - 1].kind == "text" and toks[i - 2].kind == "num"
              and _EQ_TEXT.match(toks[i - 1].text) and not (i + 1 < len(toks) and toks[i + 1].kind == "ann")):
            prose_step = _prose_equation(toks, i)
            if prose_step is not None:
                steps.append(prose_step)
    return steps


def _prose_equation(toks: list[_Tok], res: int) -> _Step | None:
    """A step for an unannotated `a op b ... = c` whose arithmetic checks out exactly."""
    run_nums = [res - 2]  # maximal run of `num (op num)*` ending just before the `=` text
    run_ops: list[str] = []
    k = res - 2
    while k - 2 >= 0 and toks[k - 1].kind == "text" and toks[k - 2].kind == "num":
        sep = toks[k - 1].text
        op = next((o for o in ("+", "-", "*", "/") if _match_op(sep, o) is not None), None)
        if op is None or "(" in sep or ")" in sep:
            break
        run_ops.append(op)
        run_nums.append(k - 2)
        k -= 2
    run_nums.reverse()
    run_ops.reverse()
    written = toks[res].value
    assert written is not None
    for start in range(len(run_nums) - 1):  # longest first, at least two operands
        expr: list[Fraction | str] = []
        for j, t in enumerate(run_nums[start:]):
            if j:
                expr.append(run_ops[start + j - 1])
            value = toks[t].value
            assert value is not None
            expr.append(value)
        try:
            value = evaluate(expr)
        except _ParseError:
            continue
        if value == written:
            step = _Step(res, toks[res].line, expr, written, toks[res].text, True, result_tok=res,
                         synthetic=True)
            _show(step, toks, res - 2)
            return step
    return None


# ----------------------------------------------------------------------------- perturbation


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
    out = [Perturbation("operator_swap", i) for i in reversed(_binary_ops(expr)) if expr[i] in _SWAP]
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
            except _ParseError:
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
"""The strict checks (see the module docstring), most important first."""


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
        swap_at = target.op_at[_binary_ops(target.expr).index(o.perturbation.index)]
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


def split_gold(answer: str) -> tuple[str, str]:
    """(worked solution body, final answer text) of a GSM8K answer; no `####` -> ValueError."""
    body, sep, final = answer.rpartition("####")
    if not sep or not final.strip():
        raise ValueError("no '#### <final answer>' line")
    return body.rstrip(), final.strip()


def strip_annotations(text: str) -> str:
    return re.sub(r"<<[^<>]*>>", "", text)


def worked_solution_options(question: str, answer: str, key: str) -> WorkedOptions:
    """The correct and one deterministic incorrect worked solution for a GSM8K item.

    `key` (the question id) only chooses where the mistake goes (see the module docstring).
    Raises ValueError when the answer has no final `####` line or a non-numeric final answer.
    """
    body, final_text = split_gold(answer)
    gold = safe_eval(final_text.replace(",", ""))
    if gold is None:
        raise ValueError(f"final answer {final_text!r} is not a number")
    correct = f"{strip_annotations(body).rstrip()}\nThe answer is {final_text}."

    toks = _tokenize_solution(body)
    steps = _parse_steps(toks)
    question_numbers = {_num_value(m.group("num")) for m in _PROSE.finditer(question) if m.group("num")}
    candidates = [j for j, s in enumerate(steps) if s.expr and _binary_ops(s.expr)]
    if candidates:
        start = zlib.crc32(key.encode("utf-8")) % len(candidates)
        candidates = candidates[start:] + candidates[:start]
    chosen: _Outcome | None = None
    others: list[_Outcome] = []
    for j in candidates:
        for p in perturbations(steps[j].expr):
            o = _simulate(steps, j, p, gold)
            if o is None or o.wrong == gold or _display(o.wrong) == _display(gold):
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
    if chosen is None:
        return _fallback(body, final_text, gold, correct)
    o = chosen
    text = f"{_render(toks, steps, o).rstrip()}\nThe answer is {_fmt(o.wrong, final_text)}."
    return WorkedOptions(correct, text, _display(gold), _display(o.wrong), o.perturbation.kind,
                         "relaxed" if failed else "strict", tuple(failed), o.target,
                         f"step {o.target + 1}: "
                         f"{_describe(steps[o.target], o.new_expr[o.target], o.new_value[o.target])}")


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
    return WorkedOptions(correct, text, _display(gold), _display(wrong), "fallback_double", "fallback", (),
                         None,
                         f"no calculation step reaches the answer: {_display(gold)} doubled")


# ----------------------------------------------------------------------------- the task

GSM8K_INFO = TaskInfo(
    name="math",
    family="closed",
    description="GSM8K grade-school math: the gold worked solution vs. the same solution with one "
                "calculation step perturbed and carried through",
    hub_id="openai/gsm8k",
    hub_config="main",
    folder="gsm8k",
    files={"test": "test.jsonl", "train": "train.jsonl"},
)


@register("task", "math")
class MathTask(Task):
    """GSM8K as a binary choice between two worked solutions."""

    info = GSM8K_INFO

    def records(self, data: Path | None, split: str) -> list[Record]:
        records = load_records(self.info, data, split)
        for r in records:
            require_str_fields(r, ("question", "answer"))
            if "####" not in r.data["answer"]:
                raise DataError(f"{r.where}: field 'answer' has no '#### <final answer>' line; "
                                "expected a GSM8K worked solution")
        return records

    def build(self, record: Record, split: str) -> Question:
        return build_question(record, split)


def build_question(record: Record, split: str, task: str = "math") -> Question:
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
