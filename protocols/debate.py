"""Assigned debate: debater A argues the first answer, debater B the second (Kenton et al. 2024).

Turns are simultaneous by default: in each round both debaters see the transcript of the earlier
rounds only. With `turns="sequential"` (the study's ablation) B also sees A's argument of the same
round. The judge sees the arguments (never a debater's private thinking) and decides.
"""

from __future__ import annotations

from oversight import prompts
from oversight.registry import register
from oversight.types import Question, Reply, Request, Transcript, Turn
from protocols.base import Episode, Protocol, decision_from, public_argument

NAMES = {"debater_a": "Alice", "debater_b": "Bob"}


@register("protocol", "debate")
class Debate(Protocol):
    """Assigned debate (simultaneous or sequential turns): Alice argues answer 1, Bob answer 2, the judge decides."""

    name = "debate"
    roles = ("debater_a", "debater_b", "judge")

    def run(self, question: Question) -> Episode:
        turns: list[Turn] = []
        for round_ in range(self.rounds):
            if self.turns == "sequential":
                for position, role in enumerate(("debater_a", "debater_b")):
                    requests = [self._debater_request(question, role, position, round_, tuple(turns))]
                    turns += self._turns(requests, (yield requests), round_)
            else:
                requests = [self._debater_request(question, role, position, round_, tuple(turns))
                            for position, role in enumerate(("debater_a", "debater_b"))]
                turns += self._turns(requests, (yield requests), round_)
        [verdict] = yield [self.judge_request("debate/judge", question=question, transcript=turns, names=NAMES)]
        return Transcript(protocol=self.name, question=question, turns=tuple(turns),
                          decision=decision_from(verdict), assignment={"debater_a": 0, "debater_b": 1})

    def _turns(self, requests: list[Request], replies: list[Reply], round_: int) -> list[Turn]:
        return [Turn(role=req.role, round=round_, text=public_argument(rep.text, self.word_limit), raw=rep.text)
                for req, rep in zip(requests, replies)]

    def _debater_request(self, question: Question, role: str, position: int, round_: int,
                         transcript: tuple[Turn, ...]) -> Request:
        other = "debater_b" if role == "debater_a" else "debater_a"
        messages = prompts.render(
            "debate/debater", question=question, name=NAMES[role], opponent=NAMES[other], position=position,
            round=round_, rounds=self.rounds, transcript=transcript, names=NAMES, word_limit=self.word_limit)
        return Request(role=role, messages=messages, sampling=self.agent_sampling)
