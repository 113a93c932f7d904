"""A GSM8K worked solution as text: its numbers, tokens and calculation steps (`tasks/math.py`).

Reading: `split_gold` separates the solution from its `#### N` line; `_tokenize_solution` cuts the
solution into prose text, numbers (`1,200`, `3.50`, `.5`) and calculator annotations
`<<expr=result>>`; `_parse_steps` finds the calculation steps (annotations that check out, and
unannotated prose equations like `10-2=8`) and, for each, whether and where the prose right before it
writes out its expression (operand tokens, operator positions). Writing: `_fmt` prints a number in
the style of the one it replaces. The construction is documented in the `tasks.math` docstring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from tasks.arith import ParseError, binary_ops, evaluate, tokenize_expr

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


def display_answer(value: Fraction) -> str:
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
    ops = [str(expr[i]) for i in binary_ops(expr)]
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
            except ParseError:
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
        except ParseError:
            continue
        if value == written:
            step = _Step(res, toks[res].line, expr, written, toks[res].text, True, result_tok=res,
                         synthetic=True)
            _show(step, toks, res - 2)
            return step
    return None


# ----------------------------------------------------------------------------- gold answer


def split_gold(answer: str) -> tuple[str, str]:
    """(worked solution body, final answer text) of a GSM8K answer; no `####` -> ValueError."""
    body, sep, final = answer.rpartition("####")
    if not sep or not final.strip():
        raise ValueError("no '#### <final answer>' line")
    return body.rstrip(), final.strip()


def strip_annotations(text: str) -> str:
    return re.sub(r"<<[^<>]*>>", "", text)
