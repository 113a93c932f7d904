"""The vLLM backend's CPU thread binding: the model worker on every core vs vLLM's own binding.

The workload is the costliest part of the laptop study: consultants reading QuALITY articles. Each
question gives four first-round consultant prompts (both assignments, both answer orders) that
share the instructions and the article, 3-7k tokens of them; the turn is 96 greedy tokens, as in
the study (the prompts come from the consultancy protocol itself).
Two arms, each in a fresh process with the same prompts (thread binding is read when the engine
starts), each timing one `generate` batch after the model has loaded:

1. vLLM's own CPU binding (`VLLM_CPU_OMP_THREADS_BIND=auto`): one core reserved for the
   engine-core process, the worker on the rest.
2. The worker bound to every core (`cpu_thread_defaults`): the backend's default on <= 4 cores.

The prefilled-token column (prompt tokens less vLLM's prefix-cache hits) shows the article is
prefilled once per question even when its four prompts are scheduled in the same engine step.

    python -m benchmarks.cpu_engine                 # 6 QuALITY questions, Qwen2.5-Coder-0.5B
    python -m benchmarks.cpu_engine --limit 4 --model embedded:smollm2-135m
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ARMS = {"vllm-binding": {"VLLM_CPU_OMP_THREADS_BIND": "auto"}, "every-core": {}}
LABELS = {"vllm-binding": "vLLM's binding (1 core kept)", "every-core": "every core (default)"}


def consultant_requests(limit: int, max_tokens: int) -> list:
    """The first consultant turn of every consultancy episode, as the protocol itself asks for it."""
    from protocols.consultancy import Consultancy
    from tasks import load_questions

    # the laptop study's settings; the whole turn budget in one request (the backend is what is measured)
    protocol = Consultancy(rounds=1, max_tokens=max_tokens, thinking_tokens=max_tokens, seed=0)
    requests = []
    for q in load_questions("quality", limit=limit, seed=0):
        for order in (q, q.swapped()):
            for _, episode in protocol.episodes(order):
                requests += next(episode)  # the episode's first batch: the consultant's turn
    return requests


def run_arm(arm: str, model: str, limit: int, max_tokens: int) -> dict:
    """One arm, in this process: load, one batch, counts from vLLM's own outputs."""
    from benchmarks.common import tap, timed
    from oversight.models import load_backend, parse_model_spec

    os.environ.update(ARMS[arm])
    backend = load_backend(parse_model_spec(model, "vllm"), max_model_len=16384)
    try:
        engine = tap(backend, record=False)
        requests = consultant_requests(limit, max_tokens)
        with timed() as t:
            backend.generate(requests)
        return {"arm": arm, "seconds": t[0], "prompt_tokens": engine.stats.prompt_tokens,
                "prefilled": engine.stats.prefill_tokens}
    finally:
        backend.close()


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common import arg_parser, machine_line

    parser = arg_parser(__doc__)
    parser.add_argument("--limit", type=int, default=6, help="QuALITY questions (4 prompts each)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--model", default="embedded:qwen2.5-coder-0.5b")
    parser.add_argument("--arm", choices=sorted(ARMS), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)

    if args.arm:
        print("RESULT " + json.dumps(run_arm(args.arm, args.model, args.limit, args.max_tokens)), flush=True)
        return

    print(machine_line())
    print(f"{args.limit} QuALITY questions x 4 consultant prompts, {args.max_tokens}-token turns; {args.model}")
    results = []
    for arm in ARMS:
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.cpu_engine", "--arm", arm, "--limit", str(args.limit),
             "--max-tokens", str(args.max_tokens), "--model", args.model],
            capture_output=True, text=True, check=False)
        line = next((x for x in child.stdout.splitlines() if x.startswith("RESULT ")), None)
        if child.returncode or line is None:
            sys.stderr.write(child.stderr[-4000:])
            raise SystemExit(f"arm {arm} failed (exit {child.returncode})")
        results.append(json.loads(line.removeprefix("RESULT ")))
    base = results[0]["seconds"]
    print(f"{'worker threads':<28} {'prompt tok':>10} {'prefilled':>10} {'wall s':>7} {'speedup':>7}")
    for r in results:
        print(f"{LABELS[r['arm']]:<28} {r['prompt_tokens']:>10,} {r['prefilled']:>10,} "
              f"{r['seconds']:>7.1f} {base / r['seconds']:>6.2f}x")


if __name__ == "__main__":
    main()
