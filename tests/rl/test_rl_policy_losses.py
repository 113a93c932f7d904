"""reinforce_loss / ppo_clip_loss: ratio-1 equivalence, the PPO clipping cases (Schulman et al. 2017, arXiv
1707.06347, eq. 7) worked by hand, errors."""

from __future__ import annotations

import math

import pytest
import torch
from rl_enum import F64, t
from torch.testing import assert_close

from oversight.errors import ConfigError
from oversight.rl import aggregate, ppo_clip_fraction, ppo_clip_loss, reinforce_loss, sequence_logprob


def _grad_coef(ratio: float, adv: float, **kw: float) -> float:
    """d loss / d logp for one token with ρ = ratio."""
    logp = torch.tensor([[math.log(ratio)]], dtype=F64, requires_grad=True)
    loss = ppo_clip_loss(logp, torch.zeros(1, 1, dtype=F64), t([adv]), **kw).sum()
    (g,) = torch.autograd.grad(loss, logp)
    return g.item()


@pytest.mark.parametrize(
    ("ratio", "adv", "kw", "want"),
    [
        (1.3, +1.0, {}, 0.0),  # clipped above: no push further up
        (1.3, -1.0, {}, 1.3),  # pessimistic branch is unclipped: coefficient ρ·|A|
        (0.7, -1.0, {}, 0.0),  # clipped below
        (0.7, +1.0, {}, -0.7),
        (4.0, -1.0, {"dual_clip": 3.0}, 0.0),  # dual-clip caps the loss at c·|A|
        (2.5, -1.0, {"dual_clip": 3.0}, 2.5),  # below c the dual clip is inactive
        (1.25, +1.0, {"eps_high": 0.28}, -1.25),  # clip-higher lets 1.25 through...
        (1.3, +1.0, {"eps_high": 0.28}, 0.0),  # ...but not 1.3
        (0.75, -1.0, {"eps_high": 0.28}, 0.0),  # eps_low still .2
    ],
)
def test_clip_cases(ratio: float, adv: float, kw: dict, want: float) -> None:
    # By hand the clipped gradients have magnitudes (0, 1.3, 0, 0.7, 0); here the sign is that of d loss/d logp.
    assert _grad_coef(ratio, adv, **kw) == pytest.approx(want, abs=1e-12)


def test_ratio_one_gradient_equals_reinforce() -> None:
    gen = torch.Generator().manual_seed(0)
    old = torch.randn(3, 4, generator=gen, dtype=F64)
    logp = old.clone().requires_grad_(True)
    adv, mask = t([0.5, -1.0, 2.0]), t([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    g_ppo = torch.autograd.grad(aggregate(ppo_clip_loss(logp, old, adv), mask), logp)[0]
    g_re = torch.autograd.grad(aggregate(reinforce_loss(logp, adv), mask), logp)[0]
    assert_close(g_ppo, g_re)
    assert_close(ppo_clip_loss(logp, old, adv), -adv[:, None].expand(3, 4) * torch.ones(3, 4, dtype=F64))


def test_inputs_other_than_logp_are_detached() -> None:
    logp = torch.zeros(1, 2, dtype=F64, requires_grad=True)
    old = torch.zeros(1, 2, dtype=F64, requires_grad=True)
    adv = torch.ones(1, dtype=F64, requires_grad=True)
    ppo_clip_loss(logp, old, adv).sum().backward()
    assert old.grad is None and adv.grad is None and logp.grad is not None


def test_token_advantages_and_sequence_logprob() -> None:
    logp = t([[-1.0, -2.0, -5.0]]).requires_grad_(True)
    assert_close(sequence_logprob(logp, t([[1, 1, 0]])), t([-3.0]))
    assert_close(reinforce_loss(logp, t([[1.0, 2.0, 3.0]])).detach(), t([[1.0, 4.0, 15.0]]))


def test_clip_fraction() -> None:
    logp = torch.log(t([[1.0, 1.5, 0.5, 1.1]]))
    assert_close(ppo_clip_fraction(logp, torch.zeros(1, 4, dtype=F64), t([[1, 1, 1, 0]])), t(2 / 3))


def test_misuse_is_a_config_error() -> None:
    z = torch.zeros(2, 3, dtype=F64)
    with pytest.raises(ConfigError, match="same shape"):
        ppo_clip_loss(z, torch.zeros(2, 4, dtype=F64), t([1.0, 1.0]))
    with pytest.raises(ConfigError, match="reshape"):
        reinforce_loss(z, t([1.0, 1.0, 1.0]))
    with pytest.raises(ConfigError, match="dual_clip"):
        ppo_clip_loss(z, z, t([1.0, 1.0]), dual_clip=1.0)
    with pytest.raises(ConfigError, match="eps_low"):
        ppo_clip_loss(z, z, t([1.0, 1.0]), eps_low=0.0)
