"""Named loss presets: documented option sets for the loss core, each citing its paper (`source`).

A preset is plain data whose field names match the keyword arguments of `grpo_advantages`, `ppo_clip_loss`,
`aggregate` and the KL functions, so a trainer reads the options from it; there is no behaviour here. Values
marked [R] were recalled, not verified against the paper; [T]: from the paper's text or a summary of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from oversight.errors import ConfigError

KL_KINDS: tuple[str, ...] = ("none", "k3_forward", "k3_straight_through", "k2_token", "sequence", "k1_in_reward")
"""How a preset applies the KL: not at all, or via the named function of `oversight.rl.kl`."""


@dataclass(frozen=True, slots=True)
class LossPreset:
    """One named configuration of the loss core."""

    name: str
    """Registry name, e.g. `"grpo"`."""
    advantage: str
    """`"grpo"` (`grpo_advantages`) or `"rloo"` (`rloo_advantages`)."""
    scale: str
    """`grpo_advantages(scale=...)`; `"none"` for RLOO, where it does not apply."""
    policy_loss: str
    """`"ppo_clip"` (`ppo_clip_loss`) or `"reinforce"` (`reinforce_loss`)."""
    ratio_level: str
    """`"token"`, or `"sequence"`: feed summed log-probs as `(B, 1)` to `ppo_clip_loss` (TRL RLOOTrainer)."""
    eps_low: float
    """Lower clip range of the ratio."""
    eps_high: float
    """Upper clip range of the ratio (> eps_low is DAPO's clip-higher)."""
    dual_clip: float | None
    """Dual-clip constant c, or None."""
    agg_mode: str
    """`aggregate(mode=...)`."""
    kl: str
    """One of `KL_KINDS`."""
    kl_coef: float
    """β for the KL term (0 when `kl == "none"`)."""
    drop_flat_groups: bool
    """Drop groups whose rewards are all equal before the update (DAPO dynamic sampling, Magistral)."""
    source: str
    """Where the values come from."""


PRESETS: dict[str, LossPreset] = {
    p.name: p
    for p in (
        # DeepSeekMath: Â = (r − mean)/std, symmetric clip .2, (1/G)Σ(1/|o|)Σ, per-token k3 with β = .04 [R].
        LossPreset(
            name="grpo",
            advantage="grpo",
            scale="group",
            policy_loss="ppo_clip",
            ratio_level="token",
            eps_low=0.2,
            eps_high=0.2,
            dual_clip=None,
            agg_mode="seq-mean-token-mean",
            kl="k3_forward",
            kl_coef=0.04,
            drop_flat_groups=False,
            source="DeepSeekMath GRPO (arXiv 2402.03300) §4.1; β, ε [R]",
        ),
        # Dr. GRPO: no std division and a constant length normaliser. TRL's dr_grpo divides by G·L_max; this mode
        # divides by L_max only (verl), a constant factor 1/G apart. No KL (verl's Dr. GRPO recipe).
        LossPreset(
            name="dr-grpo",
            advantage="grpo",
            scale="none",
            policy_loss="ppo_clip",
            ratio_level="token",
            eps_low=0.2,
            eps_high=0.2,
            dual_clip=None,
            agg_mode="seq-mean-token-sum-norm",
            kl="none",
            kl_coef=0.0,
            drop_flat_groups=False,
            source="Dr. GRPO (arXiv 2503.20783); verl seq-mean-token-sum-norm",
        ),
        # DAPO: clip-higher (.2/.28), token mean over all batch tokens, dynamic sampling, no KL.
        LossPreset(
            name="dapo",
            advantage="grpo",
            scale="group",
            policy_loss="ppo_clip",
            ratio_level="token",
            eps_low=0.2,
            eps_high=0.28,
            dual_clip=None,
            agg_mode="token-mean",
            kl="none",
            kl_coef=0.0,
            drop_flat_groups=True,
            source="DAPO (arXiv 2503.14476); verl's DAPO recipe",
        ),
        # TRL RLOOTrainer: leave-one-out baseline, sequence-level clipped ratio, mean over sequences,
        # k1 in reward with β = .05.
        LossPreset(
            name="rloo",
            advantage="rloo",
            scale="none",
            policy_loss="ppo_clip",
            ratio_level="sequence",
            eps_low=0.2,
            eps_high=0.2,
            dual_clip=None,
            agg_mode="seq-mean-token-sum",
            kl="k1_in_reward",
            kl_coef=0.05,
            drop_flat_groups=False,
            source="RLOO (Ahmadian et al., arXiv 2402.14740) as TRL's RLOOTrainer implements it",
        ),
        # Magistral (from a third-party summary of the paper [T], values [R]): no KL, advantages
        # centred per group then scaled by the minibatch std, loss normalised by total tokens, clip-higher
        # ε_high ≈ .26–.28, non-diverse (all-equal) groups dropped.
        LossPreset(
            name="magistral",
            advantage="grpo",
            scale="batch-centred",
            policy_loss="ppo_clip",
            ratio_level="token",
            eps_low=0.2,
            eps_high=0.28,
            dual_clip=None,
            agg_mode="token-mean",
            kl="none",
            kl_coef=0.0,
            drop_flat_groups=True,
            source="Magistral (arXiv 2506.10910) [T via summary, values R]",
        ),
    )
}
"""Known presets by name."""

ALIASES: dict[str, str] = {"deepseekmath": "grpo", "drgrpo": "dr-grpo"}
"""Alternative spellings accepted by `get_preset`."""


def get_preset(name: str) -> LossPreset:
    """Return the preset called `name` (case-insensitive; `_` and `-` are interchangeable).

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in PRESETS:
        raise ConfigError(f"unknown loss preset {name!r}; use one of {', '.join(sorted(PRESETS))}")
    return PRESETS[key]
