"""aggregate(): the per-token coefficients of GRPO, DAPO (arXiv 2503.14476) and Dr. GRPO (arXiv 2503.20783),
padding invariance, global normalisation, errors."""

from __future__ import annotations

import pytest
import torch
from rl_enum import F64, t
from torch.testing import assert_close

from oversight.errors import ConfigError
from oversight.rl import AGG_MODES, aggregate, reinforce_loss

# A worked example: G = 2, |o| = (1, 3), A = (+1, −1), L_max = 4, ratio = 1.
MASK = t([[1, 0, 0, 0], [1, 1, 1, 0]])
ADV = t([1.0, -1.0])
EXPECTED = {  # coefficient c in loss = −Σ c·logp: (seq 1, each token of seq 2)
    "token-mean": (0.25, -0.25),
    "seq-mean-token-mean": (0.5, -1 / 6),
    "seq-mean-token-sum": (0.5, -0.5),
    "seq-mean-token-sum-norm": (0.25, -0.25),
}


@pytest.mark.parametrize("mode", AGG_MODES)
def test_coefficients_match_table(mode: str) -> None:
    logp = torch.zeros(2, 4, dtype=F64, requires_grad=True)
    loss = aggregate(reinforce_loss(logp, ADV), MASK, mode, max_len=4)
    (grad,) = torch.autograd.grad(loss, logp)
    c1, c2 = EXPECTED[mode]
    want = -t([[c1, 0, 0, 0], [c2, c2, c2, 0]])
    assert_close(grad, want)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_padding_changes_nothing(mode: str) -> None:
    gen = torch.Generator().manual_seed(0)
    per_token = torch.randn(2, 4, generator=gen, dtype=F64)
    base = aggregate(per_token, MASK, mode, max_len=8)
    # More padding columns, with garbage values under the zero mask.
    padded = torch.cat([per_token, 1e3 * torch.ones(2, 3, dtype=F64)], dim=1)
    padded_mask = torch.cat([MASK, torch.zeros(2, 3, dtype=F64)], dim=1)
    garbage = per_token.masked_fill(MASK == 0, 7.0)
    assert_close(aggregate(padded, padded_mask, mode, max_len=8), base)
    assert_close(aggregate(garbage, MASK, mode, max_len=8), base)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_two_micro_batches_with_global_counts_equal_one_batch(mode: str) -> None:
    gen = torch.Generator().manual_seed(1)
    per_token = torch.randn(4, 5, generator=gen, dtype=F64)
    mask = t([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0]])
    full = aggregate(per_token, mask, mode, max_len=5)
    n_tok, n_seq = mask.sum(), mask.shape[0]
    # The second micro-batch is padded only to its own width, as a collator would.
    parts = [(per_token[:2], mask[:2]), (per_token[2:, :3], mask[2:, :3])]
    total = sum(aggregate(p, m, mode, num_tokens=n_tok, num_seqs=n_seq, max_len=5) for p, m in parts)
    assert_close(total, full)


def test_local_token_mean_of_micro_batches_is_not_the_batch_mean() -> None:
    per_token = t([[1.0, 0.0], [3.0, 3.0]])
    mask = t([[1, 0], [1, 1]])
    halves = sum(aggregate(per_token[i : i + 1], mask[i : i + 1]) for i in range(2)) / 2
    assert not torch.isclose(halves, aggregate(per_token, mask))  # why num_tokens exists


def test_fully_masked_rows_give_zero_not_nan() -> None:
    per_token = t([[1.0, 2.0], [3.0, 4.0]])
    mask = torch.zeros(2, 2, dtype=F64)
    for mode in AGG_MODES:
        assert aggregate(per_token, mask, mode, max_len=2).item() == 0.0


def test_bool_mask_is_accepted() -> None:
    per_token = t([[1.0, 2.0], [3.0, 4.0]])
    assert_close(aggregate(per_token, torch.tensor([[True, False], [True, True]])), t(8.0 / 3))


def test_unknown_mode_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        aggregate(torch.zeros(1, 2), torch.ones(1, 2), "sum")
    assert "'sum'" in str(err.value)
    for mode in AGG_MODES:
        assert mode in str(err.value)


def test_shape_mismatch_and_missing_max_len_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="same shape"):
        aggregate(torch.zeros(2, 3), torch.ones(2, 4))
    with pytest.raises(ConfigError, match="max_len"):
        aggregate(torch.zeros(2, 3), torch.ones(2, 3), "seq-mean-token-sum-norm")
    with pytest.raises(ConfigError, match="num_tokens"):
        aggregate(torch.zeros(2, 3), torch.ones(2, 3), num_tokens=0)
