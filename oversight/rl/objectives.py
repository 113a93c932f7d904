"""Sequence-level objectives from the Meta/Munos line (AGRO, SPO, JEPO) and the debate literature (Arnesen et al.).

These work on *summed* sequence log-probs (`sequence_logprob`), shaped `(num_groups, G)` like the rewards: the
off-policy fixed-point arguments of AGRO and SPO need summed, not length-normalised, log-probs (length
normalisation changes the objective: Dr. GRPO, arXiv 2503.20783). Each returns a scalar loss to minimise. Forms
marked [R] are reconstructed, not read in the papers' method sections; [N]: the property checked numerically by
exact enumeration in tests/rl/test_rl_objectives.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from oversight.errors import ConfigError
from oversight.rl import _checks

SPO_KINDS: tuple[str, ...] = ("squared", "bce")
"""Valid `kind` values of `spo_loss`."""


def agro_loss(seq_logp: torch.Tensor, seq_ref_logp: torch.Tensor, rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """AGRO-style loss (Tang et al., arXiv 2503.19612; form [R], fixed point [N]).

    R_i = r_i − β·(log π(y_i) − log π_ref(y_i)), Â_i = R_i − mean_j R_j, L = −mean_i sg(Â_i)·log π(y_i).
    The baseline is the mean of the *regularised* reward, so π* ∝ π_ref·e^{r/β} is stationary for any full-support
    sampling distribution; same gradient as (1/(2βG))·Σ_i (R_i − R̄)² per group.

    Args:
        seq_logp: summed log π(y), `(num_groups, G)`, with gradient.
        seq_ref_logp: summed log π_ref(y), `(num_groups, G)`.
        rewards: `(num_groups, G)`.
        beta: KL coefficient, > 0.
    """
    _checks.same_shape("agro_loss", seq_logp=seq_logp, seq_ref_logp=seq_ref_logp, rewards=rewards)
    _checks.group_size("agro_loss", rewards, 2)
    _checks.positive("agro_loss", "beta", beta)
    reg = rewards.detach() - beta * (seq_logp.detach() - seq_ref_logp.detach())  # (N, G)
    adv = reg - reg.mean(dim=1, keepdim=True)  # (N, G)
    return -(adv * seq_logp).mean()


def spo_q0(ref_rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """Q̂₀ = β·log mean_j exp(r_j/β) over samples from π_ref, `(num_groups, M)` -> `(num_groups, 1)` (SPO).

    A biased Q̂₀ shifts SPO's fixed point.
    """
    _checks.group_size("spo_q0", ref_rewards, 1)
    _checks.positive("spo_q0", "beta", beta)
    r = ref_rewards.detach() / beta
    return beta * (torch.logsumexp(r, dim=1, keepdim=True) - math.log(r.shape[1]))


def spo_loss(
    seq_logp: torch.Tensor,
    seq_ref_logp: torch.Tensor,
    rewards: torch.Tensor,
    q0: torch.Tensor | float,
    beta: float,
    *,
    kind: str = "squared",
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """SPO terminal Q-regression (Cohen et al., arXiv 2503.05453; details [R]).

    Q_T = Q̂₀ + β·(log π(y) − log π_ref(y)) (cumulative Q-parameterisation, summed over tokens). `squared`:
    ½(Q_T − r)²; `bce`: Q_T read as log P(success), clipped to ≤ 0, against r ∈ [0, 1]. With the right Q̂₀ the
    expected gradient is zero at π* under any sampling distribution.

    Args:
        seq_logp: summed log π(y), `(num_groups, G)`, with gradient.
        seq_ref_logp: summed log π_ref(y), `(num_groups, G)`.
        rewards: `(num_groups, G)`.
        q0: Q̂₀, scalar or `(num_groups, 1)` (see `spo_q0`); detached.
        beta: KL coefficient, > 0.
        kind: one of `SPO_KINDS`.
        weights: optional importance weights for data from older policies, `(num_groups, G)`; detached.
    """
    _checks.same_shape("spo_loss", seq_logp=seq_logp, seq_ref_logp=seq_ref_logp, rewards=rewards)
    _checks.positive("spo_loss", "beta", beta)
    _checks.choice("spo_loss", "kind", kind, SPO_KINDS)
    q0 = torch.as_tensor(q0, dtype=seq_logp.dtype, device=seq_logp.device).detach()
    q = q0 + beta * (seq_logp - seq_ref_logp.detach())  # (N, G)
    r = rewards.detach()
    if kind == "squared":
        per = 0.5 * (q - r) ** 2
    else:
        q = q.clamp(max=-1e-6)  # log P(success) must be < 0
        per = -(r * q + (1.0 - r) * torch.log(-torch.expm1(q)))
    if weights is not None:
        _checks.same_shape("spo_loss", weights=weights, rewards=rewards)
        per = per * weights.detach()
    return per.mean()


def jepo_loss(
    cot_logp: torch.Tensor, answer_logp: torch.Tensor, *, alpha: float = 1.0, baseline: float | None = None
) -> torch.Tensor:
    """Single-sample JEPO / Jensen-bound loss (Tang, Wang & Munos, arXiv 2503.19618; weights [R]).

    L₁ = E_c log π(a*|x, c) ≥ log p(a*|x). Loss: −mean_i[sg(ℓ_i − b_i)·log π(c_i|x) + α·ℓ_i], ℓ_i the
    teacher-forced answer log-likelihood. α = 1 gives the exact bound gradient; b_i is the leave-one-out mean of ℓ
    (needs G >= 2) or a given constant (any constant keeps it unbiased).

    Args:
        cot_logp: summed log π(c_i|x) of the sampled chains of thought, `(num_groups, G)`, with gradient.
        answer_logp: ℓ_i = log π(a*|x, c_i), `(num_groups, G)`, with gradient.
        alpha: weight of the supervised answer term.
        baseline: constant b; None uses the leave-one-out mean.
    """
    _checks.same_shape("jepo_loss", cot_logp=cot_logp, answer_logp=answer_logp)
    _checks.positive("jepo_loss", "alpha", alpha, strict=False)
    ell = answer_logp.detach()  # (N, G)
    if baseline is None:
        _checks.group_size("jepo_loss", ell, 2)
        b = (ell.sum(dim=1, keepdim=True) - ell) / (ell.shape[1] - 1)  # (N, G) leave-one-out mean
    else:
        _checks.group_size("jepo_loss", ell, 1)
        b = torch.full_like(ell, float(baseline))
    return -((ell - b) * cot_logp + alpha * answer_logp).mean()


def _log_mean_exp(x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.logsumexp(x, dim=dim) - math.log(x.shape[dim])


def jepo_multi_loss(cot_logp: torch.Tensor, answer_logp: torch.Tensor) -> torch.Tensor:
    """Multi-sample JEPO loss for L_n = E log((1/n)Σ_i π(a*|c_i)) (arXiv 2503.19618; estimator [N]).

    Per group: −[Σ_i sg(L̂ − b_i)·log π(c_i) + L̂] with L̂ = log mean_j e^{ℓ_j} (its gradient is Σ_i softmax(ℓ)_i ∇ℓ_i)
    and the leave-one-out b_i = log mean_{j≠i} e^{ℓ_j}; the mean over groups is returned. Unbiased for ∇L_n.

    Args:
        cot_logp: summed log π(c_i|x), `(num_groups, n)`, n >= 2, with gradient.
        answer_logp: ℓ_i = log π(a*|x, c_i), `(num_groups, n)`, with gradient.
    """
    _checks.same_shape("jepo_multi_loss", cot_logp=cot_logp, answer_logp=answer_logp)
    _checks.group_size("jepo_multi_loss", answer_logp, 2)
    n = answer_logp.shape[1]
    bound = _log_mean_exp(answer_logp, dim=1)  # (N,), with gradient through ℓ
    ell = answer_logp.detach()
    others = ell.unsqueeze(1).expand(-1, n, -1)  # (N, n, n): row i holds all ℓ_j
    keep = ~torch.eye(n, dtype=torch.bool, device=ell.device)  # (n, n)
    b = _log_mean_exp(others.masked_select(keep).view(ell.shape[0], n, n - 1), dim=2)  # (N, n)
    score_term = ((bound.detach().unsqueeze(1) - b) * cot_logp).sum(dim=1)  # (N,)
    return -(score_term + bound).mean()


def soft_dpo_target(conf_chosen: torch.Tensor, conf_rejected: torch.Tensor, m: float = 2.25) -> torch.Tensor:
    """Soft label p = c_sel^m/(c_sel^m + c_rej^m) = σ(m·(log c_sel − log c_rej)) (Arnesen et al., arXiv 2409.16636).

    c are the judge's confidences in each speech's side; m = 2.25 is nyu-debate-modeling's default (`LOG_PROB`).
    """
    _checks.same_shape("soft_dpo_target", conf_chosen=conf_chosen, conf_rejected=conf_rejected)
    return torch.sigmoid(m * (torch.log(conf_chosen) - torch.log(conf_rejected))).detach()


def soft_dpo_sft_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    target: torch.Tensor,
    *,
    beta: float = 0.1,
    alpha: float = 0.005,
) -> torch.Tensor:
    """Soft-label DPO plus SFT on the chosen speech (Arnesen, Rein, Michael 2024, `smoothed_dpo_trainer.py` "bon").

    Δ = (log π_c − log π_r) − (log ref_c − log ref_r);
    L = mean[(1−α)·(−p·logσ(βΔ) − (1−p)·logσ(−βΔ)) + α·(−log π(chosen))] (Arnesen et al., arXiv 2409.16636).

    Args:
        policy_chosen, policy_rejected: summed log π of each speech, `(B,)`, with gradient.
        ref_chosen, ref_rejected: summed log π_ref, `(B,)`.
        target: soft label p in [0, 1], `(B,)` (see `soft_dpo_target`).
        beta: DPO temperature (`kl_penalty`: 0.1 or 0.5 in their configs).
        alpha: SFT weight (0.005 in their code).
    """
    _checks.same_shape(
        "soft_dpo_sft_loss",
        policy_chosen=policy_chosen,
        policy_rejected=policy_rejected,
        ref_chosen=ref_chosen,
        ref_rejected=ref_rejected,
        target=target,
    )
    _checks.positive("soft_dpo_sft_loss", "beta", beta)
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"soft_dpo_sft_loss: alpha must be in [0, 1], got {alpha}; use 0.005 (Arnesen et al.)")
    p = target.detach()
    delta = (policy_chosen - policy_rejected) - (ref_chosen.detach() - ref_rejected.detach())  # (B,)
    dpo = -p * F.logsigmoid(beta * delta) - (1.0 - p) * F.logsigmoid(-beta * delta)  # (B,)
    return ((1.0 - alpha) * dpo - alpha * policy_chosen).mean()
