"""Run configuration: validated once, at load, with one clear message per bad field."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oversight.errors import ConfigError

# Fields that do not change what a run computes; they are left out of the run id.
_NOT_IDENTITY = ("out", "name")


class RunConfig(BaseModel):
    """One run: a protocol on a task with a judge and agents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str
    """Registered protocol name (`oversight protocols` lists them)."""
    task: str
    """Registered task name (`oversight tasks` lists them)."""
    limit: int | None = Field(default=None, ge=1)
    """Number of questions (a seeded sample); None runs the whole split."""
    seed: int = 0
    """Seeds the question sample, the answer order and sampling."""
    rounds: int = Field(default=3, ge=1, le=20)
    """Debate/consultancy rounds (the study used 3)."""
    turns: Literal["simultaneous", "sequential"] = "simultaneous"
    """Debate turns: both debaters at once each round, or B after seeing A's argument of the round."""
    order: Literal["random", "both", "fixed"] = "random"
    """Answer order: random per question, both orders (every question twice), or as loaded."""
    judge: str = "embedded:smollm2-135m"
    """Judge model spec, `backend:model` (the weak judge by default)."""
    debater: str = "embedded:qwen2.5-coder-0.5b"
    """Agent model spec for both debaters (the stronger agent by default)."""
    consultant: str | None = None
    """Consultant model spec; default: the debater model."""
    backend: Literal["auto", "vllm", "hf", "scripted"] = "auto"
    """Backend for specs without one (`embedded:`, model ids): auto = vllm if installed, else hf."""
    max_tokens: int = Field(default=256, ge=1)
    """Token budget of each agent turn."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Agent sampling temperature (0 = greedy)."""
    word_limit: int = Field(default=150, ge=1)
    """Words per argument asked of the agents (the study: 150)."""
    data: str | None = None
    """Local data file or folder; default: $OVERSIGHT_DATA_DIR, else the hub."""
    out: str = "runs"
    """Parent folder of run folders."""
    name: str | None = None
    """Run folder name; default `<protocol>-<task>-<hash of the config>`, so a rerun resumes."""

    def identity(self) -> dict[str, Any]:
        return self.model_dump(exclude=set(_NOT_IDENTITY))

    @property
    def run_id(self) -> str:
        if self.name:
            return self.name
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.protocol}-{self.task}-{digest}"


def _flag(loc: tuple[Any, ...]) -> str:
    return "--" + "-".join(str(part) for part in loc).replace("_", "-")


def make_config(**values: Any) -> RunConfig:
    """Build a RunConfig, turning pydantic's report into one ConfigError naming each bad field."""
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        problems = [f"{_flag(err['loc'])}: {err['msg'].lower()}, got {err.get('input')!r}" for err in exc.errors()]
        raise ConfigError("invalid run configuration: " + "; ".join(problems)) from None
