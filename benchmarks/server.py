"""Server path: the debate sweep through the `openai` backend against a local `vllm serve`.

One managed `vllm serve` (oversight.models.serve.ManagedServer) holds the model; the engine plays the same
debates once per concurrency level, the backend sending at most `max_connections` requests at a
time (1 = sequential). vLLM's continuous batching turns concurrent requests into batched steps, so
wall time should fall with concurrency until the server's batch (or the CPU) is full. The server's
prefix cache is emptied before each level (`/reset_prefix_cache`, dev mode), so no level reuses
another's prompts; decoding is greedy, so every level does the same work.

    python -m benchmarks.server                          # 32 questions, 1 round, SmolLM2, 1 4 16 64
    python -m benchmarks.server --limit 8 --concurrency 1 8
"""

from __future__ import annotations

import os
import urllib.request

from benchmarks.common import SMOLLM2, arg_parser, machine_line, questions, timed
from oversight.engine import Engine
from oversight.models.openai import OpenAIBackend
from oversight.models.serve import ManagedServer
from protocols.debate import Debate


def reset_prefix_cache(base_url: str) -> None:
    root = base_url.removesuffix("/v1")
    urllib.request.urlopen(urllib.request.Request(f"{root}/reset_prefix_cache", method="POST"), timeout=30).close()


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--limit", type=int, default=32, help="questions")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--model", default=SMOLLM2, help="judge and debaters (one server)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    args = parser.parse_args(argv)

    os.environ.setdefault("VLLM_SERVER_DEV_MODE", "1")  # enables /reset_prefix_cache on the managed server
    protocol = Debate(rounds=args.rounds, max_tokens=args.max_tokens)
    qs = questions(args.limit)
    with ManagedServer(args.model) as server:
        print(f"vllm serve {args.model} started in {server.startup_seconds:.0f} s")
        warm = OpenAIBackend(server.served_name, base_url=server.base_url, max_connections=4)
        Engine({"judge": warm, "debater": warm}).run([("warm-up", protocol.run(qs[0]))])
        warm.close()
        times: dict[int, float] = {}
        for connections in args.concurrency:
            reset_prefix_cache(server.base_url)
            backend = OpenAIBackend(server.served_name, base_url=server.base_url, max_connections=connections)
            try:
                with timed() as wall:
                    Engine({"judge": backend, "debater": backend}).run((q.id, protocol.run(q)) for q in qs)
            finally:
                backend.close()
            times[connections] = wall[0]
        print(machine_line())
        print(f"{args.limit} questions x {args.rounds} round(s), {args.max_tokens}-token turns, through "
              f"the openai backend")
        print(f"{'connections':>11} {'wall s':>8} {'speedup':>8}")
        base = times[min(times)]
        for connections, seconds in times.items():
            print(f"{connections:>11} {seconds:>8.1f} {base / seconds:>7.1f}x")
        best = min(times, key=times.__getitem__)
        print(f"best concurrency: {best} ({base / times[best]:.1f}x over {min(times)})")


if __name__ == "__main__":
    main()
