"""Outcome advantages for groups of sampled completions: GRPO, RLOO, AsymRE and pass@k.

Rewards come as a `(num_groups, G)` tensor: row g holds the G completions of one prompt (for debate: one
(question, side) pair, since the reward, the judge's probability of a side, depends on the side). Flatten the result
with `.reshape(-1)` to match a batch whose sequences are stored group by group. Every function returns a detached
tensor of the rewards' shape.
"""

from __future__ import annotations

import math

import torch

from oversight.errors import ConfigError
from oversight.rl import _checks

GRPO_SCALES: tuple[str, ...] = ("group", "batch", "batch-centred", "none")
"""Valid `scale` values of `grpo_advantages` (TRL `scale_rewards`, plus Magistral's `batch-centred`)."""


def grpo_advantages(rewards: torch.Tensor, *, scale: str = "group", eps: float = 1e-4) -> torch.Tensor:
    """GRPO advantages Â_i = (r_i − mean_G r) / (std + eps) (DeepSeekMath, arXiv 2402.03300, §4.1.2).

    A group whose rewards are all equal gets exactly 0 (not NaN, not round-off/eps noise): it carries no signal
    and DAPO's dynamic sampling would drop it.

    Args:
        rewards: `(num_groups, G)`, G >= 2.
        scale: `"group"` divides by the group's std (GRPO), `"batch"` by the std of all rewards (TRL),
            `"batch-centred"` by the std of all group-centred rewards (Magistral [R]), `"none"` only centres
            (Dr. GRPO, OpenRLHF `dr_grpo`).
        eps: added to the std (TRL uses 1e-4, verl 1e-6).

    Returns:
        Detached advantages, `(num_groups, G)`.
    """
    _checks.group_size("grpo_advantages", rewards, 2)
    _checks.choice("grpo_advantages", "scale", scale, GRPO_SCALES)
    r = rewards.detach()
    centred = r - r.mean(dim=1, keepdim=True)  # (N, G)
    # Equal rewards can leave ~1e-17 of round-off in `centred`; zero the whole group so std scaling cannot blow it up.
    flat = r.amax(dim=1, keepdim=True) == r.amin(dim=1, keepdim=True)  # (N, 1)
    centred = torch.where(flat, torch.zeros_like(centred), centred)
    if scale == "none":
        return centred
    if scale == "group":
        denom = r.std(dim=1, keepdim=True) + eps  # (N, 1)
    elif scale == "batch":
        denom = r.std() + eps
    else:
        denom = centred.std() + eps
    # A zero std only occurs where `centred` is already exactly 0; dividing by 1 there keeps 0 instead of 0/0.
    return centred / torch.where(denom > 0, denom, torch.ones_like(denom))


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO advantages A_i = r_i − mean_{j≠i} r_j = G/(G−1)·(r_i − r̄) (Ahmadian et al., arXiv 2402.14740).

    Args:
        rewards: `(num_groups, G)`, G >= 2.

    Returns:
        Detached advantages, `(num_groups, G)`.
    """
    _checks.group_size("rloo_advantages", rewards, 2)
    r = rewards.detach()
    g = r.shape[1]
    loo_mean = (r.sum(dim=1, keepdim=True) - r) / (g - 1)  # (N, G)
    return r - loo_mean


def asym_reinforce_advantages(
    rewards: torch.Tensor, *, baseline: float | torch.Tensor | None = None, delta_v: float = 0.0
) -> torch.Tensor:
    """Asymmetric-REINFORCE weights r_i − V (Arnal et al., arXiv 2506.20520).

    Use with `reinforce_loss` and the `seq-mean-token-sum` mode: AsymRE needs the *summed* sequence log-prob.
    Off-policy, V must stay below V^μ = E_μ r: V ≥ V^μ collapses the policy's support (Arnal et al.).

    Args:
        rewards: `(num_groups, G)` or `(B,)`.
        baseline: V, a scalar or a tensor broadcastable to `rewards`. Default: the group mean of `rewards`
            (the mean over the last dim) plus `delta_v`.
        delta_v: offset added to the default baseline; slightly negative is the conservative choice [R].

    Returns:
        Detached weights, the shape of `rewards`.
    """
    r = rewards.detach()
    if baseline is None:
        v = r.mean(dim=-1, keepdim=True) + delta_v
    else:
        if delta_v != 0.0:
            raise ConfigError(
                f"asym_reinforce_advantages: pass baseline or delta_v, not both (delta_v={delta_v}); "
                "fold the offset into baseline"
            )
        v = torch.as_tensor(baseline, dtype=r.dtype, device=r.device).detach()
    return r - v


def passk_loo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """pass@k advantages with n = k: A_i = max_j r_j − max_{j≠i} r_j (arXiv 2503.19595; verl `grpo_passk`).

    Only the best sample gets a non-zero advantage (r_max − r_2nd). The empty max (G = 1) is taken as 0, so a lone
    sample's advantage is its reward. Unbiased when the loss *sums* over the group: E[Σ_i A_i ∇log π(y_i)] = ∇pass@k.

    Args:
        rewards: `(num_groups, k)`.

    Returns:
        Detached advantages, `(num_groups, k)`.
    """
    _checks.group_size("passk_loo_advantages", rewards, 1)
    r = rewards.detach()
    k = r.shape[1]
    if k == 1:
        return r.clone()
    top2 = r.topk(2, dim=1).values  # (N, 2)
    best = top2[:, :1]  # (N, 1)
    # max over the others: the runner-up for the (first) argmax, the max for everyone else.
    first_best = torch.zeros_like(r, dtype=torch.bool)
    first_best.scatter_(1, r.argmax(dim=1, keepdim=True), True)
    others_max = torch.where(first_best, top2[:, 1:], best)  # (N, k)
    return best - others_max


def _rho(n: int, c: int, k: int) -> float:
    """ρ(n, c, k) = 1 − C(n−c, k)/C(n, k): the unbiased pass@k estimate from c correct out of n."""
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pkpo_advantages(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """pass@k effective rewards for n >= k binary samples (Walder & Karkhanis, PKPO, arXiv 2505.15201).

    With c correct out of n: a correct sample gets k/n, an incorrect one (k/n)·ρ(n−1, c, k−1), where
    ρ(n, c, k) = 1 − C(n−c, k)/C(n, k).
    Unbiased when the loss sums over the group: E[Σ_i w_i ∇log π(y_i)] = ∇pass@k.

    Args:
        rewards: `(num_groups, n)` of 0/1 values.
        k: the k of pass@k, 1 <= k <= n.

    Returns:
        Detached weights, `(num_groups, n)`.
    """
    _checks.group_size("pkpo_advantages", rewards, 1)
    n = rewards.shape[1]
    if not 1 <= k <= n:
        raise ConfigError(
            f"pkpo_advantages: k must be in [1, n={n}], got {k}; sample at least k completions per prompt"
        )
    r = rewards.detach()
    if not bool(((r == 0) | (r == 1)).all()):
        raise ConfigError("pkpo_advantages: rewards must be 0/1, got other values; binarise them (e.g. r > 0.5)")
    out = torch.empty_like(r)
    for g, c in enumerate(r.sum(dim=1).round().long().tolist()):
        # ρ(·, ·, 0) = 0: with k = 1 wrong samples get 0. With c = n there is no wrong sample to weight.
        wrong = (k / n) * _rho(n - 1, c, k - 1) if c < n else 0.0
        out[g] = torch.where(r[g] == 1, torch.full_like(r[g], k / n), torch.full_like(r[g], wrong))
    return out
