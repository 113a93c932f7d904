"""Presets by name, the lazy package import, and one preset driving the whole per-token pipeline."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from rl_enum import F64, t
from torch.testing import assert_close

from oversight.errors import ConfigError
from oversight.rl import AGG_MODES, GRPO_SCALES, PRESETS, aggregate, get_preset, grpo_advantages, ppo_clip_loss
from oversight.rl.presets import KL_KINDS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_consistent(name: str) -> None:
    p = get_preset(name)
    assert p.name == name and p.agg_mode in AGG_MODES and p.scale in GRPO_SCALES and p.kl in KL_KINDS
    assert p.advantage in ("grpo", "rloo") and p.policy_loss in ("ppo_clip", "reinforce")
    assert p.ratio_level in ("token", "sequence") and 0 < p.eps_low <= p.eps_high
    assert (p.kl == "none") == (p.kl_coef == 0.0)


def test_documented_values() -> None:
    assert get_preset("DAPO").eps_high == 0.28 and get_preset("dapo").agg_mode == "token-mean"
    assert get_preset("dr_grpo").scale == "none" and get_preset("DeepSeekMath").kl == "k3_forward"
    assert get_preset("grpo").agg_mode == "seq-mean-token-mean" and get_preset("rloo").advantage == "rloo"
    assert get_preset("magistral").kl == "none"


def test_unknown_preset_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        get_preset("ppo-max")
    assert "'ppo-max'" in str(err.value)
    for name in ("grpo", "dr-grpo", "dapo", "rloo", "magistral"):
        assert name in str(err.value)


def test_import_is_lazy() -> None:
    code = "import sys, oversight.rl; assert 'torch' not in sys.modules; oversight.rl.get_preset('dapo')"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dapo_micro_batches_equal_one_batch_in_value_and_gradient() -> None:
    p = get_preset("dapo")
    gen = torch.Generator().manual_seed(3)
    old = torch.randn(4, 6, generator=gen, dtype=F64)
    mask = t([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
    adv = grpo_advantages(t([[1.0, 0.0], [0.3, 0.9]]), scale=p.scale).reshape(-1)
    kw = {"eps_low": p.eps_low, "eps_high": p.eps_high, "dual_clip": p.dual_clip}

    def run(chunks):
        logp = (old + 0.3 * torch.randn(4, 6, generator=torch.Generator().manual_seed(4), dtype=F64)).requires_grad_()
        total = sum(
            aggregate(ppo_clip_loss(logp[s], old[s], adv[s], **kw), mask[s], p.agg_mode, num_tokens=mask.sum())
            for s in chunks
        )
        return total, torch.autograd.grad(total, logp)[0]

    one, g_one = run([slice(0, 4)])
    two, g_two = run([slice(0, 2), slice(2, 4)])
    assert_close(one, two)
    assert_close(g_one, g_two)
