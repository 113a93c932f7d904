"""AGRO (arXiv 2503.19612), SPO (arXiv 2503.05453), JEPO (arXiv 2503.19618) and soft-label DPO + SFT (Arnesen et
al. 2024, arXiv 2409.16636), against values computed by hand or by exact enumeration."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from rl_enum import F64, expected_grad, param, t
from torch.testing import assert_close

from oversight.errors import ConfigError
from oversight.rl import (
    agro_loss,
    jepo_loss,
    jepo_multi_loss,
    soft_dpo_sft_loss,
    soft_dpo_target,
    spo_loss,
    spo_q0,
)

# §D/§G: r = [1, .5, 0], ref logits [.3, 0, −.2], β = .5.
R, BETA = t([1.0, 0.5, 0.0]), 0.5
REF_LOGP = torch.log_softmax(t([0.3, 0.0, -0.2]), 0)
PI_STAR = t([0.738216, 0.201187, 0.060596])


def test_pi_star_matches_vector() -> None:
    assert_close(torch.softmax(REF_LOGP + R / BETA, 0), PI_STAR, atol=1e-6, rtol=0)


def _agro_expected(logits: torch.Tensor, mu: torch.Tensor, g: int = 3) -> torch.Tensor:
    """E over groups of g samples from μ of −∇agro_loss."""

    def loss(ys):
        seq_logp = torch.log_softmax(logits, 0)[list(ys)].unsqueeze(0)  # (1, g)
        return agro_loss(seq_logp, REF_LOGP[list(ys)].unsqueeze(0), R[list(ys)].unsqueeze(0), BETA)

    return -expected_grad([logits], 3, g, lambda ys: torch.prod(mu[list(ys)]), loss)


@pytest.mark.parametrize("mu", [REF_LOGP.exp(), t([0.6, 0.3, 0.1])])
def test_agro_is_stationary_at_pi_star_for_any_mu(mu: torch.Tensor) -> None:
    logits = param((REF_LOGP + R / BETA).tolist())
    assert_close(_agro_expected(logits, mu), torch.zeros(3, dtype=F64), atol=1e-12, rtol=0)


def test_agro_expected_gradient_is_the_regularised_covariance() -> None:
    logits, mu, g = param([0.1, -0.2, 0.3]), t([0.6, 0.3, 0.1]), 3
    pi = torch.softmax(logits, 0).detach()
    reg = R - BETA * (torch.log(pi) - REF_LOGP)
    pop = sum(mu[y] * (reg[y] - (mu * reg).sum()) * (torch.eye(3, dtype=F64)[y] - pi) for y in range(3))
    assert_close(_agro_expected(logits, mu, g), (1 - 1 / g) * pop)  # the group mean costs a factor (1 − 1/G)


def test_naive_kl_in_advantage_is_not_stationary_at_pi_star() -> None:
    mu, pi = REF_LOGP.exp(), PI_STAR
    adv = (R - (mu * R).sum()) - BETA * (torch.log(pi) - REF_LOGP)  # baseline from the raw reward only
    g = sum(mu[y] * adv[y] * (torch.eye(3, dtype=F64)[y] - pi) for y in range(3))
    assert g.abs().max() > 1e-3


def test_agro_surrogate_equals_variance_loss_gradient() -> None:
    ys, logits = [0, 1, 1, 2], param([0.1, -0.2, 0.3])
    seq_logp = torch.log_softmax(logits, 0)[ys].unsqueeze(0)
    loss = agro_loss(seq_logp, REF_LOGP[ys].unsqueeze(0), R[ys].unsqueeze(0), BETA)
    g_sur = torch.autograd.grad(loss, logits, retain_graph=True)[0]
    reg = R[ys] - BETA * (seq_logp[0] - REF_LOGP[ys])
    var = ((reg - reg.mean()) ** 2).sum() / (2 * BETA * len(ys))
    assert_close(g_sur, torch.autograd.grad(var, logits)[0])


def _spo_expected(logits: torch.Tensor, d: torch.Tensor, q0: float) -> torch.Tensor:
    def loss(ys):
        y = ys[0]
        lp = torch.log_softmax(logits, 0)[y].reshape(1, 1)
        return spo_loss(lp, REF_LOGP[y].reshape(1, 1), R[y].reshape(1, 1), q0, BETA)

    return expected_grad([logits], 3, 1, lambda ys: d[ys[0]], loss)


def test_spo_is_stationary_at_pi_star_only_with_the_right_q0() -> None:
    q0 = BETA * math.log((REF_LOGP.exp() * torch.exp(R / BETA)).sum().item())
    logits = param((REF_LOGP + R / BETA).tolist())
    for d in (t([0.1, 0.1, 0.8]), t([0.5, 0.25, 0.25])):
        assert_close(_spo_expected(logits, d, q0), torch.zeros(3, dtype=F64), atol=1e-12, rtol=0)
        assert _spo_expected(logits, d, q0 + 0.1).abs().max() > 1e-3


def test_spo_q0_and_bce_kind() -> None:
    assert_close(spo_q0(t([[0.0, 1.0]]), 0.5), t([[0.5 * math.log((1 + math.e**2) / 2)]]))
    lp = t([[-1.0]]).requires_grad_(True)
    loss = spo_loss(lp, t([[-0.5]]), t([[1.0]]), -0.2, 0.5, kind="bce")  # Q = −.2 − .25 = −.45: −log e^Q
    assert_close(loss, t(0.45))
    with pytest.raises(ConfigError, match="'squared', 'bce'"):
        spo_loss(lp, lp, lp, 0.0, 0.5, kind="huber")


# §F: CoT logits [.2, −.1, .4], answer logits w = [1, −.5, .3], p(a*|c) = sigmoid(w_c).
LC, W = [0.2, -0.1, 0.4], [1.0, -0.5, 0.3]
JEPO_1 = t([0.089349, -0.099071, 0.009722, 0.090790, 0.155670, 0.175469])
JEPO_3 = t([0.089831, -0.091139, 0.001308, 0.106629, 0.116844, 0.176951])


def _jepo_expected(n: int, loss_fn) -> torch.Tensor:
    lc, w = param(LC), param(W)
    pc = torch.softmax(lc, 0).detach()

    def loss(ys):
        cot = torch.log_softmax(lc, 0)[list(ys)].unsqueeze(0)  # (1, n)
        ans = F.logsigmoid(w)[list(ys)].unsqueeze(0)  # (1, n)
        return loss_fn(cot, ans)

    return -expected_grad([lc, w], 3, n, lambda ys: torch.prod(pc[list(ys)]), loss)


def test_jepo_bound_value() -> None:
    pc, ell = torch.softmax(t(LC), 0), F.logsigmoid(t(W))
    assert_close((pc * ell).sum(), t(-0.577933), atol=1e-6, rtol=0)


@pytest.mark.parametrize(("n", "kw"), [(1, {"baseline": 0.37}), (2, {}), (3, {})])
def test_jepo_single_sample_estimator_is_unbiased(n: int, kw: dict) -> None:
    assert_close(_jepo_expected(n, lambda c, a: jepo_loss(c, a, **kw)), JEPO_1, atol=1e-6, rtol=0)


def test_jepo_without_supervised_term_is_biased() -> None:
    g = _jepo_expected(2, lambda c, a: jepo_loss(c, a, alpha=0.0))
    assert not torch.allclose(g, JEPO_1, atol=1e-3)


def test_jepo_multi_sample_estimator_is_unbiased() -> None:
    assert_close(_jepo_expected(3, jepo_multi_loss), JEPO_3, atol=1e-6, rtol=0)


def test_soft_dpo_target_and_loss() -> None:
    cs, cr = t([0.8, 0.5]), t([0.4, 0.5])
    p = soft_dpo_target(cs, cr, m=2.25)
    assert_close(p, cs**2.25 / (cs**2.25 + cr**2.25))
    pc, pr = t([-3.0, -2.0]).requires_grad_(True), t([-4.0, -2.5])
    rc, rr = t([-3.5, -2.0]), t([-3.5, -2.0])
    loss = soft_dpo_sft_loss(pc, pr, rc, rr, p, beta=0.5, alpha=0.1)
    delta = (pc - pr) - (rc - rr)
    want = 0.9 * (-p * F.logsigmoid(0.5 * delta) - (1 - p) * F.logsigmoid(-0.5 * delta)) + 0.1 * -pc
    assert_close(loss, want.mean())
    # d/d log π_c = [(1−α)·β·(σ(βΔ) − p) − α] / B
    g = torch.autograd.grad(loss, pc)[0]
    assert_close(g, (0.9 * 0.5 * (torch.sigmoid(0.5 * delta) - p) - 0.1).detach() / 2)
    with pytest.raises(ConfigError, match="alpha"):
        soft_dpo_sft_loss(pc, pr, rc, rr, p, alpha=1.5)
