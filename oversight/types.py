"""Core records shared by tasks, protocols, the engine, backends and the run store.

Records are frozen dataclasses: they hash (cache keys), they cannot be mutated behind a
protocol's back, and `to_dict`/`from_dict` round-trip them through JSONL.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import mimetypes
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from oversight.errors import DataError

Role = Literal["system", "user", "assistant"]


def article_key(context: Any, meta: dict[str, Any]) -> str | None:
    """Key of a question's source text (the unit confidence intervals resample): `meta["article_id"]`, else a
    hash of `context`; None without a source text."""
    if meta.get("article_id") is not None:
        return str(meta["article_id"])
    if isinstance(context, str) and context:
        return hashlib.sha256(context.encode()).hexdigest()[:12]
    return None


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
    images: tuple[str, ...] = ()
    """Images everyone sees with the question (multimodal tasks): file paths or `data:`/`http(s):` URLs,
    in the order the text refers to them (`<image 1>`, `<image 2>`...)."""

    def __post_init__(self) -> None:
        assert self.correct_index in (0, 1), self.correct_index
        assert len(self.answers) == 2, self.answers

    @property
    def article(self) -> str | None:
        """Key of the source text, shared by every question on it: see `article_key`."""
        return article_key(self.context, self.meta)

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
        return cls(**{**d, "answers": tuple(d["answers"]), "images": tuple(d.get("images", ()))})


def image_url(image: str) -> str:
    """`image` as a URL a chat API accepts: `data:`/`http(s):` URLs unchanged, a local file as a base64
    `data:` URL (MIME type from its extension). A missing file -> DataError naming it."""
    if image.startswith(("data:", "http://", "https://")):
        return image
    path = Path(image).expanduser()
    try:
        payload = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as e:
        raise DataError(f"image {image!r} cannot be read ({e.strerror or e}); images are file paths or "
                        "data:/http(s): URLs") from e
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{payload}"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    images: tuple[str, ...] = ()
    """Images sent after the text (file paths or `data:`/`http(s):` URLs); only vision models accept them."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.images:
            d["images"] = list(self.images)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(d["role"], d["content"], tuple(d.get("images", ())))

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI / vLLM chat form: plain text content, or content parts when the message has images.

        Each image becomes a label part `<image N>` (so text referring to it can be followed) and an
        `image_url` part; local files are inlined as base64 `data:` URLs.
        """
        if not self.images:
            return {"role": self.role, "content": self.content}
        parts: list[dict[str, Any]] = [{"type": "text", "text": self.content}]
        for n, image in enumerate(self.images, start=1):
            parts.append({"type": "text", "text": f"<image {n}>"})
            parts.append({"type": "image_url", "image_url": {"url": image_url(image)}})
        return {"role": self.role, "content": parts}


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling parameters of one generation request."""

    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    """Each sampled request carries its own seed, derived from its identity (`protocols.base.request_seed`)."""
    stop: tuple[str, ...] = ()
    """Stop sequences: generation ends after any of them; the reply text keeps the stop string when the backend
    can (vLLM, transformers, scripted) and may lack it otherwise (OpenAI-compatible servers drop it)."""


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
    finish_reason: str | None = None
    """Why generation ended: `length` (the request's `max_tokens` ran out), `stop` (end of sequence or a stop
    string); None when the backend does not say."""
    option_probs: tuple[float, ...] = ()
    """For choice requests: P(option) renormalised over the options, in `options` order."""
    option_mass: float | None = None
    """For choice requests: total unnormalised probability the model put on the options."""
    top_is_option: bool | None = None
    """For choice requests: whether the model's single most likely next label starts one of the options
    (False: it wanted to say something else, and the decision counts as invalid); None when unknown."""
    decision_method: str = "logprobs"
    """For choice requests: how `option_probs` were obtained. `logprobs`: the model's next-token distribution
    over the labels; `structured`: a one-hot read from text the server generated under a choice constraint
    (a server without logprobs, allowed only when asked for). Recorded per episode and reported."""

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
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """Per-turn facts: attempts, invalid, quote counts, best-of-N candidates and scores."""

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
    members: tuple[JudgeDecision, ...] = ()
    """A judge panel's per-member decisions (in panel order); this decision is their aggregate."""
    orders: tuple[JudgeDecision, ...] = ()
    """Order-debiased decisions: the two single-order decisions they average, (presented labels, swapped labels),
    both with `probs` in the presented answer order. Empty: this decision read one label order only."""
    method: str = "logprobs"
    """How the probabilities were read (`Reply.decision_method`): `logprobs` or `structured`."""

    @property
    def debiased(self) -> bool:
        return bool(self.orders)

    @property
    def raw(self) -> JudgeDecision:
        """The decision from the presented label order alone (itself when not debiased)."""
        return self.orders[0] if self.orders else self

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["members"] = [m.to_dict() for m in self.members]
        out["orders"] = [o.to_dict() for o in self.orders]
        for key, default in (("members", []), ("orders", []), ("method", "logprobs")):
            if out[key] == default:
                del out[key]  # decisions without them keep the transcript format they always had
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JudgeDecision:
        return cls(**{**d, "probs": tuple(d["probs"]),
                      "members": tuple(cls.from_dict(m) for m in d.get("members", ())),
                      "orders": tuple(cls.from_dict(o) for o in d.get("orders", ()))})


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
        return cls(
            protocol=d["protocol"],
            question=Question.from_dict(d["question"]),
            turns=tuple(Turn(**t) for t in d["turns"]),
            decision=JudgeDecision.from_dict(d["decision"]),
            assignment=dict(d.get("assignment", {})),
            meta=d.get("meta", {}),
        )


Episode = Generator[list[Request], list[Reply], Transcript]
"""One question's protocol run: yields steps (requests answered together), receives their replies, returns the
finished Transcript. The engine drives episodes; protocols write them."""
Steps = Generator[list[Request], list[Reply], Any]
"""A part of an episode (an agent turn, a judge decision) that returns some value."""
