"""Verified quotes: agents cite the article with `<quote>...</quote>`; the harness checks each one.

Khan et al. 2024's method (`verify_strict`): normalise both the quote and the article, then a
substring test. The judge never sees an agent's own tags: every `<quote>` is rewritten by the harness
to `<v_quote>` (found in the article) or `<u_quote>` (not found). Tags an agent writes itself
(`<v_quote>`, `</u_quote>`, any case or spacing) are removed first, so an agent cannot forge a
verified quote; its text stays, now unquoted.

Normalisation (both sides): Unicode NFKC; curly quotes and primes to straight ones, dashes to `-`;
lower case; every character that is neither a letter nor a digit becomes a space; runs of
whitespace (line breaks included) collapse to one space. The test is on whole words: the normalised
quote must appear in the normalised article between word boundaries. So a quote that differs from the article
only in case, punctuation, quote style or line wrapping verifies; a paraphrase or an invented
sentence does not. An empty quote (nothing left after normalisation) is unverified.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_QUOTE = re.compile(r"<\s*quote\s*>(.*?)(?:<\s*/\s*quote\s*>|$)", re.DOTALL | re.IGNORECASE)
# Tags only the harness may write. Agent-written ones are dropped before verification.
_RESERVED = re.compile(r"<\s*/?\s*[vu]_quote\s*>", re.IGNORECASE)
_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})
_NOT_WORD = re.compile(r"[^\w]|_", re.UNICODE)
_SPACES = re.compile(r"\s+")


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
        """Drop agent-written verification tags, then rewrite each `<quote>` as verified or not."""
        text = _RESERVED.sub("", argument)
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
