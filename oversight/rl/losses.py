"""Per-token policy-gradient losses over padded `(B, T)` tensors: REINFORCE-style and PPO-clip.

Every function is pure: it returns a `(B, T)` per-token loss to be *minimised*, and `aggregate` reduces it with a
mask. `logp` carries the gradient; `old_logp`, `ref_logp` and advantages are detached here whatever the caller
passes: a gradient through them would optimise a different objective.
"""

from __future__ import annotations

import torch

from oversight.errors import ConfigError
from oversight.rl import _checks


def _per_token_adv(where: str, advantages: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Broadcast `(B,)` or `(B, T)` advantages to `(B, T)`, detached."""
    a = advantages.detach()
    if a.ndim == 1:
        a = a.unsqueeze(-1)  # (B, 1)
    _checks.ndim(where, "advantages", a, (2,), "pass (B,) sequence or (B, T) token advantages")
    if a.shape[0] != logp.shape[0] or a.shape[1] not in (1, logp.shape[1]):
        raise ConfigError(
            f"{where}: advantages of shape {tuple(advantages.shape)} do not match logp {tuple(logp.shape)}; "
            "flatten group advantages with .reshape(-1) so there is one per sequence"
        )
    return a.expand_as(logp)  # (B, T)


def sequence_logprob(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log π(y) = Σ_t logp_t over the mask, `(B, T)` -> `(B,)`. Keeps the gradient."""
    _checks.same_shape("sequence_logprob", logp=logp, mask=mask)
    return (logp * mask.to(logp.dtype)).sum(-1)  # (B,)


def reinforce_loss(logp: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """REINFORCE surrogate −sg(A)·logp_t, per token.

    With sequence advantages and `aggregate(..., "seq-mean-token-sum")` this is −mean_i sg(A_i)·log π(y_i): plain
    REINFORCE, RLOO, pass@k and, with `asym_reinforce_advantages`, AsymRE (Arnal et al., arXiv 2506.20520). No
    importance ratio: on off-policy data it optimises E_μ[A·log π], which is what AsymRE analyses.

    Args:
        logp: log π_θ(y_t | x, y_<t), `(B, T)`, with gradient.
        advantages: `(B,)` per sequence or `(B, T)` per token.

    Returns:
        Per-token loss, `(B, T)`.
    """
    return -_per_token_adv("reinforce_loss", advantages, logp) * logp


def ppo_clip_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float | None = None,
    dual_clip: float | None = None,
) -> torch.Tensor:
    """PPO-clip loss max(−ρA, −clip(ρ, 1−eps_low, 1+eps_high)·A), per token (Schulman et al., arXiv 1707.06347).

    ρ_t = exp(logp_t − old_t). Asymmetric clipping (DAPO "clip-higher": eps_low .2, eps_high .28) keeps
    low-probability tokens able to grow. Dual-clip (verl `clip_ratio_c`, OpenRLHF `dual_clip`, c = 3) caps the loss
    at −c·A for A < 0, so a huge ratio on a bad token cannot dominate. The log-ratio is not clamped: clamping
    silently zeroes gradients.

    Args:
        logp: current log-probs, `(B, T)`, with gradient.
        old_logp: sampling-policy log-probs, `(B, T)`.
        advantages: `(B,)` or `(B, T)`.
        eps_low: lower clip range, > 0.
        eps_high: upper clip range; None means eps_low (symmetric).
        dual_clip: c > 1, or None to disable.

    Returns:
        Per-token loss, `(B, T)`. With ρ = 1 its gradient equals `reinforce_loss`'s.
    """
    _checks.same_shape("ppo_clip_loss", logp=logp, old_logp=old_logp)
    eps_high = eps_low if eps_high is None else eps_high
    _checks.positive("ppo_clip_loss", "eps_low", eps_low)
    _checks.positive("ppo_clip_loss", "eps_high", eps_high)
    if dual_clip is not None and dual_clip <= 1.0:
        raise ConfigError(f"ppo_clip_loss: dual_clip must be > 1, got {dual_clip}; use 3.0 (verl) or None")
    a = _per_token_adv("ppo_clip_loss", advantages, logp)  # (B, T)
    ratio = torch.exp(logp - old_logp.detach())  # (B, T)
    unclipped = -a * ratio
    clipped = -a * ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    loss = torch.maximum(unclipped, clipped)  # (B, T)
    if dual_clip is not None:
        loss = torch.where(a < 0, torch.minimum(loss, -dual_clip * a), loss)
    return loss


def ppo_clip_fraction(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    mask: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float | None = None,
) -> torch.Tensor:
    """Fraction of unmasked tokens whose ratio lies outside [1−eps_low, 1+eps_high] (a logging metric, detached)."""
    _checks.same_shape("ppo_clip_fraction", logp=logp, old_logp=old_logp, mask=mask)
    eps_high = eps_low if eps_high is None else eps_high
    ratio = torch.exp(logp.detach() - old_logp.detach())  # (B, T)
    out = ((ratio < 1.0 - eps_low) | (ratio > 1.0 + eps_high)).to(logp.dtype)
    m = mask.to(logp.dtype)
    return (out * m).sum() / m.sum().clamp(min=1.0)
