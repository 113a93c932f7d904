"""Open roles (Kenton et al. 2024): the agent answers the question itself before arguing.

The agent's choice is read like a judge's decision, from its label probabilities, on the prompt a
direct-QA judge gets (with the article when the task has one: agents may read it). One choice call
per question, batched across questions like every other step.
"""

from __future__ import annotations

from typing import Any

from oversight import prompts
from oversight.types import Question, Request, Sampling, Transcript
from protocols.base import JUDGE_OPTIONS, Steps, decision_from


def choose(question: Question, role: str) -> Steps:
    """(index of the answer the agent in `role` picks, its probabilities over the two answers)."""
    messages = prompts.attach_images(prompts.render("open/choose", question=question, cot=False), question.images)
    [reply] = yield [Request(role=role, messages=messages, kind="choice", options=JUDGE_OPTIONS,
                             sampling=Sampling(max_tokens=1))]
    decision = decision_from(reply)
    # An agent with no usable preference (a tie, no probabilities) argues the first answer.
    side = decision.verdict if decision.verdict is not None else 0
    return side, list(decision.probs)


def agent_choice_columns(transcript: Transcript) -> dict[str, Any]:
    """The open-protocol columns: what the agent chose, whether it was right, whether the judge agreed."""
    side = transcript.meta["agent_choice"]
    verdict = transcript.decision.verdict
    return {"agent_choice": side, "agent_correct": side == transcript.question.correct_index,
            "judge_agrees": None if verdict is None else verdict == side}
