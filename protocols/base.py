"""The Protocol interface: plain sequential code for ONE question, driven by the engine.

`Protocol.run(question)` is a generator. Each `yield` hands the engine a *step*: a list of Requests
that may be answered together (both debaters of a simultaneous round). The engine sends back the
replies in the same order. The generator's return value is the finished Transcript. A protocol never
calls a model, reads a file or sleeps: all I/O lives in the engine.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Generator

from oversight import prompts
from oversight.types import JudgeDecision, Question, Reply, Request, Sampling, Transcript

Episode = Generator[list[Request], list[Reply], Transcript]

JUDGE_OPTIONS = ("1", "2")
_ARGUMENT = re.compile(r"<argument>(.*?)(?:</argument>|$)", re.DOTALL | re.IGNORECASE)
_THINKING = re.compile(r"<thinking>.*?(?:</thinking>|$)", re.DOTALL | re.IGNORECASE)


class Protocol(abc.ABC):
    """Base class; subclasses register with `@register("protocol", NAME)`."""

    name: str
    roles: tuple[str, ...]
    """Roles this protocol makes requests for, judge included."""

    def __init__(self, *, rounds: int = 3, word_limit: int = 150, max_tokens: int = 256,
                 temperature: float = 0.0, seed: int | None = None, turns: str = "simultaneous") -> None:
        self.rounds = rounds
        self.word_limit = word_limit
        self.turns = turns
        self.agent_sampling = Sampling(max_tokens=max_tokens, temperature=temperature, seed=seed)

    @abc.abstractmethod
    def run(self, question: Question) -> Episode:
        """Play one episode of this protocol on `question`."""

    def episodes(self, question: Question) -> list[tuple[str, Episode]]:
        """The episodes one question yields, each with a key suffix (consultancy: one per assignment)."""
        return [("", self.run(question))]

    def judge_request(self, template: str, **variables: object) -> Request:
        messages = prompts.render(template, **variables)
        return Request(role="judge", messages=messages, kind="choice", options=JUDGE_OPTIONS,
                       sampling=Sampling(max_tokens=1))


def decision_from(reply: Reply) -> JudgeDecision:
    """Turn a choice reply into a verdict; missing or non-finite probabilities are invalid."""
    probs = reply.option_probs
    if len(probs) != 2 or not all(math.isfinite(p) for p in probs) or sum(probs) <= 0:
        return JudgeDecision(probs=(math.nan, math.nan), verdict=None, invalid=True, mass=reply.option_mass)
    total = sum(probs)
    p1, p2 = probs[0] / total, probs[1] / total
    # Exact ties are broken toward neither answer: record them as invalid rather than favour position 1.
    if p1 == p2:
        return JudgeDecision(probs=(p1, p2), verdict=None, invalid=True, mass=reply.option_mass)
    return JudgeDecision(probs=(p1, p2), verdict=0 if p1 > p2 else 1, mass=reply.option_mass)


def public_argument(raw: str, word_limit: int | None = None) -> str:
    """The part of an agent's output the judge may see: the <argument> body, never <thinking>.

    Arguments over `word_limit` words are cut there (the study's limit is 150), so a rambling agent
    cannot crowd the judge's context.
    """
    match = _ARGUMENT.search(raw)
    text = match.group(1).strip() if match else _THINKING.sub("", raw).strip()
    words = re.findall(r"\S+\s*", text)
    if word_limit is not None and len(words) > word_limit:
        text = "".join(words[:word_limit]).rstrip() + " ..."
    return text
