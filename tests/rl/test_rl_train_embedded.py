"""`oversight train` on the embedded SmolLM2 (debater and judge): two tiny iterations end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml


def oversight(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oversight.cli", *args], capture_output=True, text=True, check=False,
                          env={**os.environ}, cwd=cwd, timeout=1800)


def test_bad_training_config_exits_2(tmp_path) -> None:
    (tmp_path / "t.yaml").write_text("iterations: 0\n")
    done = oversight("train", "t.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "iterations" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_train_two_steps_changes_weights_and_reloads(tmp_path, smollm2_dir) -> None:
    from transformers import AutoModelForCausalLM

    config = {"task": "truthfulqa", "train_questions": 1, "heldout_questions": 1, "samples": 2, "iterations": 2,
              "max_tokens": 8, "preset": "grpo", "lr": 1e-4, "out": str(tmp_path), "name": "smoke"}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    done = oversight("train", "train.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "held-out reward:" in done.stdout and "checkpoint: hf:" in done.stdout
    records = [json.loads(line) for line in (tmp_path / "smoke" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "train"]
    assert len(steps) == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in steps)
    assert all(0 < r["rollouts"] <= 4 for r in steps)  # 1 question x 2 orders x 2 samples of debater A, singletons dropped
    assert [r["iteration"] for r in records if r["kind"] == "heldout"] == [0, 2]
    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "smoke" / "checkpoint")
    start = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    changed = [n for (n, a), b in zip(trained.state_dict().items(), start.state_dict().values()) if not torch.equal(a, b)]
    assert changed  # the update reached the saved weights
