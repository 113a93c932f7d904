"""`oversight train`: RL training of a debater or consultant against a fixed judge."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import err, out


def train(
    config_file: Annotated[str, typer.Argument(metavar="CONFIG", help="Training config (YAML; docs/rl.md).")],
    iterations: Annotated[Optional[int], typer.Option(help="Override the config's iterations.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the config's seed.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Override the output folder name.")] = None,
) -> None:
    """RL-train a debater or consultant against a fixed judge: generate -> judge -> rollouts -> update."""
    from oversight.rl.config import train_config_from_file
    from oversight.rl.train import train as run_training

    report = run_training(train_config_from_file(config_file, iterations=iterations, seed=seed, name=name), err)
    out.print(f"held-out reward: {report.before:.4f} -> {report.after:.4f} ({report.after - report.before:+.4f}); "
              f"metrics in {report.folder / 'metrics.jsonl'}"
              + (f"; checkpoint: hf:{report.checkpoint}" if report.checkpoint else ""))
