"""Run configuration: validated once, at load, with one clear message per bad field."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
    word_limits: dict[Literal["debater", "consultant", "judge"], int] = Field(default_factory=dict)
    """Per role family, overriding `word_limit` (e.g. consultant 300 as in Khan et al.; judge = its questions)."""
    best_of_n: int = Field(default=1, ge=1, le=32)
    """Candidate arguments sampled per agent turn; the best-scored one is kept (needs temperature > 0)."""
    bon_scorer: Literal["judge", "self"] = "judge"
    """Best-of-N scorer: the judge model's P(agent's answer), or the agent model picking the most persuasive."""
    retries: int = Field(default=2, ge=0, le=10)
    """Extra attempts for an agent turn with no argument; then the turn is recorded invalid."""
    judge_cot: bool = False
    """The judge reasons before deciding (off by default: the study found it did not help)."""
    quotes: bool = True
    """Verify agents' `<quote>`s against the article on tasks with one."""
    data: str | None = None
    """Local data file or folder; default: $OVERSIGHT_DATA_DIR, else the hub."""
    out: str = "runs"
    """Parent folder of run folders."""
    name: str | None = None
    """Run folder name; default `<protocol>-<task>-<hash of the config>`, so a rerun resumes."""

    @model_validator(mode="after")
    def _check_sampling(self) -> RunConfig:
        if self.best_of_n > 1 and self.temperature == 0:
            raise ValueError("best_of_n > 1 samples several candidates: set temperature > 0 (e.g. 0.8, as "
                             "Khan et al. 2024), otherwise every candidate would be the same")
        if any(v < 1 for v in self.word_limits.values()):
            raise ValueError(f"word_limits must be >= 1, got {self.word_limits}")
        return self

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
        problems = [f"{_flag(err['loc'])}: {err['msg'].lower()}, got {err.get('input')!r}" if err["loc"]
                    else err["msg"].removeprefix("Value error, ") for err in exc.errors()]
        raise ConfigError("invalid run configuration: " + "; ".join(problems)) from None
