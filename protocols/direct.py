"""Direct QA: the judge answers alone, with no agent — without the source text, or with it."""

from __future__ import annotations

from oversight.registry import register
from oversight.types import Question, Transcript
from protocols.base import Episode, Protocol


@register("protocol", "direct")
class DirectQA(Protocol):
    """QA without article: the judge alone picks between the two answers."""

    name = "direct"
    roles = ("judge",)
    template = "direct/judge"
    needs_article = False
    """QA with article reads `Question.context`: a question without one would silently be plain QA."""

    def run(self, question: Question) -> Episode:
        decision, reasoning = yield from self.decide(self.template, question)
        return Transcript(protocol=self.name, question=question, turns=reasoning,
                          decision=decision)


@register("protocol", "direct-article")
class DirectQAWithArticle(DirectQA):
    """QA with article: the judge alone picks an answer, reading the source text (extractive upper bound)."""

    name = "direct-article"
    template = "direct/judge_article"
    needs_article = True
