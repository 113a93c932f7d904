"""End-to-end RL on CPU: train a debater against a fixed judge over several seeds; held-out reward before/after.

    python -m benchmarks.rl_train --seeds 0 1 2 --iterations 24 --max-tokens 32

Each seed runs `oversight.rl.train.train` (generate -> judge -> rollouts -> update) with the embedded SmolLM2-135M
as the trained debater A (full fine-tune), a frozen copy of it as debater B and the embedded SmolLM2 judge. The
reward is the judge's probability of debater A's answer; held-out questions are played greedily in both answer
orders before and after training. Every record (per iteration and per evaluation) is appended to
`<out>/rl_train.jsonl` as it happens, so an interrupted benchmark still reports what it measured; the summary
prints the held-out reward before/after per seed, its mean change, and time and peak memory per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from oversight.rl.config import TrainConfig
from oversight.rl.train import train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=24)
    parser.add_argument("--train-questions", type=int, default=4)
    parser.add_argument("--heldout-questions", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4, help="episodes per question and order (GRPO group size)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--preset", default="dapo")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--task", default="math")
    parser.add_argument("--policy", default="embedded:smollm2-135m")
    parser.add_argument("--judge", default="hf:embedded:smollm2-135m")
    parser.add_argument("--out", default="runs/rl_train")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "rl_train.jsonl"
    summary = []
    for seed in args.seeds:
        config = TrainConfig(task=args.task, seed=seed, train_questions=args.train_questions,
                             heldout_questions=args.heldout_questions, policy=args.policy, judge=args.judge,
                             iterations=args.iterations, samples=args.samples, max_tokens=args.max_tokens,
                             preset=args.preset, lr=args.lr, out=str(out), name=f"seed-{seed}", save=False)

        def write(entry: dict, seed: int = seed) -> None:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"seed": seed, **entry}) + "\n")

        report = train(config, console, on_record=write)
        steps = [e for e in report.curve if e["kind"] == "train"]
        summary.append({"seed": seed, "before": report.before, "after": report.after,
                        "step_s": statistics.mean(e["generate_seconds"] + e["update_seconds"] for e in steps),
                        "update_s": statistics.mean(e["update_seconds"] for e in steps),
                        "peak_rss_mb": max(e["peak_rss_mb"] for e in steps)})
    table = Table("seed", "held-out before", "after", "change", "s/step (generate+update)", "s/update", "peak RSS MB")
    for row in summary:
        table.add_row(str(row["seed"]), f"{row['before']:.4f}", f"{row['after']:.4f}",
                      f"{row['after'] - row['before']:+.4f}", f"{row['step_s']:.1f}", f"{row['update_s']:.1f}",
                      f"{row['peak_rss_mb']:.0f}")
    Console().print(table)
    changes = [row["after"] - row["before"] for row in summary]
    Console().print(f"mean change over {len(changes)} seed(s): {statistics.mean(changes):+.4f}")


if __name__ == "__main__":
    main()
