"""One policy-gradient step on a transformers causal LM from a batch of rollouts, with any loss preset.

`PolicyTrainer(model, tokenizer, preset="grpo")` owns an AdamW optimiser over the model's trainable
parameters (`lora=LoraSettings(...)` wraps the model in a peft LoRA adapter first: `pip install 'oversight[rl]'`).
`step(rollouts)`:

1. advantages per group (`Rollout.group`): GRPO (the preset's std scaling) or RLOO; groups of one rollout carry
   no baseline and are dropped, and so are all-equal groups when the preset drops flat groups (DAPO, Magistral);
2. the kept rollouts go through the model in micro-batches of `micro_batch_size` (right-padded prompt +
   completion); the loss of each micro-batch is normalised by the token and sequence counts of the *whole*
   batch, so summing micro-batch gradients gives exactly the full batch's gradient (`accumulate`);
3. the preset's policy loss (PPO-clip against the behaviour log-probs the rollouts carry, or the current ones,
   detached, when they carry none; or REINFORCE), its KL to the reference model (the model as it was when the
   trainer was built; under LoRA, the model with the adapter switched off), aggregated in its mode;
4. gradient-norm clipping and one optimiser step.

`save(path)` writes a model folder (LoRA merged in) with the tokenizer; `hf:/that/path` loads it in a later run.
"""

from __future__ import annotations

import copy
import dataclasses
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from oversight.errors import ConfigError
from oversight.rl import kl as kl_fns
from oversight.rl.advantages import grpo_advantages, rloo_advantages
from oversight.rl.aggregation import aggregate
from oversight.rl.losses import ppo_clip_loss, reinforce_loss, sequence_logprob
from oversight.rl.presets import LossPreset, get_preset
from oversight.rl.rollouts import Rollout, group_indices


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class StepStats:
    loss: float
    rollouts: int
    """Rollouts that entered the loss (after dropping singleton and flat groups)."""
    tokens: int
    reward_mean: float
    seconds: float
    peak_rss_mb: float
    """Peak resident memory of the process so far (MB)."""


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    mask: torch.Tensor
    """(B, L-1): 1 where the target token is a completion token."""
    old_logp: torch.Tensor | None
    advantages: torch.Tensor


def advantages_for(rollouts: Sequence[Rollout], preset: LossPreset) -> tuple[list[int], torch.Tensor]:
    """(indices of the rollouts kept, their advantages) per the preset (module docstring, step 1)."""
    kept: list[int] = []
    centred: list[torch.Tensor] = []
    for idx in group_indices(rollouts).values():
        rewards = torch.tensor([[rollouts[i].reward for i in idx]], dtype=torch.float64)  # (1, G)
        if len(idx) < 2 or (preset.drop_flat_groups and bool(rewards.max() == rewards.min())):
            continue
        kept += idx
        if preset.advantage == "rloo":
            centred.append(rloo_advantages(rewards)[0])
        else:
            scale = preset.scale if preset.scale in ("group", "none") else "none"
            centred.append(grpo_advantages(rewards, scale=scale)[0])
    if not kept:
        return [], torch.zeros(0, dtype=torch.float64)
    adv = torch.cat(centred)
    if preset.advantage == "grpo" and preset.scale in ("batch", "batch-centred"):
        all_rewards = torch.tensor([rollouts[i].reward for i in kept], dtype=torch.float64)
        denom = (all_rewards.std() if preset.scale == "batch" else adv.std()) + 1e-4
        adv = adv / denom if len(kept) > 1 and denom > 0 else adv
    return kept, adv


class PolicyTrainer:
    """Trains `model` on rollouts with a loss preset (module docstring)."""

    def __init__(self, model: torch.nn.Module, tokenizer: object, *, preset: str | LossPreset = "grpo",
                 lr: float = 1e-5, micro_batch_size: int = 8, max_new_tokens: int = 256,
                 kl_coef: float | None = None, grad_clip: float | None = 1.0, lora: LoraSettings | None = None,
                 reference: torch.nn.Module | None = None) -> None:
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        if micro_batch_size < 1:
            raise ConfigError(f"micro_batch_size must be >= 1, got {micro_batch_size}")
        self.kl_coef = self.preset.kl_coef if kl_coef is None else kl_coef
        self.uses_kl = self.preset.kl != "none" and self.kl_coef > 0
        self.lora = lora is not None
        if lora is not None:
            model = _wrap_lora(model, lora)
        elif self.uses_kl and reference is None:
            reference = copy.deepcopy(model).eval().requires_grad_(False)
        self.model, self.tokenizer, self.reference = model, tokenizer, reference
        self.micro_batch_size, self.max_new_tokens, self.grad_clip = micro_batch_size, max_new_tokens, grad_clip
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.0)
        self.pad_id = getattr(tokenizer, "pad_token_id", None) or getattr(tokenizer, "eos_token_id", 0) or 0

    # ---------------------------------------------------------------------------------- tensors

    def _batch(self, rollouts: Sequence[Rollout], advantages: torch.Tensor) -> Batch:
        seqs = [r.prompt_ids + r.completion_ids for r in rollouts]
        width = max(len(s) for s in seqs)
        device = next(self.model.parameters()).device
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros((len(seqs), width - 1), dtype=torch.float64)
        old = torch.zeros((len(seqs), width - 1), dtype=torch.float64)
        have_old = all(r.logprobs is not None for r in rollouts)
        for i, (r, s) in enumerate(zip(rollouts, seqs)):
            input_ids[i, :len(s)] = torch.tensor(s)
            attention[i, :len(s)] = 1
            start, end = len(r.prompt_ids) - 1, len(s) - 1  # target positions of the completion tokens
            mask[i, start:end] = 1
            if have_old:
                old[i, start:end] = torch.tensor(r.logprobs, dtype=old.dtype)
        return Batch(input_ids.to(device), attention.to(device), mask.to(device),
                     old.to(device) if have_old else None, advantages.to(device))

    def _token_logp(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
        logits = logits[:, :-1]
        if logits.dtype in (torch.float16, torch.bfloat16):  # log-softmax in at least float32
            logits = logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        return logp.gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)  # (B, L-1)

    @torch.no_grad()
    def _reference_logp(self, batch: Batch) -> torch.Tensor:
        if self.lora:
            with self.model.disable_adapter():
                return self._token_logp(self.model, batch)
        assert self.reference is not None
        return self._token_logp(self.reference, batch)

    # ---------------------------------------------------------------------------------- the loss

    def micro_batch_loss(self, batch: Batch, *, num_tokens: float, num_seqs: float) -> torch.Tensor:
        """The preset's loss of one micro-batch, normalised by the whole batch's counts (module docstring, step 3)."""
        p = self.preset
        logp = self._token_logp(self.model, batch)
        old = batch.old_logp.to(logp.dtype) if batch.old_logp is not None else logp.detach()
        mask, adv = batch.mask.to(logp.dtype), batch.advantages.to(logp.dtype)
        if p.ratio_level == "sequence":  # TRL RLOO: one ratio per sequence
            lp, old_lp, m = sequence_logprob(logp, mask)[:, None], sequence_logprob(old, mask)[:, None], None
        else:
            lp, old_lp, m = logp, old, mask
        if p.policy_loss == "reinforce":
            per_token = reinforce_loss(lp, adv)
        else:
            per_token = ppo_clip_loss(lp, old_lp, adv, eps_low=p.eps_low, eps_high=p.eps_high, dual_clip=p.dual_clip)
        if m is None:
            m = torch.ones_like(per_token)
        loss = aggregate(per_token, m, p.agg_mode, num_tokens=num_tokens, num_seqs=num_seqs,
                         max_len=self.max_new_tokens)
        if self.uses_kl and p.kl != "k1_in_reward":
            ref = self._reference_logp(batch)
            if p.kl == "sequence":
                kl = kl_fns.kl_loss_sequence(logp, ref, mask)
                loss = loss + self.kl_coef * aggregate(kl, mask, "seq-mean-token-sum", num_seqs=num_seqs)
            else:
                kl = getattr(kl_fns, f"kl_loss_{p.kl}")(logp, ref)
                loss = loss + self.kl_coef * aggregate(kl, mask, p.agg_mode, num_tokens=num_tokens,
                                                       num_seqs=num_seqs, max_len=self.max_new_tokens)
        return loss

    def _k1_penalties(self, rollouts: Sequence[Rollout]) -> list[float]:
        """β·Σ_t (logπ − logπ_ref) per rollout ("k1 in reward", TRL RLOO), on the current weights."""
        out: list[float] = []
        for start in range(0, len(rollouts), self.micro_batch_size):
            chunk = rollouts[start:start + self.micro_batch_size]
            batch = self._batch(chunk, torch.zeros(len(chunk)))
            with torch.no_grad():
                d = (self._token_logp(self.model, batch) - self._reference_logp(batch)) * batch.mask
            out += (self.kl_coef * d.sum(-1)).tolist()
        return out

    def accumulate(self, rollouts: Sequence[Rollout]) -> tuple[float, int, int]:
        """Backpropagate the batch's loss micro-batch by micro-batch into `.grad`; (loss, rollouts kept, tokens)."""
        if self.uses_kl and self.preset.kl == "k1_in_reward":
            rollouts = [dataclasses.replace(r, reward=r.reward - pen)
                        for r, pen in zip(rollouts, self._k1_penalties(rollouts))]
        kept, adv = advantages_for(rollouts, self.preset)
        if not kept:
            return 0.0, 0, 0
        chosen = [rollouts[i] for i in kept]
        num_tokens = float(sum(len(r.completion_ids) for r in chosen))
        num_seqs = float(len(chosen))
        total = 0.0
        self.model.train()
        for start in range(0, len(chosen), self.micro_batch_size):
            batch = self._batch(chosen[start:start + self.micro_batch_size], adv[start:start + self.micro_batch_size])
            loss = self.micro_batch_loss(batch, num_tokens=num_tokens, num_seqs=num_seqs)
            loss.backward()
            total += float(loss.detach())
        self.model.eval()
        return total, len(chosen), int(num_tokens)

    def step(self, rollouts: Sequence[Rollout]) -> StepStats:
        """One update from `rollouts` (module docstring)."""
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss, kept, tokens = self.accumulate(rollouts)
        if kept:
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        reward = sum(r.reward for r in rollouts) / max(1, len(rollouts))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return StepStats(loss, kept, tokens, reward, time.perf_counter() - start, rss)

    # ---------------------------------------------------------------------------------- checkpoints

    def save(self, path: str | Path) -> Path:
        """A model folder (LoRA merged into a copy) with the tokenizer; load it as `hf:<path>`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        model = copy.deepcopy(self.model).merge_and_unload() if self.lora else self.model
        model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path


def _wrap_lora(model: torch.nn.Module, settings: LoraSettings) -> torch.nn.Module:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        raise ConfigError(f"LoRA training needs peft ({e}); pip install 'oversight[rl]', or train in full") from None
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=list(settings.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, config)
