"""Advantages: GRPO (arXiv 2402.03300) / RLOO (arXiv 2402.14740) identities, pass@k (arXiv 2503.19595) and PKPO
(arXiv 2505.15201) by exact enumeration, AsymRE (arXiv 2506.20520)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rl_enum import F64, expected_grad, param, t
from torch.testing import assert_close

from oversight.errors import ConfigError
from oversight.rl import (
    aggregate,
    asym_reinforce_advantages,
    grpo_advantages,
    passk_loo_advantages,
    pkpo_advantages,
    reinforce_loss,
    rloo_advantages,
)


@pytest.mark.parametrize("scale", ["group", "batch", "batch-centred", "none"])
def test_all_equal_groups_give_exact_zero(scale: str) -> None:
    rewards = t([[0.1, 0.1, 0.1], [1.0, 0.0, 0.5], [0.7, 0.7, 0.7]])
    adv = grpo_advantages(rewards, scale=scale)
    assert torch.isfinite(adv).all()
    assert (adv[0] == 0).all() and (adv[2] == 0).all()
    assert adv[1].abs().sum() > 0


def test_all_equal_batch_is_zero_even_with_tiny_eps() -> None:
    adv = grpo_advantages(t([[0.3, 0.3], [0.3, 0.3]]), eps=0.0)
    assert not torch.isnan(adv).any() and (adv == 0).all()


def test_grpo_values() -> None:
    r = t([[1.0, 0.0, 0.0, 1.0]])
    std = r.std()  # unbiased, as TRL and verl
    assert_close(grpo_advantages(r, eps=0.0), (r - 0.5) / std)
    assert_close(grpo_advantages(r, scale="none"), r - 0.5)


def test_rloo_is_leave_one_out_and_rescaled_centring() -> None:
    r = t([[1.0, 0.5, 0.0, 0.2], [3.0, -1.0, 2.0, 2.0]])
    loo = torch.stack([r[:, i] - torch.cat([r[:, :i], r[:, i + 1 :]], 1).mean(1) for i in range(4)], 1)
    assert_close(rloo_advantages(r), loo)
    assert_close(rloo_advantages(r), 4 / 3 * (r - r.mean(1, keepdim=True)))


def test_advantages_are_detached_and_groups_checked() -> None:
    r = t([[1.0, 0.0]]).requires_grad_(True)
    assert not grpo_advantages(r).requires_grad and not rloo_advantages(r).requires_grad
    with pytest.raises(ConfigError, match="at least 2"):
        grpo_advantages(t([[1.0]]))
    with pytest.raises(ConfigError, match="reshape"):
        rloo_advantages(t([1.0, 0.0]))
    with pytest.raises(ConfigError, match="scale"):
        grpo_advantages(t([[1.0, 0.0]]), scale="std")


# A three-armed bandit: arms r = [1, 0, 0], logits [−.4, .3, .1], k = 3.
PASSK_R = [1.0, 0.0, 0.0]
PASSK_EXACT = t([0.311874, -0.171479, -0.140395])


def _group_reinforce_grad(logits: torch.Tensor, ys: tuple[int, ...], adv: torch.Tensor) -> torch.Tensor:
    """Loss −Σ_i A_i log π(y_i) for one group, built from the public per-token API (T = 1)."""
    logp = torch.log_softmax(logits, 0)[list(ys)].unsqueeze(-1)  # (n, 1)
    # seq-mean-token-sum divides by n; the pass@k estimators are unbiased for the *sum* over the group.
    return len(ys) * aggregate(reinforce_loss(logp, adv.reshape(-1)), torch.ones_like(logp), "seq-mean-token-sum")


@pytest.mark.parametrize(("n", "make_adv"), [(3, passk_loo_advantages), (5, lambda r: pkpo_advantages(r, k=3))])
def test_passk_estimators_are_unbiased(n: int, make_adv) -> None:
    logits = param([-0.4, 0.3, 0.1])
    probs = torch.softmax(logits, 0).detach()

    def loss(ys: tuple[int, ...]) -> torch.Tensor:
        adv = make_adv(t([[PASSK_R[y] for y in ys]]))
        return _group_reinforce_grad(logits, ys, adv)

    g = expected_grad([logits], 3, n, lambda ys: torch.prod(probs[list(ys)]), loss)
    assert_close(-g, PASSK_EXACT, atol=1e-6, rtol=0)
    p0 = probs[0]
    closed = 3 * (1 - p0) ** 2 * p0 * (torch.eye(3, dtype=F64)[0] - probs)
    assert_close(-g, closed)


def test_passk_loo_values() -> None:
    r = t([[0.0, 1.0, 0.3], [1.0, 1.0, 0.0], [0.2, 0.2, 0.2]])
    assert_close(passk_loo_advantages(r), t([[0.0, 0.7, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert_close(passk_loo_advantages(t([[0.4], [1.0]])), t([[0.4], [1.0]]))


def test_pkpo_misuse() -> None:
    with pytest.raises(ConfigError, match="k must be"):
        pkpo_advantages(t([[1.0, 0.0]]), k=3)
    with pytest.raises(ConfigError, match="0/1"):
        pkpo_advantages(t([[0.5, 0.0]]), k=1)


# AsymRE: r = [1, .5, 0], μ = [.2, .3, .5], V^μ = .35.
R, MU = t([1.0, 0.5, 0.0]), t([0.2, 0.3, 0.5])


@pytest.mark.parametrize("v", [-0.5, 0.0, 0.25, 0.6])
def test_asym_reinforce_expected_update_is_closed_form(v: float) -> None:
    logits = param([0.3, -0.1, 0.2])
    pi = torch.softmax(logits, 0).detach()

    def loss(ys: tuple[int, ...]) -> torch.Tensor:
        logp = torch.log_softmax(logits, 0)[list(ys)].unsqueeze(-1)  # (1, 1) off-policy sample from μ
        adv = asym_reinforce_advantages(R[list(ys)], baseline=v)
        return aggregate(reinforce_loss(logp, adv), torch.ones_like(logp), "seq-mean-token-sum")

    g = -expected_grad([logits], 3, 1, lambda ys: MU[ys[0]], loss)
    v_mu = (MU * R).sum()
    assert_close(g, MU * (R - v) - pi * (v_mu - v))


def _asym_limit(v: float, steps: int, lr: float = 0.5) -> np.ndarray:
    """Euler steps of the tabular AsymRE ODE (the closed form checked just above)."""
    mu, r = MU.numpy(), R.numpy()
    lg = np.zeros(3)
    for _ in range(steps):
        p = np.exp(lg - lg.max())
        p /= p.sum()
        lg += lr * (mu * (r - v) - p * ((mu * r).sum() - v))
    p = np.exp(lg - lg.max())
    return p / p.sum()


@pytest.mark.parametrize(
    ("v", "steps", "want", "atol"),
    [
        (-0.5, 5000, [0.352941, 0.352941, 0.294118], 1e-5),
        (0.2, 100000, [0.733333, 0.266667, 0.0], 1e-3),
        (0.6, 20000, [1.0, 0.0, 0.0], 1e-3),
    ],
)
def test_asym_reinforce_limit_policies(v: float, steps: int, want: list[float], atol: float) -> None:
    assert_close(torch.from_numpy(_asym_limit(v, steps)), t(want), atol=atol, rtol=0)


def test_asym_default_baseline_is_group_mean_plus_offset() -> None:
    r = t([[1.0, 0.0, 0.5]])
    assert_close(asym_reinforce_advantages(r, delta_v=-0.1), r - 0.4)
    with pytest.raises(ConfigError, match="not both"):
        asym_reinforce_advantages(r, baseline=0.1, delta_v=-0.1)
