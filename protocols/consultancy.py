"""Assigned consultancy (Kenton et al. 2024): one consultant argues an assigned answer.

Every question is played twice, once with the consultant assigned each answer, so half the episodes
argue for the wrong one. Between rounds the judge asks the consultant a question (a judge
generation), which the consultant answers in its next turn; then the judge decides.
"""

from __future__ import annotations

from oversight import prompts
from oversight.registry import register
from oversight.types import Question, Request, Sampling, Transcript, Turn
from protocols.base import Episode, Protocol, decision_from, public_argument

NAMES = {"consultant": "Consultant", "judge": "Judge"}
JUDGE_QUESTION_TOKENS = 64


@register("protocol", "consultancy")
class Consultancy(Protocol):
    """Assigned consultancy: one consultant argues each answer in turn; the judge questions it, then decides."""

    name = "consultancy"
    roles = ("consultant", "judge")

    def episodes(self, question: Question) -> list[tuple[str, Episode]]:
        return [(f"consultant={side}", self.run(question, side)) for side in (0, 1)]

    def run(self, question: Question, side: int = 0) -> Episode:
        turns: list[Turn] = []
        shared = {"question": question, "position": side, "names": NAMES, "rounds": self.rounds}
        for round_ in range(self.rounds):
            messages = prompts.render("consultancy/consultant", **shared, round=round_, transcript=tuple(turns),
                                      word_limit=self.word_limit)
            [reply] = yield [Request(role="consultant", messages=messages, sampling=self.agent_sampling)]
            turns.append(Turn("consultant", round_, public_argument(reply.text, self.word_limit), raw=reply.text))
            if round_ < self.rounds - 1:
                messages = prompts.render("consultancy/judge_question", **shared, transcript=tuple(turns))
                sampling = Sampling(max_tokens=JUDGE_QUESTION_TOKENS, seed=self.agent_sampling.seed)
                [asked] = yield [Request(role="judge", messages=messages, sampling=sampling)]
                turns.append(Turn("judge", round_, public_argument(asked.text, self.word_limit), raw=asked.text))
        [verdict] = yield [self.judge_request("consultancy/judge", **shared, transcript=turns)]
        return Transcript(protocol=self.name, question=question, turns=tuple(turns),
                          decision=decision_from(verdict), assignment={"consultant": side})
