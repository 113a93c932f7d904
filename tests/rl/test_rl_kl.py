"""KL estimators and losses against exact enumeration (Schulman 2020, "Approximating KL divergence"; Tang & Munos,
arXiv 2506.09477, on which gradient each estimator gives)."""

from __future__ import annotations

import pytest
import torch
from rl_enum import F64, expected_grad, param, t
from torch.testing import assert_close

from oversight.errors import ConfigError
from oversight.rl import (
    KL_ESTIMATORS,
    aggregate,
    kl_loss_k2_token,
    kl_loss_k3_forward,
    kl_loss_k3_straight_through,
    kl_loss_sequence,
    kl_reward_to_go,
    kl_value,
)

# §A bandit: logits l = [.5, −.3, .1], ref logits [.2, .4, −.6].
L, LREF = [0.5, -0.3, 0.1], t([0.2, 0.4, -0.6])
REF_LOGP = torch.log_softmax(LREF, 0)
GRAD_KL = t([0.040330, -0.193861, 0.153531])
SIX = {"atol": 1e-6, "rtol": 0}


def _bandit_expected(loss_fn) -> tuple[torch.Tensor, torch.Tensor]:
    """E_{y~π}[∇ loss_fn(logp (1,1), ref (1,1))] and π, for the §A bandit."""
    logits = param(L)
    probs = torch.softmax(logits, 0).detach()

    def loss(ys: tuple[int, ...]) -> torch.Tensor:
        logp = torch.log_softmax(logits, 0)[ys[0]].reshape(1, 1)
        return loss_fn(logp, REF_LOGP[ys[0]].reshape(1, 1)).sum()

    return expected_grad([logits], 3, 1, lambda ys: probs[ys[0]], loss), probs


def test_true_kl_gradient_matches_vector() -> None:
    logits = param(L)
    logp = torch.log_softmax(logits, 0)
    kl = (logp.exp() * (logp - REF_LOGP)).sum()
    assert_close(kl.detach(), t(0.145616), **SIX)
    assert_close(torch.autograd.grad(kl, logits)[0], GRAD_KL, **SIX)


def test_pitfall_k1_as_loss_has_zero_mean_gradient() -> None:
    g, _ = _bandit_expected(lambda logp, ref: logp - ref)  # what a naive "k1 loss" would do
    assert_close(g, torch.zeros(3, dtype=F64), atol=1e-15, rtol=0)
    # The API's k1 is a detached value, so the pitfall cannot be written with it.
    assert not kl_value(param([0.0]).reshape(1, 1), torch.zeros(1, 1, dtype=F64), "k1").requires_grad


def test_k2_token_loss_gives_kl_gradient_for_one_token() -> None:
    g, _ = _bandit_expected(kl_loss_k2_token)
    assert_close(g, GRAD_KL, **SIX)


def test_pitfall_k3_as_loss_gives_the_other_kl_direction() -> None:
    g, probs = _bandit_expected(kl_loss_k3_forward)
    ref_probs = REF_LOGP.exp()
    assert_close(g, probs - ref_probs)
    assert_close(g, t([0.097347, -0.245346, 0.147999]), **SIX)
    # ... which is ∇KL(π_ref‖π), not ∇KL(π‖π_ref).
    logits = param(L)
    fwd = (ref_probs * (REF_LOGP - torch.log_softmax(logits, 0))).sum()
    assert_close(g, torch.autograd.grad(fwd, logits)[0])
    assert not torch.allclose(g, GRAD_KL, atol=1e-3)


def test_k1_in_reward_gives_kl_gradient() -> None:
    g, _ = _bandit_expected(lambda logp, ref: kl_loss_sequence(logp, ref, torch.ones_like(logp)))
    assert_close(g, GRAD_KL, **SIX)


def test_straight_through_k3_has_k3_value_and_k2_gradient() -> None:
    logp = t([[-0.7, -1.2, -0.1]]).requires_grad_(True)
    ref = t([[-1.0, -0.4, -0.3]])
    st = kl_loss_k3_straight_through(logp, ref)
    assert_close(st.detach(), kl_value(logp, ref, "k3"))
    g_st = torch.autograd.grad(st.sum(), logp)[0]
    g_k2 = torch.autograd.grad(kl_loss_k2_token(logp, ref).sum(), logp)[0]
    assert_close(g_st, g_k2)


@pytest.mark.parametrize(("estimator", "want"), [("k1", 0.145616), ("k2", 0.138239), ("k3", 0.145616)])
def test_estimator_values(estimator: str, want: float) -> None:
    probs = torch.softmax(t(L), 0)
    logp = torch.log(probs).reshape(3, 1)
    vals = kl_value(logp, REF_LOGP.reshape(3, 1), estimator).reshape(3)
    assert_close((probs * vals).sum(), t(want), **SIX)


# Length-2 sequences over vocab 3; a, B for π; ar, Br for π_ref: small enough to enumerate every sequence.
A0 = [0.3, -0.2, 0.5]
B0 = [[0.1, 0.7, -0.4], [-0.5, 0.2, 0.9], [0.0, -0.8, 0.4]]
AR, BR = t([0.0, 0.1, -0.1]), t([[0.3, 0.0, 0.2], [0.1, -0.3, 0.4], [-0.2, 0.5, 0.0]])


def _seq_logps(a: torch.Tensor, b: torch.Tensor, ys: tuple[int, int], pad: int = 0) -> tuple[torch.Tensor, ...]:
    """(1, 2 + pad) logp and ref rows for sequence ys, with `pad` garbage columns and the matching mask."""
    y1, y2 = ys
    logp = torch.stack([torch.log_softmax(a, 0)[y1], torch.log_softmax(b[y1], 0)[y2]])
    ref = torch.stack([torch.log_softmax(AR, 0)[y1], torch.log_softmax(BR[y1], 0)[y2]])
    mask = torch.cat([torch.ones(2, dtype=F64), torch.zeros(pad, dtype=F64)])
    logp = torch.cat([logp, 2.0 * logp.sum() * torch.ones(pad, dtype=F64)])  # garbage that carries gradient
    ref = torch.cat([ref, 5.0 * torch.ones(pad, dtype=F64)])
    return logp.unsqueeze(0), ref.unsqueeze(0), mask.unsqueeze(0)


def _seq_setup():
    a, b = param(A0), torch.tensor(B0, dtype=F64, requires_grad=True)
    p1, p2 = torch.softmax(a, 0).detach(), torch.softmax(b, 1).detach()
    return a, b, lambda ys: p1[ys[0]] * p2[ys[0], ys[1]]


def _exact_seq_kl_grad() -> tuple[torch.Tensor, torch.Tensor]:
    a, b, _ = _seq_setup()
    kl = 0.0
    for y1 in range(3):
        for y2 in range(3):
            logp, ref, _ = _seq_logps(a, b, (y1, y2))
            kl = kl + logp.sum().exp() * (logp - ref).sum()
    ga, gb = torch.autograd.grad(kl, [a, b])
    return kl.detach(), torch.cat([ga, gb.reshape(-1)])


@pytest.mark.parametrize("pad", [0, 2])
def test_sequence_surrogate_gives_exact_sequence_kl_gradient(pad: int) -> None:
    kl, g_exact = _exact_seq_kl_grad()
    assert_close(kl, t(0.238198), **SIX)
    a, b, prob = _seq_setup()

    def loss(ys):
        logp, ref, mask = _seq_logps(a, b, ys, pad)
        return aggregate(kl_loss_sequence(logp, ref, mask), mask, "seq-mean-token-sum")

    assert_close(expected_grad([a, b], 3, 2, prob, loss), g_exact)


def test_pitfall_per_token_k2_gives_partial_sequence_gradient() -> None:
    _, g_exact = _exact_seq_kl_grad()
    a, b, prob = _seq_setup()

    def loss(ys):
        logp, ref, mask = _seq_logps(a, b, ys)
        return aggregate(kl_loss_k2_token(logp, ref), mask, "seq-mean-token-sum")

    g_tok = expected_grad([a, b], 3, 2, prob, loss)
    assert_close(g_tok[:3], t([-0.000313, -0.128877, 0.129190]), **SIX)
    assert_close(g_exact[:3], t([-0.009729, -0.146233, 0.155962]), **SIX)
    assert_close(g_tok[3:], g_exact[3:])  # only the first-token parameters are wrong


def test_reward_to_go_values_and_mask() -> None:
    logp, ref = t([[-1.0, -2.0, -3.0, 9.0]]), t([[-1.5, -1.0, -2.0, 0.0]])
    mask = t([[1, 1, 1, 0]])
    assert_close(kl_reward_to_go(logp, ref, mask), t([[-1.5, -2.0, -1.0, 0.0]]))


def test_unknown_estimator_and_shape_mismatch() -> None:
    with pytest.raises(ConfigError) as err:
        kl_value(torch.zeros(1, 2), torch.zeros(1, 2), "k4")
    assert all(k in str(err.value) for k in KL_ESTIMATORS)
    with pytest.raises(ConfigError, match="same shape"):
        kl_loss_k2_token(torch.zeros(1, 2), torch.zeros(2, 2))
