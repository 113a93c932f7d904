"""Core records shared by tasks, protocols, the engine, backends and the run store.

Records are frozen dataclasses: they hash (cache keys), they cannot be mutated behind a
protocol's back, and `to_dict`/`from_dict` round-trip them through JSONL.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Question:
    """One binary-choice question, as every task yields it."""

    id: str
    """Stable id, unique within the task (e.g. `gsm8k/test/17`)."""
    task: str
    """Registered task name (e.g. `math`)."""
    question: str
    answers: tuple[str, str]
    """The two options, in the order the judge will see them."""
    correct_index: int
    """0 or 1: which of `answers` is correct."""
    context: str | None = None
    """Source text the agents may see (article, code); None for closed tasks."""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        assert self.correct_index in (0, 1), self.correct_index
        assert len(self.answers) == 2, self.answers

    def swapped(self) -> Question:
        """The same question with the two answers in the other order."""
        return dataclasses.replace(
            self,
            answers=(self.answers[1], self.answers[0]),
            correct_index=1 - self.correct_index,
            meta={**self.meta, "swapped": not self.meta.get("swapped", False)},
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Question:
        return cls(**{**d, "answers": tuple(d["answers"])})


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling parameters of one generation request."""

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """What a protocol asks of the role it names. The engine maps role -> model.

    `kind="generate"` wants free text; `kind="choice"` wants a probability over `options`, read from
    the next-token distribution after the messages (the last message, if it is an assistant
    message, is continued rather than closed, so the next token is the label).
    """

    role: str
    """Protocol role: `judge`, `debater_a`, `debater_b`, `consultant`..."""
    messages: tuple[Message, ...]
    kind: Literal["generate", "choice"] = "generate"
    options: tuple[str, ...] = ()
    sampling: Sampling = Sampling()


@dataclass(frozen=True, slots=True)
class Reply:
    """A backend's answer to one Request."""

    text: str = ""
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] = ()
    """Log-probability of each generated token, when the backend gives them."""
    option_probs: tuple[float, ...] = ()
    """For choice requests: P(option) renormalised over the options, in `options` order."""
    option_mass: float | None = None
    """For choice requests: total unnormalised probability the model put on the options."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance in a transcript, as the other participants may see it."""

    role: str
    round: int
    text: str
    """The public part (what the judge and other agents see)."""
    raw: str = ""
    """The full model output, private thinking included (never shown to the judge)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class JudgeDecision:
    probs: tuple[float, float]
    """P(answer 1), P(answer 2) in the order the judge saw them."""
    verdict: int | None
    """Index the judge chose (argmax), None when invalid."""
    invalid: bool = False
    mass: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Transcript:
    """One finished episode: a question, the dialogue, and the judge's decision."""

    protocol: str
    question: Question
    turns: tuple[Turn, ...]
    decision: JudgeDecision
    assignment: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    """Agent role -> index (in `question.answers`) of the answer it argued."""
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def correct(self) -> bool:
        return self.decision.verdict == self.question.correct_index

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "question": self.question.to_dict(),
            "turns": [t.to_dict() for t in self.turns],
            "decision": self.decision.to_dict(),
            "assignment": dict(self.assignment),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        dec = d["decision"]
        return cls(
            protocol=d["protocol"],
            question=Question.from_dict(d["question"]),
            turns=tuple(Turn(**t) for t in d["turns"]),
            decision=JudgeDecision(**{**dec, "probs": tuple(dec["probs"])}),
            assignment=dict(d.get("assignment", {})),
            meta=d.get("meta", {}),
        )
