"""Harness overhead: a debate sweep through the engine vs the same vLLM calls replayed bare.

The harness arm runs the debates through `Engine` on already-loaded vLLM backends while an
`LLMTap` records every `vllm.LLM.generate` call it makes (prompt token ids and SamplingParams). The
raw arm then sends exactly those calls again, in the same per-round batches and order, to the same
engines, with no protocol, prompt rendering, tokenising or parsing around them. Each arm starts with
an empty prefix cache, and decoding is greedy, so both do the same model work; harness/raw is what
the harness adds.

    python -m benchmarks.overhead                       # 64 questions x 2 rounds, SmolLM2 judge and agents
    python -m benchmarks.overhead --rounds 3 --profile  # the study's 3 rounds (~14 min on 2 idle cores)
    python -m benchmarks.overhead --limit 16 --rounds 1 --debater embedded:qwen2.5-coder-0.5b
"""

from __future__ import annotations

import cProfile
import pstats

from benchmarks.common import (add_model_args, arg_parser, loaded_models, machine_line, questions, replay, taps,
                               timed, total_stats)
from oversight.engine import Engine
from protocols.debate import Debate


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--limit", type=int, default=64, help="questions")
    parser.add_argument("--rounds", type=int, default=2, help="debate rounds (3, as in the study, takes ~14 min)")
    parser.add_argument("--max-tokens", type=int, default=64)
    add_model_args(parser)
    parser.add_argument("--profile", action="store_true", help="also print where the harness arm's own time goes")
    args = parser.parse_args(argv)

    with loaded_models(args.judge, args.debater) as models:
        engines = taps(models)
        log = engines[0].calls
        protocol = Debate(rounds=args.rounds, max_tokens=args.max_tokens)
        qs = questions(args.limit)
        Engine(models).run([("warm-up", protocol.run(qs[0]))])  # first calls allocate; time neither arm with them
        for engine in engines:
            engine.reset()
        profiler = cProfile.Profile() if args.profile else None
        with timed() as harness:
            if profiler:
                profiler.enable()
            Engine(models).run((q.id, protocol.run(q)) for q in qs)
            if profiler:
                profiler.disable()
        calls = list(log)
        counted = total_stats(engines)
        for engine in engines:
            engine.reset()
            engine.record = False
        with timed() as raw:
            replay(calls)
        print(machine_line())
        print(f"{args.limit} questions x {args.rounds} rounds, {args.max_tokens}-token turns, "
              f"{len(calls)} vLLM calls, {sum(len(p) for _, p, _ in calls)} prompts: {counted.prompt_tokens} prompt "
              f"tokens ({counted.prefill_tokens} prefilled, the rest from the prefix cache), "
              f"{counted.completion_tokens} generated")
        print(f"{'harness s':>10} {'raw s':>8} {'harness/raw':>12}")
        print(f"{harness[0]:>10.1f} {raw[0]:>8.1f} {harness[0] / raw[0]:>12.3f}")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
