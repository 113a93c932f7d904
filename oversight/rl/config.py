"""`oversight train CONFIG`: the validated settings of a training run (a YAML file of these keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from oversight.config import file_problems, read_yaml_mapping
from oversight.errors import ConfigError
from oversight.rl.presets import PRESETS
from oversight.rl.rollouts import REWARDS


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


class TrainConfig(BaseModel):
    """Generate -> judge -> rollouts -> update, `iterations` times (see oversight/rl/train.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = "math"
    protocol: Literal["debate", "consultancy"] = "debate"
    """Debate: the policy is debater A against a frozen `opponent` as debater B. Consultancy: the policy consults."""
    data: str | None = None
    """Local data file or folder; default: $OVERSIGHT_DATA_DIR, else the hub."""
    seed: int = 0
    """Seeds the question sample (train and held-out are disjoint) and sampling."""
    train_questions: int = Field(default=8, ge=1)
    heldout_questions: int = Field(default=8, ge=1)
    policy: str = "embedded:smollm2-135m"
    """Model trained (loaded with transformers): an embedded name, a hub id or a local folder (`hf:` optional)."""
    opponent: str | None = None
    """Debate: the frozen debater B; default: a frozen copy of the starting policy."""
    judge: str = "hf:embedded:smollm2-135m"
    """The fixed judge whose probability is the reward."""
    iterations: int = Field(default=4, ge=1)
    samples: int = Field(default=4, ge=2)
    """Episodes per (question, answer order) per iteration: the size of a GRPO group."""
    rounds: int = Field(default=1, ge=1)
    max_tokens: int = Field(default=32, ge=1)
    """Token budget of each policy turn (also the L_max of `seq-mean-token-sum-norm`)."""
    temperature: float = Field(default=1.0, gt=0.0, le=2.0)
    """Sampling temperature while training (held-out evaluation is greedy)."""
    word_limit: int = Field(default=150, ge=1)
    reward: str = "judge_prob"
    preset: str = "grpo"
    lr: float = Field(default=1e-5, gt=0)
    kl_coef: float | None = Field(default=None, ge=0)
    """Override of the preset's KL coefficient."""
    micro_batch_size: int = Field(default=8, ge=1)
    grad_clip: float | None = Field(default=1.0, gt=0)
    lora: LoraConfig | None = None
    """LoRA adapter settings (needs peft: `pip install 'oversight[rl]'`); None trains every weight."""
    eval_every: int = Field(default=0, ge=0)
    """Evaluate on the held-out questions every N iterations (0: only before and after)."""
    out: str = "runs"
    name: str = "train"
    """Folder `<out>/<name>`: metrics.jsonl, iter-NNN.jsonl transcripts, checkpoint/ (load it as `hf:<path>`)."""
    save: bool = True

    @field_validator("reward", "preset")
    @classmethod
    def _known_name(cls, value: str, info: ValidationInfo) -> str:
        known = REWARDS if info.field_name == "reward" else PRESETS
        if value not in known:
            raise ValueError(f"{info.field_name} must be one of {', '.join(known)}, got {value!r}")
        return value

    @property
    def folder(self) -> Path:
        return Path(self.out) / self.name


def train_config_from_file(path: str | Path, **overrides: object) -> TrainConfig:
    values = {**read_yaml_mapping(path, "training config"), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        problems = file_problems(exc, known=TrainConfig.model_fields)
        raise ConfigError(f"invalid training configuration in {path}: " + "; ".join(problems)) from None
