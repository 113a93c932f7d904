"""Aggregation of per-token losses into one scalar: the normalisations of GRPO, Dr. GRPO and DAPO, by their names
in verl and TRL.

Every mode is a weighted sum `Σ_{i,t} c_{i,t}·loss_{i,t}` over unmasked tokens; the modes differ only in the
denominator. The test vector G = 2, |o| = (1, 3), A = (+1, −1), L_max = 4 (tests/rl/test_rl_aggregate.py) gives
per-token coefficients (seq 1; each token of seq 2):

| mode                      | formula              | c             | used by                                  |
|---------------------------|----------------------|---------------|------------------------------------------|
| `token-mean`              | ΣΣ / Σ|o|            | .25; −.25     | verl default, TRL bnpo/dapo, DAPO        |
| `seq-mean-token-mean`     | (1/G)Σ_i (1/|o_i|)Σ_t | .5; −.1667   | original GRPO, TRL `grpo`                |
| `seq-mean-token-sum`      | (1/G)ΣΣ              | .5; −.5       | verl; sequence-level REINFORCE/AsymRE    |
| `seq-mean-token-sum-norm` | ΣΣ / L_max           | .25; −.25     | verl; Dr. GRPO up to the constant 1/G    |

Global normalisation across micro-batches (TRL `num_items_in_batch`, verl `batch_num_tokens`): pass the count for
the *whole* batch (`num_tokens` for `token-mean`, `num_seqs` for the seq-mean modes) and sum the micro-batch losses;
the sum then equals the loss of the full batch. `seq-mean-token-sum-norm` needs `max_len`, a fixed generation
budget, so that right-padding a micro-batch cannot change its loss (verl's default, the padded width, would).
"""

from __future__ import annotations

import torch

from oversight.errors import ConfigError
from oversight.rl import _checks

AGG_MODES: tuple[str, ...] = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
"""Valid `mode` values of `aggregate`."""


def _count(name: str, value: float | torch.Tensor | None, local: torch.Tensor) -> torch.Tensor:
    """The normaliser: the caller's global count if given, else the local one; clamped to at least 1."""
    if value is None:
        return local.clamp(min=1.0)
    count = torch.as_tensor(value, dtype=local.dtype, device=local.device)
    if bool((count <= 0).any()):
        raise ConfigError(
            f"aggregate: {name} must be > 0, got {value}; pass the token/sequence count of the full batch"
        )
    return count


def aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "token-mean",
    *,
    num_tokens: float | torch.Tensor | None = None,
    num_seqs: float | torch.Tensor | None = None,
    max_len: int | None = None,
) -> torch.Tensor:
    """Reduce a `(B, T)` per-token loss to a scalar.

    Args:
        per_token: per-token loss, `(B, T)`.
        mask: 1 for response tokens, 0 for padding, `(B, T)` (bool or float).
        mode: one of `AGG_MODES`.
        num_tokens: for `token-mean`, the number of unmasked tokens in the full batch (all micro-batches, all
            ranks). Default: this call's own count.
        num_seqs: for the seq-mean modes, the number of sequences in the full batch. Default: B.
        max_len: for `seq-mean-token-sum-norm`, the constant L_max (required).

    Returns:
        A scalar tensor. Fully masked rows contribute 0 (denominators are clamped to at least 1).
    """
    _checks.same_shape("aggregate", per_token=per_token, mask=mask)
    _checks.ndim("aggregate", "per_token", per_token, (2,), "pass (B, T) tensors")
    _checks.choice("aggregate", "mode", mode, AGG_MODES)
    m = mask.to(per_token.dtype)  # (B, T)
    masked = per_token * m  # (B, T)
    n_seqs = _count("num_seqs", num_seqs, per_token.new_tensor(float(per_token.shape[0])))
    if mode == "token-mean":
        return masked.sum() / _count("num_tokens", num_tokens, m.sum())
    if mode == "seq-mean-token-mean":
        per_seq = masked.sum(-1) / m.sum(-1).clamp(min=1.0)  # (B,)
        return per_seq.sum() / n_seqs
    if mode == "seq-mean-token-sum":
        return masked.sum() / n_seqs
    if max_len is None or max_len <= 0:
        raise ConfigError(
            "aggregate: mode 'seq-mean-token-sum-norm' needs max_len > 0 (the generation budget L_max), "
            f"got {max_len}; "
            "pass max_len=<max new tokens> so padding cannot change the loss"
        )
    return masked.sum() / float(max_len)
