"""Memory: transcripts stream to disk, so a run's memory does not grow with its number of episodes.

`scripted` plays N one-round debates (default 10,000) on the scripted backend through the engine in
streaming mode (`keep=False`, a window of live episodes), appending each finished episode to a run
folder's transcripts.jsonl; questions are made on the fly, so nothing grows with N unless the
harness holds on to finished work. Python's heap (tracemalloc) is sampled as episodes finish; it
prints the samples and the growth from the first tenth of the run to the end, next to the same run
with the engine keeping every transcript (the growth streaming avoids).

`real` runs `oversight run debate` on 128 questions with the embedded models (vLLM) and reports the
peak resident memory of the process tree (this process and vLLM's engine processes).

    python -m benchmarks.memory scripted --episodes 10000
    python -m benchmarks.memory real --limit 128 --rounds 1 --max-tokens 32
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import tracemalloc
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import add_model_args, arg_parser, machine_line, timed, tree_rss_mib
from oversight.engine import Engine
from oversight.models.scripted import ScriptedBackend
from oversight.store import RunStore
from oversight.types import Question
from protocols.base import Episode
from protocols.debate import Debate

WINDOW = 256
"""Live episodes in streaming mode: wide enough to keep batches full, small enough to stay flat."""


def synthetic_questions(n: int) -> Iterator[Question]:
    for i in range(n):
        yield Question(id=f"synthetic/{i}", task="synthetic", question=f"What is {i} + {i}?",
                       answers=(str(2 * i), str(2 * i + 1)), correct_index=0)


@dataclass
class MemoryTrace:
    samples: list[tuple[int, int]]
    """(episodes finished, traced heap bytes) at evenly spaced points of the run."""
    peak: int
    seconds: float

    @property
    def growth(self) -> int:
        """Heap at the end minus heap after the first tenth: what the rest of the run added."""
        return self.samples[-1][1] - self.samples[0][1]


def streamed_run(episodes: int, folder: Path, keep: bool = False, samples: int = 10) -> MemoryTrace:
    """Play `episodes` scripted debates into `folder`, tracing the heap; `keep` holds every transcript."""
    models = {"debater": ScriptedBackend("echo"), "judge": ScriptedBackend("first")}
    for backend in models.values():
        backend.calls = deque(maxlen=1)  # type: ignore[assignment]  # its call log is test bookkeeping
    protocol = Debate(rounds=1)
    store = RunStore.open(folder, {"benchmark": "memory"}, {"benchmark": "memory"})
    every = max(1, episodes // samples)
    trace: list[tuple[int, int]] = []
    done = 0

    def on_finish(key: str, transcript: object) -> None:
        nonlocal done
        store.append(key, transcript, {"question_id": key})  # type: ignore[arg-type]
        done += 1
        if done % every == 0:
            trace.append((done, tracemalloc.get_traced_memory()[0]))

    entries: Iterator[tuple[str, Episode]] = ((q.id, protocol.run(q)) for q in synthetic_questions(episodes))
    tracemalloc.start()
    try:
        with timed() as wall:
            Engine(models).run(entries, on_finish=on_finish, keep=keep, window=WINDOW)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        store.close()
    return MemoryTrace(trace, peak, wall[0])


def scripted(args: argparse.Namespace) -> None:
    print(machine_line())
    print(f"{args.episodes} one-round scripted debates, window {WINDOW}; heap traced by tracemalloc")
    for keep in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            t = streamed_run(args.episodes, Path(tmp) / "run", keep=keep)
        label = "engine keeps transcripts" if keep else "streamed to disk"
        print(f"{label}: {t.seconds:.0f} s, peak {t.peak / 2**20:.1f} MiB, growth after the first tenth "
              f"{t.growth / 2**20:+.2f} MiB ({t.growth / max(1, args.episodes):+.0f} B/episode)")
        print("  " + "  ".join(f"{n}:{b / 2**20:.1f}" for n, b in t.samples))


def real(args: argparse.Namespace) -> None:
    from oversight.config import RunConfig
    from oversight.experiments.run import run_experiment

    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], tree_rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(protocol="debate", task="math", limit=args.limit, rounds=args.rounds,
                           max_tokens=args.max_tokens, judge=args.judge, debater=args.debater, out=tmp)
        with timed() as wall:
            report = run_experiment(config)
    stop.set()
    sampler.join()
    print(machine_line())
    print(f"oversight run debate --limit {args.limit} --rounds {args.rounds} --max-tokens {args.max_tokens} "
          f"(judge {args.judge}, debaters {args.debater}): {report.episodes_run} episodes in {wall[0]:.0f} s")
    print(f"peak RSS of the process tree (sampled every 0.5 s): {peak[0]:.0f} MiB")


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser(__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("scripted")
    s.add_argument("--episodes", type=int, default=10_000)
    r = sub.add_parser("real")
    r.add_argument("--limit", type=int, default=128)
    r.add_argument("--rounds", type=int, default=1)
    r.add_argument("--max-tokens", type=int, default=32)
    add_model_args(r)
    args = parser.parse_args(argv)
    scripted(args) if args.mode == "scripted" else real(args)


if __name__ == "__main__":
    main()
