"""Our GRPO/DAPO-style losses against TRL's `GRPOTrainer._compute_loss` on identical tensors: value and gradient.

TRL's method is called unbound on a minimal trainer object that holds only the attributes the loss path reads;
its per-token log-probs come from the same float64 logits as ours, so both losses differentiate the same leaf.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from torch.testing import assert_close

from oversight.rl import aggregate, get_preset, grpo_advantages, kl_loss_k3_forward, ppo_clip_loss

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer", reason="TRL is not installed (pip install 'oversight[rl]')")

B, T, V, G = 4, 5, 7, 2
LENGTHS = (5, 2, 4, 1)
MAX_COMPLETION = 6


def case(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(B, T)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1
    return {
        "logits": torch.randn(B, T, V, generator=gen, dtype=torch.float64),
        "ids": torch.randint(0, V, (B, T), generator=gen),
        "old": torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.3 - 1.5,
        "ref": torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.3 - 1.5,
        "rewards": torch.tensor([[1.0, 0.0], [0.3, 0.9]], dtype=torch.float64),
        "mask": mask.to(torch.float64),
    }


def token_logp(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, -1).gather(-1, ids[..., None]).squeeze(-1)


class _Accelerator:
    num_processes = 1

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        return x

    gather_for_metrics = gather

    def reduce(self, x: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        return x


def trl_loss(c: dict[str, torch.Tensor], leaf: torch.Tensor, rows: slice, *, loss_type: str, beta: float,
             eps_high: float, num_items: float, accumulation: int = 1, scale: str = "group") -> torch.Tensor:
    """TRL's loss of the rows `rows`, the log-probs taken from `leaf` (the logits we differentiate)."""
    logp = token_logp(leaf[rows], c["ids"][rows])
    trainer = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp, torch.zeros_like(logp), None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token",
        beta=beta, loss_type=loss_type, epsilon_low=0.2, epsilon_high=eps_high, use_vllm=False,
        vllm_importance_sampling_correction=False, model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=accumulation, accelerator=_Accelerator(),
        _entropy_bonus_enabled=False, aux_loss_enabled=False, _metrics={"train": defaultdict(list)},
        max_completion_length=MAX_COMPLETION,
        args=SimpleNamespace(delta=None, use_bias_correction_kl=False, steps_per_generation=accumulation),
    )
    advantages = grpo_advantages(c["rewards"], scale=scale).reshape(-1)[rows]
    inputs = {
        "prompt_ids": torch.zeros(logp.shape[0], 1, dtype=torch.long),
        "prompt_mask": torch.ones(logp.shape[0], 1, dtype=torch.long),
        "completion_ids": c["ids"][rows], "completion_mask": c["mask"][rows], "advantages": advantages,
        "old_per_token_logps": c["old"][rows], "ref_per_token_logps": c["ref"][rows],
        "num_items_in_batch": torch.tensor(num_items, dtype=torch.float64),
    }
    return trl_grpo.GRPOTrainer._compute_loss(trainer, None, inputs)


def our_loss(c: dict[str, torch.Tensor], leaf: torch.Tensor, preset: str, *, beta: float = 0.0) -> torch.Tensor:
    p = get_preset(preset)
    logp = token_logp(leaf, c["ids"])
    adv = grpo_advantages(c["rewards"], scale=p.scale).reshape(-1)
    per_token = ppo_clip_loss(logp, c["old"], adv, eps_low=p.eps_low, eps_high=p.eps_high)
    if beta:
        per_token = per_token + beta * kl_loss_k3_forward(logp, c["ref"])
    return aggregate(per_token, c["mask"], p.agg_mode, max_len=MAX_COMPLETION)


def value_and_grad(loss_fn, c: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = c["logits"].clone().requires_grad_(True)
    loss = loss_fn(leaf)
    loss.backward()
    return loss.detach(), leaf.grad


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grpo_with_k3_kl_matches_trl(seed: int) -> None:
    c = case(seed)
    ours = value_and_grad(lambda leaf: our_loss(c, leaf, "grpo", beta=0.04), c)
    theirs = value_and_grad(lambda leaf: trl_loss(c, leaf, slice(None), loss_type="grpo", beta=0.04, eps_high=0.2,
                                                  num_items=float(c["mask"].sum())), c)
    assert_close(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])
    assert ours[1].abs().sum() > 0  # the clip leaves some gradient: the comparison is not 0 == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dapo_matches_trl(seed: int) -> None:
    c = case(seed)
    ours = value_and_grad(lambda leaf: our_loss(c, leaf, "dapo"), c)
    theirs = value_and_grad(lambda leaf: trl_loss(c, leaf, slice(None), loss_type="dapo", beta=0.0, eps_high=0.28,
                                                  num_items=float(c["mask"].sum())), c)
    assert_close(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])


def test_dr_grpo_matches_trl_up_to_its_documented_factor() -> None:
    c = case(3)
    ours = value_and_grad(lambda leaf: our_loss(c, leaf, "dr-grpo"), c)
    theirs = value_and_grad(lambda leaf: trl_loss(c, leaf, slice(None), loss_type="dr_grpo", beta=0.0, eps_high=0.2,
                                                  num_items=float(c["mask"].sum()), scale="none"), c)
    # TRL divides by B·L_max, we by L_max (verl): a constant factor B (presets.py).
    assert_close(ours[0] / B, theirs[0])
    assert_close(ours[1] / B, theirs[1])


def test_dapo_micro_batches_sum_to_our_full_batch() -> None:
    """TRL's accumulation (num_items_in_batch over the generation batch) equals our global token normalisation."""
    c = case(4)
    total = float(c["mask"].sum())
    ours = value_and_grad(lambda leaf: our_loss(c, leaf, "dapo"), c)

    def two_micro_batches(leaf: torch.Tensor) -> torch.Tensor:
        return sum(trl_loss(c, leaf, rows, loss_type="dapo", beta=0.0, eps_high=0.28, num_items=total,
                            accumulation=2) for rows in (slice(0, 2), slice(2, 4)))

    theirs = value_and_grad(two_micro_batches, c)
    assert_close(ours[0], theirs[0])
    assert_close(ours[1], theirs[1])
