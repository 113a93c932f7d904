"""Deterministic backend for fast tests: no model, replies derived from the request alone.

Models (`scripted:NAME`):
- `echo`: generate returns a short argument naming the role and a stable function of the prompt (and
  of the seed when sampling, so best-of-N candidates differ); choice probabilities are a stable
  function of the prompt text.
- `first` / `second`: choice always prefers the first / second option (P = 0.9).
- `ramble`: like `echo`, but generate writes on after its argument unless a stop sequence ends it.
- `thinker`: generate thinks without end (`<thinking>` and no argument) until its token budget runs out,
  and argues only when its reply is continued after an opened `<argument>`.
- `correct`: choice prefers the option whose label precedes the marker `[correct]` in the prompt
  (tests plant the marker); otherwise uniform.

A reply is one token per word, cut at the request's `max_tokens` (then `finish_reason="length"`).
Every call is recorded in `calls` (kind, roles, size) so tests can count batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from oversight.errors import ConfigError
from oversight.models.base import Backend
from oversight.registry import register
from oversight.types import Reply, Request

POLICIES = ("echo", "first", "second", "correct", "ramble", "thinker")


@dataclass(frozen=True)
class Call:
    kind: str
    roles: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.roles)


def _stable_fraction(text: str) -> float:
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@register("backend", "scripted")
class ScriptedBackend(Backend):
    name = "scripted"

    def __init__(self, model: str = "echo", **_: object) -> None:
        if model not in POLICIES:
            raise ConfigError(f"unknown scripted model {model!r}; choose one of {', '.join(POLICIES)}")
        super().__init__(model)
        self.calls: list[Call] = []

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.calls.append(Call("generate", tuple(r.role for r in requests)))
        replies = []
        for r in requests:
            # Sampled requests (temperature > 0) vary with their seed, like a real sampler.
            sample = f"#seed={r.sampling.seed}" if r.sampling.temperature > 0 else ""
            tag = _stable_fraction("".join(m.content for m in r.messages) + sample)
            text = f"<argument>As {r.role}, my answer is right (note {tag:.4f}).</argument>"
            if self.model == "ramble":  # keeps talking after its argument, until a stop sequence ends it
                text += " And one more thing." * 20
            elif self.model == "thinker":
                opened = r.messages[-1].role == "assistant" and r.messages[-1].content.endswith("<argument>")
                text = (f"As {r.role}, my answer is right (note {tag:.4f}).</argument>" if opened
                        else "<thinking>" + " hmm" * 10_000)
            ends = [text.index(s) + len(s) for s in r.sampling.stop if s in text]
            text = text[:min(ends)] if ends else text
            words = text.split()
            cut = len(words) > r.sampling.max_tokens
            text = " ".join(words[:r.sampling.max_tokens]) if cut else text
            replies.append(Reply(text=text, token_ids=tuple(range(len(text.split()))),
                                 finish_reason="length" if cut else "stop"))
        return replies

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.calls.append(Call("choice", tuple(r.role for r in requests)))
        return [self._decide(r) for r in requests]

    def _decide(self, request: Request) -> Reply:
        n = len(request.options)
        if self.model == "first":
            probs = [0.9] + [0.1 / (n - 1)] * (n - 1)
        elif self.model == "second":
            probs = [0.1 / (n - 1)] * n
            probs[1] = 0.9
        elif self.model == "correct":
            prompt = "\n".join(m.content for m in request.messages)
            marked = [i for i, opt in enumerate(request.options) if f"{opt}: [correct]" in prompt]
            probs = [0.9 if i in marked else 0.1 for i in range(n)] if len(marked) == 1 else [1 / n] * n
        else:
            p = 0.05 + 0.9 * _stable_fraction("".join(m.content for m in request.messages))
            probs = [p, 1 - p] if n == 2 else [1 / n] * n
        return Reply(text=request.options[max(range(n), key=probs.__getitem__)], option_probs=tuple(probs),
                     option_mass=1.0)
