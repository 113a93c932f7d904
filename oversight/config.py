"""Run configuration: validated once, at load, with one clear message per bad field."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oversight.errors import ConfigError
from oversight.specs import RunSpecs, run_specs

# Fields that change nothing at their default and came after run ids existed: left out of the id then,
# so runs that do not use them keep their folder (and resume).
_ID_WHEN_SET = {"panel_aggregate": "mean", "judge_temperature": 0.0,
                # runs judged in one label order keep the folder they had before order-debiased judging
                "debias": False,
                # budget forcing's default (half of max_tokens) came with it
                "thinking_tokens": None,
                # fuzzy quote matching came later; strict runs keep their folder
                "quote_match": "strict",
                # interactive debate came later; debates without judge questions keep their folder
                "judge_questions": False}
# Fields that do not change what a run computes; they are left out of the run id.
_NOT_IDENTITY = ("out", "name", "allow_code_exec")
# Serving settings: where and how models run, not what they compute (a resumed run may change them).
_SERVING = ("base_url", "api_key_env", "max_connections", "request_timeout", "cache", "fresh", "serve",
            "tensor_parallel_size", "gpu_memory_utilization", "max_model_len")


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
    judge: str | list[str] = "embedded:smollm2-135m"
    """Judge model spec, `backend:model` (the weak judge by default); a list of specs is a judge panel."""
    panel_aggregate: Literal["majority", "mean", "logmean"] = "mean"
    """How a judge panel's decisions combine: majority vote, mean probability, or normalised geometric mean."""
    judge_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature of the judge's reasoning (`judge_cot`); > 0 lets panel members differ by `?seed=`."""
    debater: str = "embedded:qwen2.5-coder-0.5b"
    """Agent model spec for both debaters (the stronger agent by default)."""
    consultant: str | None = None
    """Consultant model spec; default: the debater model."""
    debater_a: str | None = None
    """Model spec of debater A (argues answer 1), overriding `debater`."""
    debater_b: str | None = None
    """Model spec of debater B (argues answer 2), overriding `debater`."""
    backend: Literal["auto", "vllm", "hf", "openai", "scripted"] = "auto"
    """Backend for specs without one (`embedded:`, model ids): auto = vllm if installed, else hf."""
    max_tokens: int = Field(default=256, ge=1)
    """Token budget of each agent turn, all its requests together."""
    thinking_tokens: int | None = Field(default=None, ge=1)
    """Tokens a turn may spend before its argument must begin; a reply still thinking then has its thinking closed
    and its argument opened (budget forcing, Muennighoff et al. 2025). Default: half of `max_tokens`;
    `max_tokens` turns forcing off."""
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
    quote_match: Literal["strict", "fuzzy"] = "strict"
    """How a quote must match the article: `strict` (normalised, exact; Khan et al. 2024) or `fuzzy` (an
    article window of the quote's length with `fuzz.ratio` >= 90 that differs from it, word for word, in at most
    one word in ten and in no number or negation; the judge sees the article's words). See protocols/quotes.py."""
    judge_questions: bool = False
    """Interactive debate (Khan et al. 2024): the judge asks the debaters a question after every round but the
    last (consultancy's judge always asks the consultant)."""
    debias: bool = True
    """Order-debiased judging: the judge decides every episode with the answer labels in both orders and the two
    log-odds are averaged; false: one decision, in the presented order."""
    data: str | None = None
    """Local data file or folder; default: $OVERSIGHT_DATA_DIR, else the hub."""
    allow_code_exec: bool = False
    """Let tasks execute code in the sandbox while loading (`--allow-code-exec`; e.g. `code` from raw data)."""
    fields: dict[str, str] | None = None
    """Column of each part of a `file:PATH` task (`question`, `correct`, `incorrect`, ...; see tasks/custom.py)."""
    out: str = "runs"
    """Parent folder of run folders."""
    name: str | None = None
    """Run folder name; default `<protocol>-<task>-<hash of the config>`, so a rerun resumes."""
    fresh: bool = False
    """Start over: move an existing run folder aside (`<name>.old-<time>`) instead of resuming it."""
    cache: bool = True
    """Answer repeated model calls from the run's response cache (`<run>/cache.sqlite`)."""
    base_url: str | None = None
    """Server of `openai:` specs without their own `base_url`; default $OPENAI_BASE_URL, else the OpenAI API."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key of `openai:` specs (keys never enter config files)."""
    max_connections: int = Field(default=32, ge=1)
    """Requests in flight at once per `openai:` model."""
    request_timeout: float = Field(default=120.0, gt=0)
    """Seconds before one HTTP request to a model server is abandoned and retried."""
    serve: bool = False
    """Run each `vllm:` model in its own managed `vllm serve` process and talk to it over HTTP."""
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    """vLLM: GPUs per model (vllm specs and managed servers)."""
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    """vLLM: fraction of GPU memory per model; give each of several models its share (e.g. 0.45)."""
    max_model_len: int | None = Field(default=None, ge=1)
    """vLLM: context length (default: the model's, at most 4096 on CPU)."""

    @model_validator(mode="after")
    def _check_sampling(self) -> RunConfig:
        if self.best_of_n > 1 and self.temperature == 0:
            raise ValueError("best_of_n > 1 samples several candidates: set temperature > 0 (e.g. 0.8, as "
                             "Khan et al. 2024), otherwise every candidate would be the same")
        if self.thinking_tokens is not None and self.thinking_tokens > self.max_tokens:
            raise ValueError(f"thinking_tokens (--thinking-tokens) {self.thinking_tokens} is part of a turn's token "
                             f"budget: set it at most max_tokens (--max-tokens) {self.max_tokens}")
        if any(v < 1 for v in self.word_limits.values()):
            raise ValueError(f"word_limits must be >= 1, got {self.word_limits}")
        return self

    @field_validator("judge")
    @classmethod
    def _judge_panel(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("a judge panel needs at least one judge spec")
            return value[0] if len(value) == 1 else value
        return value

    @property
    def panel(self) -> tuple[str, ...]:
        """The judge specs: one for a single judge, several for a panel."""
        return (self.judge,) if isinstance(self.judge, str) else tuple(self.judge)

    @property
    def specs(self) -> RunSpecs:
        """Every model the run names, parsed (the one place spec text becomes ModelSpecs)."""
        agents = {"debater": self.debater, "consultant": self.consultant or self.debater,
                  "debater_a": self.debater_a, "debater_b": self.debater_b}
        return run_specs(self.panel, agents, self.backend)

    def identity(self) -> dict[str, Any]:
        identity = self.model_dump(exclude=set(_NOT_IDENTITY + _SERVING))
        for key, default in _ID_WHEN_SET.items():
            if identity[key] == default:
                del identity[key]
        return identity

    @property
    def identity_hash(self) -> str:
        """sha256 of what the run computes (`identity`); the run folder's name keeps its first 8 characters."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()

    @property
    def run_id(self) -> str:
        if self.name:
            return self.name
        digest = self.identity_hash[:8]
        # `file:PATH` tasks: the path's characters are no folder name
        task = re.sub(r"[^A-Za-z0-9._=,-]+", "_", self.task).strip("_")[-60:]
        return f"{self.protocol}-{task}-{digest}"


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


def key_path(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a YAML key path: `sweep.product.judge[1]`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def file_problems(exc: ValidationError, known: Any = (), prefix: tuple[Any, ...] = ()) -> list[str]:
    """One line per bad field of a YAML file: key path, what is wrong, the value, and the fix."""
    problems = []
    for err in exc.errors():
        where = key_path(prefix + tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key; known keys: {', '.join(sorted(known))}")
        elif not err["loc"]:
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        else:
            message = err["msg"].removeprefix("Value error, ")
            got = "" if err["type"] == "value_error" else f", got {err.get('input')!r}"
            problems.append(f"{where}: {message[:1].lower() + message[1:]}{got}")
    return problems


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A YAML file holding a mapping; a missing file, a syntax error or another shape is one ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc}); check the path") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values (e.g. 'protocol: debate'), "
                          f"got a {type(data).__name__}")
    bad = [key for key in data if not isinstance(key, str)]
    if bad:
        raise ConfigError(f"{path}: every key must be a name (e.g. 'protocol: debate'), got {bad[0]!r}")
    return data


def config_from_file(path: str | Path, **overrides: Any) -> RunConfig:
    """A RunConfig from a YAML file of RunConfig keys; `overrides` (CLI flags) win over the file."""
    values = {**read_yaml_mapping(path), **overrides}
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        problems = file_problems(exc, known=RunConfig.model_fields)
        raise ConfigError(f"invalid run configuration in {path}: " + "; ".join(problems)
                          + " (fix the file, or override the key with its command-line flag)") from None
