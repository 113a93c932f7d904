"""Backends, loaded lazily: a backend module imports torch/vLLM, so it is imported only when a model loads.

Model specs and their parsing live in `oversight.specs` (re-exported here).
"""

from __future__ import annotations

import importlib


from oversight.errors import BackendError, ConfigError
from oversight.models.base import Backend
from oversight.registry import lookup
from oversight.specs import BACKENDS, ModelSpec, default_backend, parse_model_spec

__all__ = ["BACKENDS", "ModelSpec", "default_backend", "load_backend", "parse_model_spec"]
_EXTRA_FOR = {"vllm": "pip install 'oversight[cpu]' (CPU) or 'oversight[gpu]' (GPU), or use --backend hf"}


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
