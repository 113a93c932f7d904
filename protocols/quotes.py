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

Fuzzy matching (`match="fuzzy"`, `--quote-match fuzzy`): exact matching calls a quote unverified when a
single word differs, a common complaint about Khan et al. 2024's harness. In fuzzy mode a quote that is not
found exactly is compared with every window of the normalised article of the same length in words, scored by
`rapidfuzz.fuzz.ratio` (the normalised Indel similarity of the two strings, 0-100). It verifies when a window
reaches `FUZZY_THRESHOLD` (90) and, compared word for word with it, differs in at most one word in
`FUZZY_WORDS_PER_CHANGE` (10; at least one word may differ), none of them a number (digits or number words) or
a negation (`not`, `never`, `n't`, ...): those change what a sentence claims yet cost a ratio only a few points,
and word for word a dropped, added or moved word shifts the rest of the quote (otherwise a quote that drops a
`not` would match the window just after it). `ratio` rather than `partial_ratio`: the window already is the
alignment, and `partial_ratio` scores the best substring of the longer string, so a quote with an invented word
at one end would score 100 against a window that lacks it; `ratio` charges every inserted, deleted or changed
character in both strings. Quotes of fewer than `FUZZY_MIN_WORDS` (5) words are matched exactly in fuzzy mode
too: a fuzzy 3-word match proves nothing. The judge sees, inside `<v_quote>`, the article's own text behind the
matched window (white space collapsed, reserved tags removed as from agent text), never the agent's altered
words; so every verified span the judge reads is in the article, in either mode.

The threshold trades the two errors. On windows of QuALITY articles with one perturbation each, fuzzy mode
verifies: a one-letter typo, at 5 words or more, nearly always; one word replaced by another word of the article
in 96% of 12-word quotes (the rest swap in a long word with few shared letters), 53-69% of 8-word and 12-25% of
5-word ones (a ratio is a share of characters, so a short quote tolerates less); two replaced words or two
swapped words never below 20 words, 83-97% from 20 on; a dropped or added word at most 18% of the time (only
near the end of the quote); a changed number, an added, dropped or substituted negation, 30% of the words replaced,
the halves of a quote swapped, or a passage of another article never. A ratio alone would pass most of those
number and negation changes (nearly all at 12 words). A one-word change that turns the meaning without a
number or a negation (an antonym) does verify; the judge then reads the article's word, not the agent's.

Every quote's score is recorded: 100 for an exact match; for a fuzzy match, the ratio of the window it
matched; otherwise the best window ratio, in either mode (0 for an empty quote or one longer than the article).
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process

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

QuoteMatch = Literal["strict", "fuzzy"]
FUZZY_THRESHOLD = 90.0
"""Least `fuzz.ratio` (0-100) of an article window for a fuzzy match (see the module docstring)."""
FUZZY_MIN_WORDS = 5
"""Quotes shorter than this (in normalised words) are matched strictly in fuzzy mode too."""
FUZZY_WORDS_PER_CHANGE = 10
"""A fuzzy match may differ from its window in one word per this many words of the quote (at least one)."""
_NEGATIONS = frozenset(
    "not no never nor neither none nothing nobody nowhere cannot without t dont doesnt didnt isnt wasnt arent "
    "werent cant couldnt wont wouldnt shouldnt hasnt havent hadnt mustnt neednt aint".split())
"""Words that flip a claim (`t` is what `n't` leaves after normalisation)."""
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion dozen half twice thrice once first second third fourth fifth sixth seventh eighth ninth tenth".split())


def normalise(text: str) -> str:
    """The comparison form of `text` (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).lower()
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def _critical(word: str) -> bool:
    """A word whose change changes what a sentence claims: a number or a negation."""
    return word in _NEGATIONS or word in _NUMBER_WORDS or any(c.isdigit() for c in word)


def meaning_differences(quote: list[str], window: list[str]) -> list[tuple[str, str]] | None:
    """The word pairs at which a quote and an article window of its length differ, position by position; None
    when the difference is too large or could change what the quote claims: more than one word in
    `FUZZY_WORDS_PER_CHANGE` (at least one may differ), or a number or a negation among them. Word for word, so a
    word dropped, added or moved shifts every word after it and the quote matches no window."""
    pairs = [(q, w) for q, w in zip(quote, window) if q != w]
    if len(pairs) > max(1, len(quote) // FUZZY_WORDS_PER_CHANGE) or any(_critical(q) or _critical(w)
                                                                         for q, w in pairs):
        return None
    return pairs


def _word_spans(text: str) -> list[tuple[int, int]]:
    """The span of `text` behind each word of `normalise(text)`, in order. Normalisation never joins characters
    across white space, so each run of non-space characters is placed on its own: its words are its stretches
    of characters that normalise to letters or digits; where their count differs from the run's word count
    (an accent composed from two characters, a ligature), every word of the run gets the whole run."""
    spans: list[tuple[int, int]] = []
    for run in re.finditer(r"\S+", text):
        count = len(normalise(run[0]).split())
        if not count:
            continue
        inner = _stretches([_is_word_char(char) for char in run[0]])
        if len(inner) == count:
            spans += [(run.start() + a, run.start() + b) for a, b in inner]
        else:
            spans += [run.span()] * count
    return spans


@functools.lru_cache(maxsize=4096)
def _is_word_char(char: str) -> bool:
    return bool(normalise(char))


def _stretches(flags: list[bool]) -> list[tuple[int, int]]:
    """[start, end) of each run of True in `flags`."""
    out, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start, i))
            start = None
    return out


@dataclass(frozen=True, slots=True)
class QuoteResult:
    """One quote checked: verified or not, its match score, and what the judge sees inside the tag."""

    verified: bool
    score: float
    """100 for an exact match; for a fuzzy match, the `fuzz.ratio` of the window it matched; otherwise the best
    ratio of an article window of the quote's length in words (0 for an empty quote or one longer than the
    article)."""
    shown: str


@dataclass(frozen=True, slots=True)
class QuoteCheck:
    """An argument as the judge sees it, with its quote counts and each quote's match score."""

    text: str
    quotes: int
    verified: int
    scores: tuple[float, ...] = ()

    @property
    def verified_share(self) -> float | None:
        return self.verified / self.quotes if self.quotes else None


class QuoteVerifier:
    """Checks quotes against one article (normalised once, reused for every turn of the episode)."""

    def __init__(self, article: str, match: QuoteMatch = "strict") -> None:
        if match not in ("strict", "fuzzy"):
            raise ValueError(f"quote match must be 'strict' or 'fuzzy', got {match!r}")
        self.source = article
        self.match = match
        self.article = f" {normalise(article)} "
        self.words = self.article.split()
        self._windows: dict[int, list[str]] = {}
        self._spans: list[tuple[int, int]] | None = None

    def windows(self, size: int) -> list[str]:
        """Every run of `size` consecutive article words, normalised, as one string each."""
        if size not in self._windows:
            self._windows[size] = [" ".join(self.words[i:i + size]) for i in range(len(self.words) - size + 1)]
        return self._windows[size]

    def match_quote(self, quote: str) -> QuoteResult:
        """Exact (normalised, on word boundaries) first; then, in fuzzy mode and for a quote of at least
        `FUZZY_MIN_WORDS` words, the best-scoring article window of its length that reaches `FUZZY_THRESHOLD`
        and differs from it word for word in few words, none a number or a negation (`meaning_differences`). A
        fuzzy match shows the article's own words, never the quote's."""
        needle = normalise(quote)
        if not needle:
            return QuoteResult(False, 0.0, quote.strip())
        if f" {needle} " in self.article:
            return QuoteResult(True, 100.0, quote.strip())
        words = needle.split(" ")
        windows = self.windows(len(words))
        best = process.extractOne(needle, windows, scorer=fuzz.ratio)
        score = best[1] if best else 0.0
        if self.match == "fuzzy" and len(words) >= FUZZY_MIN_WORDS and score >= FUZZY_THRESHOLD:
            near = process.extract(needle, windows, scorer=fuzz.ratio, limit=None, score_cutoff=FUZZY_THRESHOLD)
            for _, ratio, start in sorted(near, key=lambda hit: (-hit[1], hit[2])):
                if meaning_differences(words, self.words[start:start + len(words)]) is not None:
                    return QuoteResult(True, ratio, self._article_span(start, len(words)))
        return QuoteResult(False, score, quote.strip())

    def _article_span(self, start: int, size: int) -> str:
        """The article's own text behind `size` normalised words from `start` (whitespace collapsed), with any
        reserved tag removed: it goes inside a harness tag."""
        if self._spans is None:
            self._spans = _word_spans(self.source)
        spans = self._spans
        if len(spans) != len(self.words):  # not seen in practice; then the article's normalised words
            return " ".join(self.words[start:start + size])
        text = self.source[spans[start][0]:spans[start + size - 1][1]]
        return strip_reserved(" ".join(text.split()))

    def is_verified(self, quote: str) -> bool:
        return self.match_quote(quote).verified

    def check(self, argument: str) -> QuoteCheck:
        """Delete agent-written reserved tags (to a fixed point), then rewrite each `<quote>` as verified or not."""
        text = strip_reserved(argument)
        results: list[QuoteResult] = []

        def rewrite(match: re.Match[str]) -> str:
            result = self.match_quote(match.group(1))
            results.append(result)
            tag = "v_quote" if result.verified else "u_quote"
            return f"<{tag}>{result.shown}</{tag}>"

        text = _QUOTE.sub(rewrite, text)
        return QuoteCheck(text=text, quotes=len(results), verified=sum(r.verified for r in results),
                          scores=tuple(r.score for r in results))
