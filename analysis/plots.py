"""Figures (matplotlib, headless): each function draws one figure and saves it as PNG and SVG.

- `plot_accuracy`: the study's main figure: judge accuracy per protocol, one panel per task type
  (family), judges side by side, 95% CI bars; raw accuracy on the top row and, where the table has it,
  order-debiased accuracy on the row below;
- `plot_accuracy_vs_elo`: judge accuracy in self-play against the debater's Elo;
- `plot_calibration`: reliability curves (accuracy against confidence) with the diagonal.
Every function returns the paths it wrote.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (CI and servers have no display)

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

FORMATS = ("png", "svg")


def save(fig: plt.Figure, path: str | Path) -> list[Path]:
    """Write `fig` as `path`.png and `path`.svg; returns both paths."""
    base = Path(path).with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        fig.savefig(base.with_suffix(f".{fmt}"), dpi=120, bbox_inches="tight")
        written.append(base.with_suffix(f".{fmt}"))
    plt.close(fig)
    return written


def _error(table: pd.DataFrame, value: str, low: str = "ci_low", high: str = "ci_high") -> list[list[float]]:
    """Asymmetric error bars from the CI columns (plain lists: matplotlib warns on a (2, 1) array)."""
    below = (table[value] - table[low]).clip(lower=0).fillna(0)
    above = (table[high] - table[value]).clip(lower=0).fillna(0)
    return [below.tolist(), above.tolist()]


ACCURACY_ROWS = (("accuracy", "ci_low", "ci_high", "raw accuracy"),
                 ("debiased_accuracy", "debiased_ci_low", "debiased_ci_high", "order-debiased accuracy"))


def plot_accuracy(table: pd.DataFrame, path: str | Path, panel: str = "family", x: str = "judge",
                  hue: str = "protocol") -> list[Path]:
    """Grouped bars of accuracy with CI bars: one panel per `panel`, `x` on the axis, a bar per `hue`; a row
    of panels per measure the table holds (raw `accuracy`, then `debiased_accuracy` when any is known).

    `table` is `accuracy_table(results, by=[panel, x, hue])` (with `debiased=True` for the second row).
    """
    panels = sorted(table[panel].astype(str).unique())
    hues = sorted(table[hue].astype(str).unique())
    measures = [m for m in ACCURACY_ROWS if m[0] in table and table[m[0]].notna().any()]
    fig, axes = plt.subplots(len(measures), len(panels), figsize=(max(4.0, 3.2 * len(panels) + 1),
                             3.6 * len(measures)), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(hues))
    for row, (value, low, high, label) in enumerate(measures):
        for ax, name in zip(axes[row], panels):
            part = table[table[panel].astype(str) == name]
            xs = sorted(part[x].astype(str).unique())
            for k, h in enumerate(hues):
                bars = part[part[hue].astype(str) == h]
                bars = bars.set_index(bars[x].astype(str)).reindex(xs)
                positions = np.arange(len(xs)) + (k - (len(hues) - 1) / 2) * width
                ax.bar(positions, bars[value].to_numpy(float), width, yerr=_error(bars, value, low, high),
                       capsize=3, label=h)
            ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xticks(np.arange(len(xs)), [s.split(":")[-1] for s in xs], rotation=20, ha="right")
            ax.set_title(name if len(measures) == 1 else f"{name}: {label.split(' ')[0]}")
            ax.set_ylim(0, 1)
        axes[row][0].set_ylabel(label if len(measures) > 1 else "judge accuracy")
    # beside the panels, not over the bars
    axes[0][-1].legend(title=hue, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.tight_layout()
    return save(fig, path)


def plot_accuracy_vs_elo(ladder: pd.DataFrame, path: str | Path) -> list[Path]:
    """Judge accuracy in each debater's self-play debates against its aggregate Elo (with Elo CIs)."""
    data = ladder.dropna(subset=["self_play_accuracy"])
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    ax.errorbar(data["elo"], data["self_play_accuracy"], xerr=_error(data, "elo"), fmt="o", capsize=3)
    for row in data.itertuples():
        ax.annotate(str(row.player).split(":")[-1], (row.elo, row.self_play_accuracy), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    if len(data) >= 2 and data["elo"].nunique() > 1:
        slope, intercept = np.polyfit(data["elo"], data["self_play_accuracy"], 1)
        xs = np.linspace(data["elo"].min(), data["elo"].max(), 2)
        ax.plot(xs, intercept + slope * xs, linestyle="--", color="grey", label=f"slope {slope * 100:.3f}/100 Elo")
        ax.legend(fontsize=8)
    ax.set_xlabel("debater Elo (relative)")
    ax.set_ylabel("judge accuracy (self-play)")
    ax.set_ylim(0, 1)
    return save(fig, path)


def plot_calibration(curves: pd.DataFrame, path: str | Path, hue: str = "protocol") -> list[Path]:
    """Reliability curves from `reliability_table(results, by=[hue])`, with the diagonal of calibration."""
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0.5, 1], [0.5, 1], color="grey", linewidth=0.8, linestyle=":", label="calibrated")
    for name, curve in (curves.groupby(hue, sort=True) if not curves.empty else []):
        ax.plot(curve["confidence"], curve["accuracy"], marker="o", label=str(name))
    ax.set_xlabel("judge confidence in its choice")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0.5, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return save(fig, path)
