"""`oversight bench NAME ARGS...` runs benchmarks/NAME.py from the checkout, passing ARGS through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.CompletedProcess:
    # The console script, run from the checkout as a user would (not `python -m`, which adds the cwd itself).
    script = Path(sys.executable).with_name("oversight")
    return subprocess.run([str(script), "bench", *args], capture_output=True, text=True, cwd=ROOT,
                          env=os.environ.copy(), timeout=300, check=False)


def test_bench_runs_a_benchmark_with_its_arguments():
    result = bench("memory", "scripted", "--episodes", "40")
    assert result.returncode == 0, result.stderr
    assert "40 one-round scripted debates" in result.stdout
    assert "streamed to disk" in result.stdout and "engine keeps transcripts" in result.stdout


def test_unknown_benchmark_is_bad_input():
    result = bench("warp-speed")
    assert result.returncode == 2
    assert "unknown benchmark 'warp-speed'" in result.stderr and "overhead" in result.stderr
