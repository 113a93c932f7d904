"""Fault injection for the soak: backend exceptions, slow replies and invalid judge outputs.

`Faults.before_call()` runs before each backend call: it sleeps up to `max_delay` seconds and raises
`InjectedFault` with probability `fail_rate` (a seeded stream, so a run's faults are reproducible).
`Faults.judge_replies(requests, replies)` replaces the replies of a deterministic subset of judge
requests (by a hash of the prompt, so a resumed or fault-free run hits the same ones) with one of
three malformed forms: NaN probabilities, no probabilities, or a judge whose top token is no label.

`FaultyBackend` wraps a backend with them (in-process tests); `python -m tests.reliability.faulty_cli`
patches the scripted backend the same way for subprocess runs (see that module).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from oversight.models.base import Backend
from oversight.types import Reply, Request


class InjectedFault(RuntimeError):
    """What a crashing backend raises (not an OversightError: an unexpected fault)."""


def _fraction(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def invalid_form(request: Request, rate: float) -> int | None:
    """Which malformed reply (0, 1, 2) this judge request gets, or None; a pure function of its prompt."""
    x = _fraction("invalid|" + "\n".join(m.content for m in request.messages))
    return None if x >= rate else int(x / rate * 3) % 3


def malformed(form: int) -> Reply:
    return (Reply(option_probs=(math.nan, math.nan), option_mass=0.0),
            Reply(option_probs=(), option_mass=0.0),
            Reply(option_probs=(0.7, 0.3), option_mass=0.01, top_is_option=False))[form]


@dataclass
class Faults:
    fail_rate: float = 0.0
    max_delay: float = 0.0
    invalid_rate: float = 0.0
    seed: int = 0
    failures: int = 0
    calls: int = 0
    invalid: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def before_call(self) -> None:
        self.calls += 1
        if self.max_delay:
            time.sleep(self._rng.uniform(0, self.max_delay))
        if self._rng.random() < self.fail_rate:
            self.failures += 1
            raise InjectedFault(f"injected backend fault #{self.failures} (call {self.calls})")

    def judge_replies(self, requests: Sequence[Request], replies: list[Reply]) -> list[Reply]:
        out = []
        for request, reply in zip(requests, replies):
            form = invalid_form(request, self.invalid_rate) if request.role == "judge" else None
            self.invalid += form is not None
            out.append(reply if form is None else malformed(form))
        return out


class FaultyBackend(Backend):
    """`inner` with `faults` injected; `fail_calls` makes chosen calls (1-based) fail whatever the rate."""

    def __init__(self, inner: Backend, faults: Faults, fail_calls: set[int] | frozenset[int] = frozenset()) -> None:
        super().__init__(inner.model)
        self.name = f"faulty-{inner.name}"
        self.inner, self.faults, self.fail_calls = inner, faults, set(fail_calls)

    def _before(self) -> None:
        if self.faults.calls + 1 in self.fail_calls:
            self.faults.calls += 1
            self.faults.failures += 1
            raise InjectedFault(f"injected backend fault (call {self.faults.calls})")
        self.faults.before_call()

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self._before()
        return self.inner.generate(requests)

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self._before()
        return self.faults.judge_replies(requests, self.inner.choice(requests))
