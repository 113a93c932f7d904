"""Soak: many episodes under injected faults end with every episode on disk exactly once, results
identical to a fault-free run.

Faults: backend calls that raise (the engine retries a call twice, then the run stops with one
BackendError and exit code 2; rerunning resumes), slow replies, malformed judge replies (recorded as
invalid decisions, never a crash), and one `kill -9` of the `oversight run` process while it is
storing episodes. The reference run has the same malformed judge replies (they are a function of the
prompt) but no crash, delay or kill, so its results must match row for row. CI runs 300 episodes; the
2,000-episode run is marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from oversight.config import make_config
from oversight.engine import Engine
from oversight.errors import BackendError
from oversight.models.scripted import ScriptedBackend
from oversight.experiments.run import run_experiment
from oversight.types import Reply, Request
from protocols.base import ProtocolOptions
from protocols.debate import Debate
from protocols.direct import DirectQA
from tests.helpers import make_questions
from tests.reliability.faults import Faults, FaultyBackend, InjectedFault

ROOT = Path(__file__).resolve().parents[2]
INVALID_RATE = 0.05


def question_file(folder: Path, n: int) -> Path:
    path = folder / "soak.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {i} plus {i + 1}?", "correct": str(2 * i + 1),
                                        "incorrect": str(2 * i + 2)}) + "\n" for i in range(n)), encoding="utf-8")
    return path


def run_args(task: Path, out: Path) -> list[str]:
    return ["run", "debate", "--task", f"file:{task}", "--order", "both", "--rounds", "2", "--judge", "scripted:echo",
            "--debater", "scripted:echo", "--max-tokens", "16", "--out", str(out), "--name", "soak"]


def reference_run(task: Path, out: Path) -> pd.DataFrame:
    """The run with malformed judge replies only: no crash, no delay, no kill."""
    config = make_config(protocol="debate", task=f"file:{task}", order="both", rounds=2, judge="scripted:echo",
                         debater="scripted:echo", max_tokens=16, out=str(out), name="soak")
    judge = FaultyBackend(ScriptedBackend("echo"), Faults(invalid_rate=INVALID_RATE))
    report = run_experiment(config, models={"judge": judge, "debater": ScriptedBackend("echo")})
    return report.results


def episode_keys(run: Path) -> list[str]:
    lines = (run / "transcripts.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["key"] for line in lines]


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("episode").reset_index(drop=True)


def soak(tmp_path: Path, questions: int, append_seconds: float) -> dict[str, int]:
    """Run the faulty CLI until it succeeds, killing it once mid-storage; check it against the reference."""
    task = question_file(tmp_path, questions)
    episodes = 2 * questions
    expected = sorted_rows(reference_run(task, tmp_path / "reference"))
    assert len(expected) == episodes and expected["invalid"].sum() > 0

    out, run = tmp_path / "faulty", tmp_path / "faulty" / "soak"
    env = {**os.environ, "FAULT_RATE": "0.6", "FAULT_DELAY": "0.02", "FAULT_INVALID": str(INVALID_RATE),
           "FAULT_APPEND_SECONDS": str(append_seconds)}
    stats = {"episodes": episodes, "clean failures (exit 2)": 0, "kills": 0, "attempts": 0}
    killed = False
    for seed in range(1, 30):
        stats["attempts"] += 1
        process = subprocess.Popen([sys.executable, "-m", "tests.reliability.faulty_cli", *run_args(task, out)],
                                   cwd=ROOT, env={**env, "FAULT_SEED": str(seed)}, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        while not killed and process.poll() is None:
            file = run / "transcripts.jsonl"
            if file.exists() and file.read_bytes().count(b"\n") >= episodes // 3:
                os.kill(process.pid, signal.SIGKILL)
                killed = True
                stats["kills"] += 1
            time.sleep(0.005)
        try:
            _, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            pytest.fail(f"attempt {seed} hung: {stderr[-3000:]}")
        if process.returncode == 0:
            break
        if process.returncode == -signal.SIGKILL:
            continue
        assert process.returncode == 2, stderr[-2000:]
        assert "injected backend fault" in stderr and "rerun the same command to resume" in stderr
        assert "Traceback" not in stderr
        stats["clean failures (exit 2)"] += 1
    else:
        pytest.fail("the faulty run never finished")
    assert killed, "the kill point was never reached"

    keys = episode_keys(run)
    assert len(keys) == len(set(keys)) == episodes  # every episode exactly once
    assert set(keys) == set(expected["episode"])
    got = sorted_rows(pd.read_parquet(run / "results.parquet"))
    pd.testing.assert_frame_equal(got, expected)
    stats["invalid judge replies"] = int(got["invalid"].sum())
    stats["episodes lost"] = episodes - len(set(keys))
    return stats


def test_soak_ci_size(tmp_path: Path) -> None:
    stats = soak(tmp_path, questions=150, append_seconds=0.004)
    assert stats["episodes lost"] == 0 and stats["kills"] == 1
    print(stats)


@pytest.mark.slow
def test_soak_full_size(tmp_path: Path) -> None:
    stats = soak(tmp_path, questions=1000, append_seconds=0.001)
    assert stats["episodes lost"] == 0 and stats["kills"] == 1
    print(stats)


# --------------------------------------------------------------------------- engine under faults


def play(models: dict, episodes: list, engine: Engine | None = None) -> tuple[dict, Engine]:
    engine = engine or Engine(models)
    finished: dict = {}
    engine.run(episodes, on_finish=finished.__setitem__)
    return finished, engine


def test_a_failed_call_is_retried_with_the_same_requests_and_results_do_not_change() -> None:
    questions = make_questions(6)
    plain, _ = play({"judge": ScriptedBackend("echo"), "debater": ScriptedBackend("echo")},
                    [(q.id, Debate(ProtocolOptions(rounds=2)).run(q)) for q in questions])
    faulty = FaultyBackend(ScriptedBackend("echo"), Faults(max_delay=0.01), fail_calls={1, 3, 4})
    got, engine = play({"judge": ScriptedBackend("echo"), "debater": faulty},
                       [(q.id, Debate(ProtocolOptions(rounds=2)).run(q)) for q in questions])
    assert got == plain
    assert engine.stats.failed_calls == 3


def test_a_backend_that_keeps_failing_stops_the_run_with_one_error_and_keeps_finished_episodes() -> None:
    """Direct episodes finish after the first step; the debater dies on round 2: they must not be lost."""
    questions = make_questions(4)
    dead_after_first = FaultyBackend(ScriptedBackend("echo"), Faults(), fail_calls={2, 3, 4})
    entries = [(f"direct/{q.id}", DirectQA().run(q)) for q in questions]
    entries += [(f"debate/{q.id}", Debate(ProtocolOptions(rounds=2)).run(q)) for q in questions]
    finished: dict = {}
    engine = Engine({"judge": ScriptedBackend("echo"), "debater": dead_after_first})
    with pytest.raises(BackendError, match=r"faulty-scripted:echo failed on a generate call of 8 request\(s\) "
                                           r"3 times.*InjectedFault.*rerun the same command to resume") as info:
        engine.run(entries, on_finish=finished.__setitem__)
    assert isinstance(info.value.__cause__, InjectedFault)
    assert sorted(finished) == sorted(f"direct/{q.id}" for q in questions)


def test_errors_the_user_must_fix_are_not_retried() -> None:
    from oversight.errors import ConfigError

    class Misconfigured(ScriptedBackend):
        calls_made = 0

        def choice(self, requests: Sequence[Request]) -> list[Reply]:
            Misconfigured.calls_made += 1
            raise ConfigError("model X has no chat template")

    with pytest.raises(ConfigError, match="no chat template"):
        play({"judge": Misconfigured("echo")}, [("q", DirectQA().run(make_questions(1)[0]))])
    assert Misconfigured.calls_made == 1
