"""Judge panels: several judges decide the same episode and their decisions are aggregated.

A panel is a list of judge specs in place of one (`judge: [A, B, C]` in a config, `--judge A --judge B`
on the command line). Members may be different models, or one model asked with another prompt
(`?prompt=TEMPLATE`, a judge template under prompts/) or sampled with another seed (`?seed=N`, which
matters with `--judge-cot` and `--judge-temperature` > 0: self-consistency over sampled reasoning).
`prompt` and `seed` are the panel's own options: they are taken off the spec before the model loads.

Member 0 plays role `judge`, member i plays `judge_<i+1>`; the engine batches each member's requests
with every other request to the same model, so a panel over one loaded model is one call per step.

Aggregations, over the members whose decision is valid (an invalid member abstains):

- `majority`: each member votes for its argmax; the panel's probabilities are the vote shares. An
  exact tie of votes is broken by the mean probability; a tie there too is an invalid decision.
- `mean`: the arithmetic mean of the members' probabilities (the primal-space ensemble).
- `logmean`: the normalised geometric mean, p_i ∝ exp(mean_m log p_mi): averaging in the dual (log)
  space of the log loss. Gupta et al. 2022 ("Ensembling over classifiers: a bias-variance
  perspective", arXiv 2206.10566) show this ensemble leaves the bias term of the log-loss
  decomposition unchanged and only reduces variance, unlike the arithmetic mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from oversight.errors import ConfigError
from oversight.specs import JudgeSpec, ModelSpec, judge_role, judge_spec
from oversight.types import JudgeDecision

Aggregation = Literal["majority", "mean", "logmean"]
AGGREGATIONS: tuple[str, ...] = ("majority", "mean", "logmean")
_FLOOR = 1e-12
"""Probabilities are floored here before the log, so one member's certainty cannot veto the panel."""


@dataclass(frozen=True)
class PanelMember:
    """How one member asks: its role (routes to its model), its judge template and its sampling seed."""

    role: str
    template: str | None = None
    """A judge template replacing the protocol's own (e.g. `debate/judge_strict`); None keeps it."""
    seed: int = 0
    """Added to the run seed for this member's sampled reasoning."""


def panel_members(specs: Sequence[str], backend: str = "auto") -> list[tuple[ModelSpec, PanelMember]]:
    """Each judge spec's model (member options removed) and how that member asks; templates checked."""
    return members_of([judge_spec(text, backend) for text in specs])


def members_of(judges: Sequence[JudgeSpec]) -> list[tuple[ModelSpec, PanelMember]]:
    """Parsed judge specs (`RunSpecs.judges`) as (model, how the member asks) pairs."""
    return [(j.model, PanelMember(judge_role(i), j.template, j.seed)) for i, j in enumerate(judges)]


def aggregate(members: Sequence[JudgeDecision], how: str) -> JudgeDecision:
    """The panel's decision from its members' (see the module docstring); members are kept in it."""
    if how not in AGGREGATIONS:
        raise ConfigError(f"unknown panel aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    kept = tuple(members)
    valid = [m for m in kept if not m.invalid]
    if not valid:
        return JudgeDecision(probs=(math.nan, math.nan), verdict=None, invalid=True, members=kept)
    mean = tuple(sum(m.probs[i] for m in valid) / len(valid) for i in range(2))
    if how == "majority":
        votes = [sum(m.verdict == i for m in valid) for i in range(2)]
        probs = (votes[0] / len(valid), votes[1] / len(valid))
        order = probs if votes[0] != votes[1] else mean
    elif how == "mean":
        probs = order = mean
    else:
        logs = [sum(math.log(max(m.probs[i], _FLOOR)) for m in valid) / len(valid) for i in range(2)]
        top = max(logs)
        weights = [math.exp(v - top) for v in logs]
        probs = order = (weights[0] / sum(weights), weights[1] / sum(weights))
    masses = [m.mass for m in valid]
    mass = sum(masses) / len(masses) if all(v is not None for v in masses) else None  # type: ignore[misc]
    verdict = None if order[0] == order[1] else (0 if order[0] > order[1] else 1)
    method = "structured" if any(m.method == "structured" for m in kept) else "logprobs"
    return JudgeDecision(probs=probs, verdict=verdict, invalid=verdict is None, mass=mass, members=kept, method=method)
