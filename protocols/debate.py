"""Debate (Kenton et al. 2024): debater A (Alice) argues the first answer, debater B (Bob) the second.

Turns are simultaneous by default: in each round both debaters see the transcript of the earlier
rounds only. With `turns="sequential"` (the study's ablation) B also sees A's argument of the same
round. The judge sees the arguments (never a debater's private thinking) and decides. With `judge_questions`
(interactive debate, Khan et al. 2024) the judge asks both debaters a question after every round but the last,
which they answer in the next.

`open-debate` plays the same debate after the agent has answered the question itself: the debater
whose side it chose is the *protagonist* (the study's open debate); the judge is not told which.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oversight.registry import register
from oversight.types import Question, Request, Transcript, Turn
from protocols.base import BON_PLACEHOLDER, Episode, Protocol, Speech, Steps, turn_columns
from protocols.open import agent_choice_columns, choose

NAMES = {"debater_a": "Alice", "debater_b": "Bob", "judge": "Judge"}
DEBATERS = ("debater_a", "debater_b")
SIDES = {"debater_a": 1, "debater_b": 2}
"""The label of the answer each debater argues, as the judge sees the answers (swapped in the other label order)."""


@register("protocol", "debate")
class Debate(Protocol):
    """Assigned debate (simultaneous or sequential turns): Alice argues answer 1, Bob answer 2, the judge decides."""

    name = "debate"
    roles = ("debater_a", "debater_b", "judge")

    def run(self, question: Question) -> Episode:
        transcript = yield from self.play(question)
        return transcript

    def play(self, question: Question) -> Steps:
        turns: list[Turn] = []
        for round_ in range(self.rounds):
            groups = [DEBATERS] if self.turns == "simultaneous" else [(role,) for role in DEBATERS]
            for group in groups:
                speeches = [self._speech(question, role, round_, tuple(turns)) for role in group]
                turns += yield from self.speak(question, speeches, round_)
            if self.options.judge_questions and round_ < self.rounds - 1:  # interactive debate (Khan et al. 2024)
                turns.append((yield from self.ask_judge("debate/judge_question", question, round_,
                                                        **self._judge_view(question, turns))))
        decision, reasoning = yield from self.decide("debate/judge", question, **self._judge_view(question, turns))
        return Transcript(protocol=self.name, question=question,
                          turns=tuple(turns) + reasoning,
                          decision=decision, assignment={"debater_a": 0, "debater_b": 1})

    def columns(self, transcript: Transcript) -> dict[str, Any]:
        return turn_columns(transcript)

    def _judge_view(self, question: Question, turns: list[Turn]) -> dict[str, Any]:
        return {"transcript": turns, "names": NAMES, "sides": SIDES,
                "quotes": bool(self.options.quotes and question.context)}

    def swap_view(self, variables: dict[str, Any]) -> dict[str, Any]:
        """With the answers' labels swapped, Alice argues for Answer 2 and Bob for Answer 1."""
        return {**variables, "sides": {role: 3 - label for role, label in variables["sides"].items()}}

    def _speech(self, question: Question, role: str, round_: int, transcript: tuple[Turn, ...]) -> Speech:
        position = DEBATERS.index(role)
        other = DEBATERS[1 - position]
        messages = self.render(
            "debate/debater", question, name=NAMES[role], opponent=NAMES[other], position=position,
            round=round_, rounds=self.rounds, transcript=transcript, names=NAMES,
            word_limit=self.options.limit_for(role), quotes=bool(self.options.quotes and question.context))

        def score(candidate: Turn) -> Request:
            # The transcript as the judge would see it with this candidate in place; the opponent's
            # turn of this round, when not spoken yet, is a fixed placeholder (Khan et al. 2024).
            spoken = {t.role: t for t in transcript if t.round == round_}
            current = [spoken.get(r) or Turn(r, round_, BON_PLACEHOLDER) for r in DEBATERS]
            current[position] = candidate
            earlier = [t for t in transcript if t.round < round_]
            return self.judge_request("debate/judge", question, **self._judge_view(question, earlier + current))

        return Speech(role=role, messages=messages, side=position, score=score)


@register("protocol", "open-debate")
class OpenDebate(Debate):
    """Open debate: the agent first answers itself; the debater on its side is the protagonist."""

    name = "open-debate"

    def run(self, question: Question) -> Episode:
        side, probs, valid = yield from choose(question, role="debater_a", seed=self.options.seed)
        transcript = yield from self.play(question)
        return dataclasses.replace(transcript, protocol=self.name, meta={
            **transcript.meta, "agent_choice": side, "agent_probs": probs, "agent_choice_valid": valid,
            "protagonist": DEBATERS[side]})

    def columns(self, transcript: Transcript) -> dict[str, Any]:
        return {**super().columns(transcript), **agent_choice_columns(transcript)}
