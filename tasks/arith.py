"""Safe exact arithmetic: a tokenizer and recursive-descent evaluator for plain arithmetic.

Used for GSM8K calculator annotations (`tasks/math.py`). An expression is numbers (`12`, `3.5`,
`.25`), the operators `+ - * / **`, unary signs and parentheses; numbers are exact
`fractions.Fraction`s, so `0.1+0.2` is exactly `3/10`. Nothing is ever `eval`-ed: anything else
(names, calls, junk) is rejected with `ParseError`, as are division by zero and powers with a
non-integer exponent, an exponent above `_MAX_EXPONENT` in size, or a negative power of zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

_EXPR_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|(\*\*|[-+*/()]))")
_MAX_EXPONENT = 64


class ParseError(ValueError):
    """The text is not plain arithmetic, or its value is undefined or too large to compute."""


def tokenize_expr(text: str) -> list[Fraction | str]:
    """Numbers (as exact Fractions) and the symbols + - * / ** ( ); anything else -> ParseError."""
    out: list[Fraction | str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"unexpected {text[pos:pos + 10]!r}")
        out.append(Fraction(m.group(1)) if m.group(1) is not None else m.group(2))
        pos = m.end()
    if not out:
        raise ParseError("empty expression")
    return out


class _Parser:
    """Recursive descent over a token list: expr = term (+|- term)*, term = unary (*|/ unary)*,
    unary = (-|+) unary | power, power = atom (** unary)?, atom = number | ( expr )."""

    __slots__ = ("n", "pos", "tokens")

    def __init__(self, tokens: Sequence[Fraction | str]) -> None:
        self.tokens = tokens
        self.n = len(tokens)
        self.pos = 0

    def op(self) -> str | None:
        """The next token when it is a symbol (never compares a Fraction to a str)."""
        if self.pos < self.n:
            tok = self.tokens[self.pos]
            if tok.__class__ is str:
                return tok  # type: ignore[return-value]
        return None

    def take(self) -> Fraction | str:
        if self.pos >= self.n:
            raise ParseError("unexpected end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expr(self) -> Fraction:
        value = self.term()
        while self.op() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while self.op() in ("*", "/"):
            sym = self.take()
            rhs = self.unary()
            if sym == "*":
                value = value * rhs
            elif rhs == 0:
                raise ParseError("division by zero")
            else:
                value = value / rhs
        return value

    def unary(self) -> Fraction:
        if self.op() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.op() == "**":
            self.take()
            exp = self.unary()
            if exp.denominator != 1 or abs(exp) > _MAX_EXPONENT or (base == 0 and exp < 0):
                raise ParseError("unsupported power")
            return base ** int(exp)
        return base

    def atom(self) -> Fraction:
        tok = self.take()
        if tok.__class__ is Fraction:
            return tok  # type: ignore[return-value]
        if tok == "(":
            value = self.expr()
            if self.pos >= self.n or self.take() != ")":
                raise ParseError("missing )")
            return value
        raise ParseError(f"unexpected {tok!r}")


def evaluate(tokens: Sequence[Fraction | str]) -> Fraction:
    """Exact value of an arithmetic token list. Division by zero, huge powers, junk -> ParseError."""
    parser = _Parser(tokens)
    result = parser.expr()
    if parser.pos != parser.n:
        raise ParseError("trailing tokens")
    return result


def safe_eval(text: str) -> Fraction | None:
    """Exact value of an arithmetic string, or None when it is not plain arithmetic."""
    try:
        return evaluate(tokenize_expr(text))
    except ParseError:
        return None


def binary_ops(tokens: Sequence[Fraction | str]) -> list[int]:
    """Indices of the binary operators (an operator right after a number or `)`)."""
    return [i for i, t in enumerate(tokens)
            if isinstance(t, str) and t in ("+", "-", "*", "/", "**") and i > 0
            and (isinstance(tokens[i - 1], Fraction) or tokens[i - 1] == ")")]
