"""Small, plausible bugs in a correct Python solution (the wrong option of the `code` tasks).

`mutants(source, start_line)` lists every single-edit variant of `source` that changes only lines from
`start_line` on (the solution, not the given signature and docstring), in a deterministic order. The
edits keep the rest of the text byte for byte (no reformatting), so the two options of a question
differ only where the bug is. Operators, in rank order:

- `comparison`: a boundary or equality flip: `<` <-> `<=`, `>` <-> `>=`, `==` <-> `!=`;
- `constant`: an off-by-one integer literal (ranges, indices, constants): `n` -> `n + 1`, then
  `n` -> `n - 1` (when `n` > 0);
- `arithmetic`: a swapped operator: binary `+` <-> `-`, `+=` <-> `-=`, `//` -> `/`, `*` -> `+`;
- `boolean`: `and` <-> `or`, `True` <-> `False`, `not in` -> `in`;
- `call`: a sibling function or method: `min(` <-> `max(`, `any(` <-> `all(`, `.lower(` <-> `.upper(`,
  `.startswith(` <-> `.endswith(`, `.isupper(` <-> `.islower(`, `set(` -> `list(`;
- `string`: the empty string and a single space swapped (`''.join` -> `' '.join`);
- `dropped_branch`: an `if` statement without `else` deleted from a block that keeps other statements
  (a forgotten edge case).

Each `Mutant` says what changed (`detail`, e.g. `line 3: '<' -> '<='`). Whether a mutant is wrong is
decided by running the tests (`tasks/code.py`); this module never runs code.
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass

OPERATORS = ("comparison", "constant", "arithmetic", "boolean", "call", "string", "dropped_branch")

_COMPARISON = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_ARITHMETIC = {"+": "-", "-": "+", "+=": "-=", "-=": "+=", "//": "/", "*": "+", "%": "//"}
_BOOLEAN = {"and": "or", "or": "and", "True": "False", "False": "True"}
_CALL = {"min": "max", "max": "min", "any": "all", "all": "any", "lower": "upper", "upper": "lower",
         "startswith": "endswith", "endswith": "startswith", "isupper": "islower", "islower": "isupper",
         "set": "list"}
_STRING = {"''": "' '", '""': '" "', "' '": "''", '" "': '""'}
_OPERAND_END = {tokenize.NAME, tokenize.NUMBER, tokenize.STRING}


@dataclass(frozen=True)
class Mutant:
    operator: str
    source: str
    detail: str


def mutants(source: str, start_line: int = 1) -> list[Mutant]:
    """Every single-edit mutant of `source` touching only lines >= `start_line` (1-based), in rank order."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    lines = source.splitlines(keepends=True)
    by_operator: dict[str, list[Mutant]] = {op: [] for op in OPERATORS}
    for i, tok in enumerate(tokens):
        if tok.start[0] < start_line:
            continue
        for operator, new in _token_edits(tokens, i):
            by_operator[operator].append(_replace(lines, tok, new, operator))
    by_operator["dropped_branch"] = list(_dropped_branches(source, lines, start_line))
    return [m for op in OPERATORS for m in by_operator[op] if m.source != source]


def _token_edits(tokens: list[tokenize.TokenInfo], i: int) -> Iterator[tuple[str, str]]:
    tok = tokens[i]
    if tok.type == tokenize.OP:
        if tok.string in _COMPARISON:
            yield "comparison", _COMPARISON[tok.string]
        if tok.string in _ARITHMETIC and _is_binary(tokens, i):
            yield "arithmetic", _ARITHMETIC[tok.string]
    elif tok.type == tokenize.NUMBER and tok.string.isdigit():
        value = int(tok.string)
        yield "constant", str(value + 1)
        if value > 0:
            yield "constant", str(value - 1)
    elif tok.type == tokenize.NAME and tok.string in _BOOLEAN:
        yield "boolean", _BOOLEAN[tok.string]
    elif tok.type == tokenize.NAME and tok.string == "not" and i + 1 < len(tokens) and tokens[i + 1].string == "in":
        yield "boolean", ""
    elif tok.type == tokenize.NAME and tok.string in _CALL and i + 1 < len(tokens) and tokens[i + 1].string == "(":
        yield "call", _CALL[tok.string]
    elif tok.type == tokenize.STRING and tok.string in _STRING:
        yield "string", _STRING[tok.string]


def _is_binary(tokens: list[tokenize.TokenInfo], i: int) -> bool:
    """Whether the operator at `i` has an operand on its left (not unary `-x`, not `*args`)."""
    if tokens[i].string in ("+=", "-="):
        return True
    prev = next((t for t in reversed(tokens[:i]) if t.type not in (tokenize.NL, tokenize.COMMENT)), None)
    if prev is None or (prev.type == tokenize.NAME and keyword.iskeyword(prev.string)
                        and prev.string not in ("True", "False", "None")):
        return False  # `return -x`, `in -x`, `not -x`: unary
    return prev.type in _OPERAND_END or prev.string in (")", "]", "}")


def _replace(lines: list[str], tok: tokenize.TokenInfo, new: str, operator: str) -> Mutant:
    (row, col), (end_row, end_col) = tok.start, tok.end
    assert row == end_row, "operators, names and numbers sit on one line"
    line = lines[row - 1]
    if not new:  # a deleted keyword (`not in` -> `in`) takes its following space along
        end_col += len(line[end_col:]) - len(line[end_col:].lstrip(" "))
    edited = [*lines[:row - 1], line[:col] + new + line[end_col:], *lines[row:]]
    detail = f"line {row}: {tok.string!r} -> {new!r}" if new else f"line {row}: {tok.string!r} removed"
    return Mutant(operator, "".join(edited), detail)


def _dropped_branches(source: str, lines: list[str], start_line: int) -> Iterator[Mutant]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list) or len(block) < 2:
                continue
            for stmt in block:
                if isinstance(stmt, ast.If) and not stmt.orelse and stmt.lineno >= start_line \
                        and stmt.end_lineno is not None and _owns_lines(lines, stmt):
                    kept = lines[:stmt.lineno - 1] + lines[stmt.end_lineno:]
                    yield Mutant("dropped_branch", "".join(kept),
                                 f"lines {stmt.lineno}-{stmt.end_lineno}: `if` statement removed")


def _owns_lines(lines: list[str], stmt: ast.stmt) -> bool:
    """True when the statement alone fills its lines (nothing else before or after it on them)."""
    first = lines[stmt.lineno - 1]
    last = lines[stmt.end_lineno - 1]  # type: ignore[operator]
    after = last[stmt.end_col_offset:].split("#")[0].strip()
    return not first[:stmt.col_offset].strip() and not after
