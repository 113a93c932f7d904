"""Cross-episode batching vs one request at a time, on the same loaded models.

The serial baseline drives each debate the way a simple per-debate script does: one model call per
request (debater A, then debater B, then the judge), question after question. The engine runs the
same episodes together, one batched call per model per round. Both answer identical prompts with
greedy decoding, so the work is the same; the ratio is the harness's batching gain.

    python -m benchmarks.batching --sizes 8 32 128 --backend vllm --max-tokens 32
"""

from __future__ import annotations

import argparse
import time

from oversight.engine import Engine
from oversight.models import load_backend, parse_model_spec
from oversight.models.base import Backend
from oversight.types import Transcript
from protocols.base import Episode
from protocols.debate import Debate
from tasks import load_questions


def run_serial(models: dict[str, Backend], episodes: list[Episode]) -> list[Transcript]:
    """One backend call per request: no batching at all."""
    engine = Engine(models)
    finished = []
    for episode in episodes:
        step = next(episode)
        while True:
            replies = []
            for request in step:
                backend = engine.backend_for(request.role)
                call = backend.generate if request.kind == "generate" else backend.choice
                replies += call([request])
            try:
                step = episode.send(replies)
            except StopIteration as stop:
                finished.append(stop.value)
                break
    return finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--judge", default="embedded:smollm2-135m")
    parser.add_argument("--debater", default="embedded:qwen2.5-coder-0.5b")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    start = time.perf_counter()
    models = {"judge": load_backend(parse_model_spec(args.judge, args.backend)),
              "debater": load_backend(parse_model_spec(args.debater, args.backend))}
    print(f"models loaded in {time.perf_counter() - start:.1f}s ({args.backend} backend)")
    protocol = Debate(rounds=args.rounds, max_tokens=args.max_tokens)
    print(f"{'questions':>9} {'serial s':>9} {'batched s':>10} {'speedup':>8} {'same verdicts':>14}")
    for size in args.sizes:
        questions = load_questions("math", limit=size, seed=0)
        t0 = time.perf_counter()
        serial = run_serial(models, [protocol.run(q) for q in questions])
        t1 = time.perf_counter()
        batched = Engine(models).run((q.id, protocol.run(q)) for q in questions)
        t2 = time.perf_counter()
        same = sum(s.decision.verdict == batched[s.question.id].decision.verdict for s in serial)
        print(f"{size:>9} {t1 - t0:>9.1f} {t2 - t1:>10.1f} {(t1 - t0) / (t2 - t1):>7.1f}x {same:>9}/{size}")
    for backend in {id(b): b for b in models.values()}.values():
        backend.close()


if __name__ == "__main__":
    main()
