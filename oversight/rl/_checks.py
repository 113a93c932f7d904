"""Input checks shared by the loss core. Misuse raises `ConfigError` with what, value and fix."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from oversight.errors import ConfigError


def same_shape(where: str, **tensors: torch.Tensor) -> None:
    """Raise `ConfigError` unless every tensor has the same shape."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name}={shape}" for name, shape in shapes.items())
        raise ConfigError(f"{where}: tensors must have the same shape, got {listed}; pad them to one (B, T) layout")


def ndim(where: str, name: str, t: torch.Tensor, dims: Iterable[int], hint: str) -> None:
    """Raise `ConfigError` unless `t.ndim` is one of `dims`."""
    dims = tuple(dims)
    if t.ndim not in dims:
        raise ConfigError(
            f"{where}: {name} must have {' or '.join(map(str, dims))} dims, got shape {tuple(t.shape)}; {hint}"
        )


def choice(where: str, name: str, value: str, valid: Iterable[str]) -> None:
    """Raise `ConfigError` unless `value` is one of `valid`, listing the valid ones."""
    valid = tuple(valid)
    if value not in valid:
        raise ConfigError(f"{where}: unknown {name} {value!r}; use one of {', '.join(repr(v) for v in valid)}")


def group_size(where: str, rewards: torch.Tensor, minimum: int) -> None:
    """Raise `ConfigError` unless `rewards` is (num_groups, G) with G >= minimum."""
    ndim(where, "rewards", rewards, (2,), "reshape to (num_groups, group_size) with rewards.view(-1, G)")
    if rewards.shape[1] < minimum:
        raise ConfigError(
            f"{where}: needs at least {minimum} samples per group, got group size {rewards.shape[1]}; "
            f"sample more completions per prompt"
        )


def positive(where: str, name: str, value: float, *, strict: bool = True) -> None:
    """Raise `ConfigError` unless `value` > 0 (or >= 0 when strict is False)."""
    bad = value <= 0 if strict else value < 0
    if bad:
        sign = "> 0" if strict else ">= 0"
        raise ConfigError(
            f"{where}: {name} must be {sign}, got {value}; pass a {'positive' if strict else 'non-negative'} value"
        )
