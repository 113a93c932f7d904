"""Put a human in the judge's seat of an episode, through the protocol's own code.

An item is replayed from scratch on every page view, which keeps the server stateless (a killed server resumes
from the database alone):

- a saved transcript goes through `replay_episode`: its agent turns and the judge questions it holds are the
  saved ones, so the only requests left are the final decision's;
- a **live** item plays the episode anew (`Protocol.episodes`) with the source run's agent models (the app's
  model pool, with a response cache, so turns already shown are read back, not generated again). Between
  rounds, the protocol's judge-question request goes to the human: the questions the judge already asked are
  answered from the database, and the first unanswered one stops the replay there.

The judge role is played by `HumanJudge`, a Backend that answers from what the human submitted and otherwise
stops the episode (`AwaitingHuman`) with the request the human must answer: its messages are exactly what a
model judge would read. Decisions are asked order-debiased (the protocol renders the decision in both label
orders), so the page can show the item in either order; the human's probabilities answer the order shown,
and the recorded decision is theirs alone, in the presented order, `method = "human"` (one order read, so not
`debiased`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from oversight.config import RunConfig
from oversight.engine import Engine
from oversight.errors import OversightError
from oversight.models.base import Backend
from oversight.types import JudgeDecision, Message, Reply, Request, Transcript

HUMAN_METHOD = "human"


class AwaitingHuman(OversightError):
    """The episode reached a judge request the human has not answered yet."""

    def __init__(self, kind: Literal["question", "decision"], requests: Sequence[Request]) -> None:
        super().__init__(f"waiting for the human judge's {kind}")
        self.kind = kind
        self.requests = list(requests)


class HumanJudge(Backend):
    """The judge role, answered from the human's submissions (module docstring)."""

    name = "human"

    def __init__(self, questions: Sequence[str], p_answer1: float | None) -> None:
        super().__init__("human")
        self.questions = list(questions)
        self.p_answer1 = p_answer1
        """P(answer 1) in the item's presented order (the database's), or None before the decision."""

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        if len(self.questions) < len(requests):  # a judge generation is a question between rounds (`ask_judge`)
            raise AwaitingHuman("question", requests)
        return [Reply(text=self.questions.pop(0), finish_reason="stop") for _ in requests]

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        if self.p_answer1 is None:
            raise AwaitingHuman("decision", requests)
        presented = (self.p_answer1, 1.0 - self.p_answer1)
        # the requests are the decision in the presented label order, then with the labels swapped
        orders = [presented, presented[::-1]]
        return [Reply(option_probs=orders[n % 2], option_mass=1.0, top_is_option=True,
                      decision_method=HUMAN_METHOD) for n, _ in enumerate(requests)]


@dataclass(frozen=True)
class Stage:
    """Where an item stands for its judge."""

    kind: Literal["question", "decision", "done"]
    messages: tuple[Message, ...] = ()
    """What the judge reads: the model judge's prompt for the request (the order shown), without the label prefill."""
    transcript: Transcript | None = None
    """The finished episode (`done`), with the human's decision."""


def human_options(config: RunConfig) -> RunConfig:
    """The source run's config with the decision asked as the page needs it: one judge, no chain of thought, the
    decision rendered in both label orders."""
    judges = config.judge if isinstance(config.judge, list) else [config.judge]
    return config.model_copy(update={"judge": judges[0], "judge_cot": False, "debias": True})


def human_decision(p_answer1: float) -> JudgeDecision:
    probs = (p_answer1, 1.0 - p_answer1)
    return JudgeDecision(probs=probs, verdict=0 if probs[0] > probs[1] else 1, method=HUMAN_METHOD)


def play(config: RunConfig, key: str, saved: Transcript, *, live: bool, order: int, questions: Sequence[str],
         p_answer1: float | None, agents: Callable[[], Mapping[str, Backend]] | None = None,
         human: Mapping[str, Any] | None = None) -> Stage:
    """Drive the episode `key` of the source run (config `config`, saved transcript `saved`) up to the human.

    `agents()` gives the live item's agent backends (role family -> backend); `human` is recorded in the finished
    transcript's meta (who judged, in which order, how long)."""
    from oversight.experiments.replay import replay_episode, variant_of
    from oversight.experiments.run import protocol_options
    from oversight.registry import lookup

    options = human_options(config)
    protocol = lookup("protocol", options.protocol)(protocol_options(options))
    judge = HumanJudge(questions, p_answer1)
    if live:
        episodes = dict(protocol.episodes(saved.question))
        episode = episodes[variant_of(key)]
        models: dict[str, Backend] = {**(agents() if agents is not None else {}), "judge": judge}
    else:
        episode = replay_episode(protocol, saved, variant_of(key))
        models = {"judge": judge}
    try:
        finished = Engine(models, call_retries=0).run([(key, episode)])
    except AwaitingHuman as waiting:
        shown = waiting.requests[order] if waiting.kind == "decision" else waiting.requests[0]
        return Stage(waiting.kind, shown_messages(shown))
    transcript = finished[key]
    turns = tuple(t for t in transcript.turns if t.meta.get("kind") != "reasoning")
    meta = {**transcript.meta, "human": dict(human or {}, order=order)}
    assert p_answer1 is not None
    return Stage("done", transcript=dataclasses.replace(transcript, turns=turns, decision=human_decision(p_answer1),
                                                        meta=meta))


def shown_messages(request: Request) -> tuple[Message, ...]:
    """A judge request's messages as a person reads them: the assistant's label prefill ("Answer:") left out."""
    messages = request.messages
    if messages and messages[-1].role == "assistant":
        messages = messages[:-1]
    return tuple(messages)
