"""Verified quotes: agents cite the article with `<quote>...</quote>`; the harness checks each one.

Khan et al. 2024's method (`verify_strict`): normalise both the quote and the article, then a
substring test. The judge never sees an agent's own tags: every `<quote>` is rewritten by the harness
to `<v_quote>` (found in the article) or `<u_quote>` (not found).

Forgery is ruled out by construction. The *reading view* of a text is how leniently a reader could take
it: HTML entities decoded (repeatedly, so `&amp;lt;` reads as `<`), each character in NFKD form with
format characters (Unicode Cf: zero-width spaces, joiners, BOM) and combining marks dropped, case
folded, look-alikes of the angle brackets (fullwidth `＜`, small `﹤`, `〈`, `⟨`, `‹`, `˂`, `«`, ...)
read as `<` and `>`, and Cyrillic/Greek look-alikes of the letters of `v_quote`/`u_quote` read as
Latin. A *reserved tag* is a `<` in the reading view followed by `v` or `u` and the letters `quote`,
with any non-letters (space, `/`, `-`, `_`, ...) between them, up to an optional `>`: `< / V - quote >`
and an unclosed `<v_quote` both count. Before the harness adds its tags, every span of the agent's
text whose reading view is a reserved tag is deleted, and deletion repeats until the reading view holds
none (a fixed point: each pass shortens the text, so it ends), so nested tags such as
`<v_<v_quote>quote>` cannot reassemble. Its words stay, unquoted. What is left cannot combine with the
harness's tags into another one: a reserved tag starts at a `<` and runs through letters and
separators only, never through another `<`, so one starting in agent text ends before the next harness
tag, and one starting at a harness `<` is exactly that tag. Hence the only reserved tags in a checked
argument are the harness's: one `<v_quote>...</v_quote>` per verified quote, one `<u_quote>...</u_quote>`
per unverified one (`reserved_tags` finds them, as a check).

Normalisation (both sides): Unicode NFKC; curly quotes and primes to straight ones, dashes to `-`;
lower case; every character that is neither a letter nor a digit becomes a space; runs of
whitespace (line breaks included) collapse to one space. The test is on whole words: the normalised
quote must appear in the normalised article between word boundaries. So a quote that differs from the article
only in case, punctuation, quote style or line wrapping verifies; a paraphrase or an invented
sentence does not. An empty quote (nothing left after normalisation) is unverified.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

_QUOTE = re.compile(r"<\s*quote\s*>(.*?)(?:<\s*/\s*quote\s*>|$)", re.DOTALL | re.IGNORECASE)
_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})
_NOT_WORD = re.compile(r"[^\w]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")

# ---------------------------------------------------------------------------------- the reading view

# Characters a reader may take for an angle bracket, after NFKD (which already maps fullwidth and small
# forms to `<`/`>`, and U+2329/U+FE3F to U+3008).
_OPENERS = ("\u2039\u3008\u27e8\u02c2\u1438\u276c\u276e\u2770\u29fc\u300a\u00ab\u226a\u227a\u22d6\u22b2\u25c1"
            "\u27ea\u2989\u2991")
_CLOSERS = ("\u203a\u3009\u27e9\u02c3\u1433\u276d\u276f\u2771\u29fd\u300b\u00bb\u226b\u227b\u22d7\u22b3\u25b7"
            "\u27eb\u298a\u2992")
# Look-alikes (after case folding) of the letters of `v_quote` and `u_quote`: Greek, Cyrillic, Armenian,
# small capitals, and the digit zero.
_LETTERS = {"v": "\u03bd\u0475\u1d20", "u": "\u03c5\u057d\u1d1c\u028b", "q": "\u051b\u0566",
            "o": "0\u043e\u03bf\u0585\u1d0f", "t": "\u03c4\u0442\u1d1b", "e": "\u0435\u04bd\u1d07"}
_READ_AS = str.maketrans({**{c: "<" for c in _OPENERS}, **{c: ">" for c in _CLOSERS},
                          **{c: latin for latin, alikes in _LETTERS.items() for c in alikes}})
_INVISIBLE_CATEGORIES = {"Cf", "Mn", "Me"}
# Blank characters that Unicode files as letters or symbols (Hangul fillers, braille blank).
_INVISIBLE = set("\u115f\u1160\u3164\uffa0\u2800")
# What `html.unescape` decodes, token by token (the pattern of Python's html module).
_ENTITY = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_SEP = r"(?:[^\w<>]|_)"
RESERVED_TAG = re.compile(
    rf"<(?P<lead>{_SEP}*)(?P<kind>[vu]){_SEP}*q{_SEP}*u{_SEP}*o{_SEP}*t{_SEP}*e(?:(?:{_SEP}[^<>]*)?>)?")
"""A reserved tag in the reading view (see the module docstring); a `/` in `lead` makes it a closing tag."""

_Unit = tuple[str, int, int]  # a reading-view character and the span [start, end) of the text it comes from


@functools.lru_cache(maxsize=4096)
def _plain(char: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", char)
                   if unicodedata.category(c) not in _INVISIBLE_CATEGORIES and c not in _INVISIBLE)


@functools.lru_cache(maxsize=4096)
def _read_as(char: str) -> str:
    return char.casefold().translate(_READ_AS)


def _map(units: list[_Unit], read: Callable[[str], str]) -> list[_Unit]:
    return [(c, start, end) for char, start, end in units for c in read(char)]


def _unescape(units: list[_Unit]) -> tuple[list[_Unit], bool]:
    """One layer of HTML entity decoding; each decoded character keeps the span of its whole entity."""
    text = "".join(char for char, _, _ in units)
    out: list[_Unit] = []
    done = 0
    for match in _ENTITY.finditer(text):
        decoded = html.unescape(match[0])
        if decoded == match[0]:
            continue
        out += units[done:match.start()]
        start, end = units[match.start()][1], units[match.end() - 1][2]
        out += [(c, start, end) for c in decoded]
        done = match.end()
    return (out + units[done:], True) if done else (units, False)


def _reading_units(text: str) -> list[_Unit]:
    units = _map([(c, i, i + 1) for i, c in enumerate(text)], _plain)
    changed = True
    # Entities are decoded before case folding (their names are case-sensitive). A `&` that decoding makes
    # (`&amp;`, `&#38;`) covers at least three more characters of `text` than the `&` it came from, so
    # there are fewer layers than characters.
    while changed:
        units, changed = _unescape(units)
        if changed:
            units = _map(units, _plain)
    return _map(units, _read_as)


def reading_view(text: str) -> str:
    """How leniently a reader could take `text` (see the module docstring); used to find reserved tags."""
    return "".join(char for char, _, _ in _reading_units(text))


def reserved_tags(text: str) -> list[tuple[int, int]]:
    """Spans of `text` whose reading view is a reserved tag (`<v_quote>`, `</u_quote>` and disguises)."""
    units = _reading_units(text)
    read = "".join(char for char, _, _ in units)
    return [(units[m.start()][1], units[m.end() - 1][2]) for m in RESERVED_TAG.finditer(read)]


def strip_reserved(text: str) -> str:
    """`text` with every reserved tag deleted, repeated until none is left (a fixed point)."""
    while spans := reserved_tags(text):
        kept, end = [], 0
        for start, stop in sorted(spans):
            kept.append(text[end:max(start, end)])
            end = max(end, stop)
        text = "".join(kept) + text[end:]
    return text


# ---------------------------------------------------------------------------------- verification


def normalise(text: str) -> str:
    """The comparison form of `text` (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).lower()
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


@dataclass(frozen=True, slots=True)
class QuoteCheck:
    """An argument as the judge sees it, with its quote counts."""

    text: str
    quotes: int
    verified: int

    @property
    def verified_share(self) -> float | None:
        return self.verified / self.quotes if self.quotes else None


class QuoteVerifier:
    """Checks quotes against one article (normalised once, reused for every turn of the episode)."""

    def __init__(self, article: str) -> None:
        self.article = f" {normalise(article)} "

    def is_verified(self, quote: str) -> bool:
        needle = normalise(quote)
        return bool(needle) and f" {needle} " in self.article

    def check(self, argument: str) -> QuoteCheck:
        """Delete agent-written reserved tags (to a fixed point), then rewrite each `<quote>` as verified or not."""
        text = strip_reserved(argument)
        counts = [0, 0]

        def rewrite(match: re.Match[str]) -> str:
            body = match.group(1)
            ok = self.is_verified(body)
            counts[0] += 1
            counts[1] += ok
            tag = "v_quote" if ok else "u_quote"
            return f"<{tag}>{body.strip()}</{tag}>"

        text = _QUOTE.sub(rewrite, text)
        return QuoteCheck(text=text, quotes=counts[0], verified=counts[1])
