"""Consultancy (Kenton et al. 2024): one consultant argues an answer; the judge questions it, then decides.

Assigned: every question is played twice, once with the consultant assigned each answer, so half
the episodes argue for the wrong one. Between rounds the judge asks the consultant a question (a
judge generation), which the consultant answers in its next turn.

`open-consultancy`: the consultant first answers the question itself, then argues its own choice;
one episode per question.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oversight.registry import register
from oversight.types import Question, Request, Transcript, Turn
from protocols.base import Episode, Protocol, Speech, Steps, turn_columns
from protocols.open import agent_choice_columns, choose

NAMES = {"consultant": "Consultant", "judge": "Judge"}


@register("protocol", "consultancy")
class Consultancy(Protocol):
    """Assigned consultancy: one consultant argues each answer in turn; the judge questions it, then decides."""

    name = "consultancy"
    roles = ("consultant", "judge")
    open_roles = False

    def episodes(self, question: Question) -> list[tuple[str, Episode]]:
        return [(f"consultant={side}", self.run(question, side)) for side in (0, 1)]

    def run(self, question: Question, side: int = 0) -> Episode:
        transcript = yield from self.play(question, side)
        return transcript

    def play(self, question: Question, side: int) -> Steps:
        turns: list[Turn] = []
        quotes = bool(self.options.quotes and question.context)
        shared = {"position": side, "names": NAMES, "rounds": self.rounds, "quotes": quotes, "open": self.open_roles}
        for round_ in range(self.rounds):
            messages = self.render("consultancy/consultant", question, **shared, round=round_, transcript=tuple(turns),
                                      word_limit=self.options.limit_for("consultant"))
            earlier = tuple(turns)

            def score(candidate: Turn, earlier: tuple[Turn, ...] = earlier) -> Request:
                return self.judge_request("consultancy/judge", question, **shared, transcript=[*earlier, candidate])

            turns += yield from self.speak(question, [Speech("consultant", messages, side, score)], round_)
            if round_ < self.rounds - 1:
                turns.append((yield from self.ask_judge("consultancy/judge_question", question, round_, **shared,
                                                        transcript=tuple(turns))))
        decision, reasoning = yield from self.decide("consultancy/judge", question, variant=f"consultant={side}",
                                                     **shared, transcript=turns)
        return Transcript(protocol=self.name, question=question,
                          turns=tuple(turns) + reasoning,
                          decision=decision, assignment={"consultant": side})

    def swap_view(self, variables: dict[str, Any]) -> dict[str, Any]:
        """With the answers' labels swapped, the consultant's answer carries the other label."""
        return {**variables, "position": 1 - variables["position"]}

    def columns(self, transcript: Transcript) -> dict[str, Any]:
        side = transcript.assignment["consultant"]
        return {**turn_columns(transcript), "consultant_correct": side == transcript.question.correct_index}


@register("protocol", "open-consultancy")
class OpenConsultancy(Consultancy):
    """Open consultancy: the consultant first answers the question itself, then argues its choice."""

    name = "open-consultancy"
    open_roles = True

    def episodes(self, question: Question) -> list[tuple[str, Episode]]:
        return [("", self.run(question))]

    def run(self, question: Question, side: int | None = None) -> Episode:
        chosen, probs, valid = yield from choose(question, role="consultant", seed=self.options.seed)
        transcript = yield from self.play(question, chosen)
        return dataclasses.replace(transcript, protocol=self.name, meta={
            **transcript.meta, "agent_choice": chosen, "agent_probs": probs, "agent_choice_valid": valid})

    def columns(self, transcript: Transcript) -> dict[str, Any]:
        return {**super().columns(transcript), **agent_choice_columns(transcript)}
