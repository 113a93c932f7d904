"""Exact-enumeration helpers for the loss tests: every sequence of a tiny policy is listed, so expectations are sums.

The expected gradient of an estimator is Σ_y p(y).detach()·∇loss(y): the weight is detached, otherwise the
sampling distribution itself would be differentiated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch

F64 = torch.float64


def t(values: Sequence[float] | Sequence[Sequence[float]]) -> torch.Tensor:
    """A float64 tensor."""
    return torch.tensor(values, dtype=F64)


def param(values: Sequence[float]) -> torch.Tensor:
    """A float64 leaf tensor that requires grad (a tabular policy's logits)."""
    return torch.tensor(values, dtype=F64, requires_grad=True)


def expected_grad(
    params: Sequence[torch.Tensor],
    outcomes: int,
    n: int,
    prob: Callable[[tuple[int, ...]], torch.Tensor],
    loss: Callable[[tuple[int, ...]], torch.Tensor],
) -> torch.Tensor:
    """Σ over all n-tuples ys of prob(ys).detach()·∇loss(ys), flattened over `params`."""
    total = torch.zeros(sum(p.numel() for p in params), dtype=F64)
    for ys in itertools.product(range(outcomes), repeat=n):
        grads = torch.autograd.grad(loss(ys), params, allow_unused=True)
        flat = torch.cat(
            [torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1) for p, g in zip(params, grads)]
        )
        total += prob(ys).detach() * flat
    return total
