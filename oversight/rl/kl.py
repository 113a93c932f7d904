"""KL to a reference policy: estimator values and losses whose gradients are stated.

Tang & Munos (arXiv 2506.09477): differentiating a Monte-Carlo KL *estimate* does not in general give ∇KL, and
per-token KL losses miss that earlier tokens change the distribution of later ones. With δ_t = logp_t − ref_t and
samples y ~ π, Schulman's estimators (Schulman 2020, "Approximating KL divergence") behave as follows (checked by
exact enumeration in tests/rl/test_rl_kl.py):

| used as a loss (autograd) | expected gradient                                   | here                           |
|---------------------------|-----------------------------------------------------|--------------------------------|
| k1 = δ                    | 0, pure noise                                       | not offered as a loss          |
| k2 = δ²/2 per token       | ∇KL(π‖ref) for one token; *partial* for sequences  | `kl_loss_k2_token`             |
| k3 = e^{−δ} − 1 + δ       | ∇KL(π_ref‖π), the other direction                   | `kl_loss_k3_forward` only      |
| sg(Σ_{s≥t} δ_s)·logp_t    | ∇KL(π‖ref) over whole sequences                     | `kl_loss_sequence`             |

So the API has no generic "kl loss" switch: `kl_value` returns *detached* values (for logging and reward shaping),
and each differentiable form has a name that says which gradient it gives. All losses are per token, `(B, T)`;
`kl_loss_sequence` should be reduced with `aggregate(..., "seq-mean-token-sum")` to be the mean sequence KL gradient.
Samples from π_old instead of π need an importance ratio (TRL `use_bias_correction_kl`), which is not applied here.
"""

from __future__ import annotations

import torch

from oversight.rl import _checks

KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3")
"""Valid `estimator` values of `kl_value` (Schulman's k1, k2, k3)."""


def _delta(where: str, logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    _checks.same_shape(where, logp=logp, ref_logp=ref_logp)
    return logp - ref_logp.detach()  # (B, T)


def kl_value(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Per-token KL(π‖ref) estimate, detached. k1 and k3 are unbiased values, k2 is biased (Schulman 2020).

    Args:
        logp: `(B, T)` log-probs under π of tokens sampled from π.
        ref_logp: `(B, T)` log-probs under π_ref of the same tokens.
        estimator: one of `KL_ESTIMATORS`.

    Returns:
        Detached per-token values, `(B, T)`. Mask and sum them for a sequence KL.
    """
    _checks.choice("kl_value", "estimator", estimator, KL_ESTIMATORS)
    d = _delta("kl_value", logp, ref_logp).detach()  # (B, T)
    if estimator == "k1":
        return d
    if estimator == "k2":
        return 0.5 * d**2
    return torch.expm1(-d) + d


def kl_loss_k2_token(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k2 loss δ_t²/2, gradient δ_t·∇logp_t.

    Exact ∇KL(π‖ref) for single-token outputs (on-policy). For sequences it is only the *partial* gradient: it
    misses E[δ_{>t}·∇logp_t] (Tang & Munos, arXiv 2506.09477); use `kl_loss_sequence` for the full one.
    """
    return 0.5 * _delta("kl_loss_k2_token", logp, ref_logp) ** 2


def kl_loss_k3_straight_through(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """verl's "k3+" (`kl_penalty`): forward value k3 (unbiased, low variance), gradient of k2.

    Same gradient caveat as `kl_loss_k2_token` for sequences.
    """
    k2 = kl_loss_k2_token(logp, ref_logp)  # (B, T)
    k3 = kl_value(logp, ref_logp, "k3")  # (B, T), detached
    return k3 + (k2 - k2.detach())


def kl_loss_k3_forward(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """k3 differentiated as a loss, as in GRPO (DeepSeekMath, arXiv 2402.03300, §4.1) and TRL `beta > 0`.

    Its expected gradient is E_π[(1 − π_ref/π)∇log π] = ∇KL(π_ref‖π): the KL in the *other* direction from the
    KL(π‖π_ref) it estimates (per token; partial for sequences). Offered only under this explicit name, for
    reproducing GRPO.
    """
    d = _delta("kl_loss_k3_forward", logp, ref_logp)  # (B, T)
    return torch.expm1(-d) + d


def kl_reward_to_go(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Detached KL reward-to-go Σ_{s≥t} δ_s over the mask, `(B, T)` (γ = 1 returns of "k1 in reward").

    This is what verl `compute_rewards` + returns and OpenRLHF `get_cumulative_returns` compute (Tang & Munos,
    arXiv 2506.09477: the correct sequence-level KL gradient).
    Masked positions are 0.
    """
    _checks.same_shape("kl_reward_to_go", logp=logp, ref_logp=ref_logp, mask=mask)
    m = mask.to(logp.dtype)
    d = (logp.detach() - ref_logp.detach()) * m  # (B, T)
    rtg = d.flip(-1).cumsum(-1).flip(-1)  # (B, T): Σ_{s≥t} δ_s
    return rtg * m


def kl_loss_sequence(logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token surrogate sg(Σ_{s≥t} δ_s)·logp_t whose expected gradient is the full sequence ∇KL(π‖ref).

    Summed over a sequence's tokens (`aggregate(..., "seq-mean-token-sum")`) its expectation under y ~ π is
    ∇KL(π‖π_ref) over sequences (Tang & Munos, arXiv 2506.09477). Its *value* is not the KL; log `kl_value`.
    """
    return kl_reward_to_go(logp, ref_logp, mask) * logp
