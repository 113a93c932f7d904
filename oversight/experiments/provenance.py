"""What produced a run's records: harness version, models, sampling, prompt templates and config hash.

Computed once per run (`run_provenance`) and written into every transcript line (`provenance`) and, flat,
into every results row (`provenance_columns`), so released transcripts say which models and settings made
them. Fields a run cannot know are null (an embedded model not built yet, a hub model without a revision).

- `models`: per role, the resolved spec (`str(spec)`), its backend options, and what pins its weights:
  `sha256` of an embedded model's weight files (cached in the built model directory), `revision` of a hub
  model (its `revision=` option, or the commit of a local `snapshots/<commit>` path); scripted and openai
  models are their spec alone.
- `prompts_hash`: sha256 over every template of the prompts package (`prompts/**/*.j2`, sorted by path,
  path and content). Over all of them, not the protocol's own: a protocol also renders the best-of-N
  selector, task templates and panel members' `prompt=` templates, so a per-protocol set would miss some.
- `config_hash`: the full sha256 of `RunConfig.identity()`, whose first 8 characters name the run folder.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oversight.config import RunConfig
from oversight.models import ModelSpec

SAMPLING = ("max_tokens", "thinking_tokens", "temperature", "seed", "word_limit", "word_limits", "retries",
            "best_of_n", "judge_temperature", "judge_cot", "debias", "quotes", "quote_match")
"""The RunConfig fields that shape generation and judging."""
COLUMNS = ("harness_version", "config_hash", "prompts_hash", "models")
"""The results columns provenance adds (`models`: one JSON string, see `provenance_columns`)."""
_SNAPSHOT = re.compile(r"(?:^|/)snapshots/([0-9a-f]{40})(?:/|$)")


def harness_version() -> str:
    try:
        return importlib.metadata.version("oversight")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def config_hash(config: RunConfig) -> str:
    """sha256 of the run's identity (`RunConfig.run_id` keeps its first 8 characters)."""
    return config.identity_hash


@functools.cache
def prompts_hash() -> str:
    """sha256 over every prompt template, path and content, sorted by path."""
    root = Path(str(importlib.resources.files("prompts")))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.j2"), key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_provenance(spec: ModelSpec) -> dict[str, Any]:
    """The spec, its options, and the weights' sha256 (embedded) or revision (hub id) where known."""
    options = dict(spec.options)
    entry: dict[str, Any] = {"spec": str(spec), "options": options, "sha256": None, "revision": None}
    if spec.backend in ("scripted", "openai"):
        return entry
    if spec.model.startswith("embedded:"):
        entry["sha256"] = embedded_sha256(spec.model.removeprefix("embedded:"))
    else:
        snapshot = _SNAPSHOT.search(Path(spec.model).as_posix())
        revision = options.get("revision") or (snapshot.group(1) if snapshot else None)
        entry["revision"] = None if revision is None else str(revision)
    return entry


def embedded_sha256(name: str) -> str | None:
    """The weights' sha256 of a built embedded model; None when it is not built (nothing is built here)."""
    from oversight.models.embedded import is_built, model_dir, weights_sha256

    return weights_sha256(model_dir(name)) if is_built(name) else None


def run_provenance(config: RunConfig, specs: Mapping[str, ModelSpec]) -> dict[str, Any]:
    """The provenance object of a run whose roles use `specs` (role family -> spec)."""
    values = config.model_dump()
    return {"harness_version": harness_version(), "config_hash": config_hash(config),
            "prompts_hash": prompts_hash(),
            "models": {role: model_provenance(spec) for role, spec in sorted(specs.items())},
            "sampling": {name: values[name] for name in SAMPLING}}


def provenance_columns(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The results-row columns: three flat strings and `models`, the per-role entries as one JSON string
    (sorted keys), so rows of every protocol keep one schema and two runs' models compare as one value."""
    return {"harness_version": provenance["harness_version"], "config_hash": provenance["config_hash"],
            "prompts_hash": provenance["prompts_hash"],
            "models": json.dumps(provenance["models"], sort_keys=True)}
