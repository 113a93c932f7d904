"""Streaming runs: finished transcripts go to disk and leave memory; the live window bounds batches."""

from __future__ import annotations

import json

import pytest

from benchmarks.memory import streamed_run, synthetic_questions
from oversight.engine import Engine
from oversight.errors import ConfigError
from oversight.models.scripted import ScriptedBackend
from protocols.debate import Debate


def test_window_bounds_live_episodes_and_keep_false_returns_nothing():
    debater, judge = ScriptedBackend("echo"), ScriptedBackend("first")
    finished = []
    done = Engine({"debater": debater, "judge": judge}).run(
        ((q.id, Debate(rounds=2).run(q)) for q in synthetic_questions(50)),
        on_finish=lambda key, t: finished.append(key), keep=False, window=8)
    assert done == {} and sorted(finished) == sorted(f"synthetic/{i}" for i in range(50))
    assert max(c.size for c in judge.calls) <= 2 * 8  # each decision asks both label orders
    assert sum(c.size for c in judge.calls) == 50 * 2
    assert max(c.size for c in debater.calls) <= 2 * 8
    assert sum(c.size for c in debater.calls) == 50 * 2 * 2


def test_window_must_hold_an_episode():
    with pytest.raises(ConfigError, match="window"):
        Engine({"judge": ScriptedBackend("first")}).run([], window=0)


def test_streamed_run_writes_every_episode(tmp_path):
    trace = streamed_run(300, tmp_path / "run")
    lines = (tmp_path / "run" / "transcripts.jsonl").read_text().splitlines()
    assert len(lines) == 300 and json.loads(lines[-1])["transcript"]["decision"]
    assert [n for n, _ in trace.samples] == list(range(30, 301, 30))


@pytest.mark.slow
def test_ten_thousand_scripted_episodes_stay_flat_in_memory(tmp_path):
    streamed = streamed_run(10_000, tmp_path / "streamed")
    heaps = [b for _, b in streamed.samples]
    # The heap saws up and down with the window of live episodes; the second half's high stays within
    # 1 MiB (100 B/episode) of the first half's, while a run keeping its transcripts grows ~1.5 KB/episode.
    assert max(heaps[5:]) - max(heaps[:5]) < 2**20
    assert streamed.peak < 16 * 2**20
    kept = streamed_run(1_000, tmp_path / "kept", keep=True)
    assert kept.growth > 1_000 * 500  # the same measurement does see transcripts held in memory
