"""Open roles (Kenton et al. 2024): the agent answers the question itself before arguing.

The agent's choice is read like a judge's decision, from its label probabilities, on the prompt a
direct-QA judge gets (with the article when the task has one: agents may read it). One choice call
per question, batched across questions like every other step.
"""

from __future__ import annotations

from typing import Any

from oversight import prompts
from oversight.types import Question, Request, Sampling, Transcript
from protocols.base import JUDGE_OPTIONS, Steps, decision_from, request_seed


def choose(question: Question, role: str, seed: int | None = None) -> Steps:
    """(index of the answer the agent in `role` picks, its probabilities over the two answers, whether the
    choice was valid).

    An invalid choice (no probabilities, a tie, or a most likely next token that is no answer label) does
    not default to a position, which would plant a position bias in the protagonist: the side is drawn by a
    coin seeded from the question's identity, and the episode records `agent_choice_valid=False`.
    """
    messages = prompts.attach_images(prompts.render("open/choose", question=question, cot=False), question.images)
    [reply] = yield [Request(role=role, messages=messages, kind="choice", options=JUDGE_OPTIONS,
                             sampling=Sampling(max_tokens=1))]
    decision = decision_from(reply)
    if decision.verdict is not None:
        return decision.verdict, list(decision.probs), True
    coin = request_seed(seed, "agent_choice", question.id, bool(question.meta.get("swapped"))) % 2
    return coin, list(decision.probs), False


def agent_choice_columns(transcript: Transcript) -> dict[str, Any]:
    """The open-protocol columns: what the agent chose, whether it was right, whether the judge agreed."""
    side = transcript.meta["agent_choice"]
    verdict = transcript.decision.verdict
    return {"agent_choice": side, "agent_correct": side == transcript.question.correct_index,
            "agent_choice_valid": transcript.meta.get("agent_choice_valid", True),
            "judge_agrees": None if verdict is None else verdict == side}
