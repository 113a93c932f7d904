"""RL for debaters and judges: the loss core (advantages, policy losses, aggregation, KL and sequence objectives as
pure PyTorch functions), rollouts from transcripts, the policy trainer, `oversight train`, and TRL/verl adapters.

Each formula cites its paper in its module's docstring; tests/rl checks them by exact enumeration on small tabular
policies. Evidence tags where a detail is less than certain: [T] read in the paper's text (or a summary of it), not
its method section; [R] recalled, not verified against the paper; [N] checked numerically in tests/rl. Names are
imported lazily so that `import oversight.rl` does not import torch (the CLI imports this package; `--help` and
runs without training stay fast).
"""

from __future__ import annotations

import typing
from importlib import import_module

MODULE_ATTRS: dict[str, str] = {
    "aggregate": ".aggregation:aggregate",
    "AGG_MODES": ".aggregation:AGG_MODES",
    "grpo_advantages": ".advantages:grpo_advantages",
    "GRPO_SCALES": ".advantages:GRPO_SCALES",
    "rloo_advantages": ".advantages:rloo_advantages",
    "asym_reinforce_advantages": ".advantages:asym_reinforce_advantages",
    "passk_loo_advantages": ".advantages:passk_loo_advantages",
    "pkpo_advantages": ".advantages:pkpo_advantages",
    "sequence_logprob": ".losses:sequence_logprob",
    "reinforce_loss": ".losses:reinforce_loss",
    "ppo_clip_loss": ".losses:ppo_clip_loss",
    "ppo_clip_fraction": ".losses:ppo_clip_fraction",
    "KL_ESTIMATORS": ".kl:KL_ESTIMATORS",
    "kl_value": ".kl:kl_value",
    "kl_loss_k2_token": ".kl:kl_loss_k2_token",
    "kl_loss_k3_straight_through": ".kl:kl_loss_k3_straight_through",
    "kl_loss_k3_forward": ".kl:kl_loss_k3_forward",
    "kl_reward_to_go": ".kl:kl_reward_to_go",
    "kl_loss_sequence": ".kl:kl_loss_sequence",
    "agro_loss": ".objectives:agro_loss",
    "spo_q0": ".objectives:spo_q0",
    "spo_loss": ".objectives:spo_loss",
    "jepo_loss": ".objectives:jepo_loss",
    "jepo_multi_loss": ".objectives:jepo_multi_loss",
    "soft_dpo_target": ".objectives:soft_dpo_target",
    "soft_dpo_sft_loss": ".objectives:soft_dpo_sft_loss",
    "LossPreset": ".presets:LossPreset",
    "PRESETS": ".presets:PRESETS",
    "get_preset": ".presets:get_preset",
    "Rollout": ".rollouts:Rollout",
    "build_rollouts": ".rollouts:build_rollouts",
    "read_transcripts": ".rollouts:read_transcripts",
    "PolicyTrainer": ".trainer:PolicyTrainer",
    "LoraSettings": ".trainer:LoraSettings",
    "TrainConfig": ".config:TrainConfig",
    "train": ".train:train",
    "judge_reward_fn": ".adapters:judge_reward_fn",
    "make_compute_score": ".adapters:make_compute_score",
    "write_trl_jsonl": ".adapters:write_trl_jsonl",
    "write_verl_parquet": ".adapters:write_verl_parquet",
}

__all__ = [
    "AGG_MODES",
    "GRPO_SCALES",
    "KL_ESTIMATORS",
    "PRESETS",
    "LoraSettings",
    "LossPreset",
    "PolicyTrainer",
    "Rollout",
    "TrainConfig",
    "aggregate",
    "agro_loss",
    "asym_reinforce_advantages",
    "build_rollouts",
    "get_preset",
    "grpo_advantages",
    "jepo_loss",
    "jepo_multi_loss",
    "judge_reward_fn",
    "kl_loss_k2_token",
    "kl_loss_k3_forward",
    "kl_loss_k3_straight_through",
    "kl_loss_sequence",
    "kl_reward_to_go",
    "kl_value",
    "make_compute_score",
    "passk_loo_advantages",
    "pkpo_advantages",
    "ppo_clip_fraction",
    "ppo_clip_loss",
    "read_transcripts",
    "reinforce_loss",
    "rloo_advantages",
    "sequence_logprob",
    "soft_dpo_sft_loss",
    "soft_dpo_target",
    "spo_loss",
    "spo_q0",
    "train",
    "write_trl_jsonl",
    "write_verl_parquet",
]

if typing.TYPE_CHECKING:
    from .adapters import judge_reward_fn, make_compute_score, write_trl_jsonl, write_verl_parquet
    from .advantages import (
        GRPO_SCALES,
        asym_reinforce_advantages,
        grpo_advantages,
        passk_loo_advantages,
        pkpo_advantages,
        rloo_advantages,
    )
    from .aggregation import AGG_MODES, aggregate
    from .config import TrainConfig
    from .kl import (
        KL_ESTIMATORS,
        kl_loss_k2_token,
        kl_loss_k3_forward,
        kl_loss_k3_straight_through,
        kl_loss_sequence,
        kl_reward_to_go,
        kl_value,
    )
    from .losses import ppo_clip_fraction, ppo_clip_loss, reinforce_loss, sequence_logprob
    from .objectives import agro_loss, jepo_loss, jepo_multi_loss, soft_dpo_sft_loss, soft_dpo_target, spo_loss, spo_q0
    from .presets import PRESETS, LossPreset, get_preset
    from .rollouts import Rollout, build_rollouts, read_transcripts
    from .train import train
    from .trainer import LoraSettings, PolicyTrainer


def __getattr__(name: str) -> typing.Any:
    if name in MODULE_ATTRS:
        module_name, attr_name = MODULE_ATTRS[name].split(":")
        return getattr(import_module(module_name, __package__), attr_name)
    raise AttributeError(f"module {__package__} has no attribute {name}")
