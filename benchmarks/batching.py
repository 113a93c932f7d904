"""Cross-episode batching vs one request at a time, on the same loaded models.

The serial baseline drives each debate the way a simple per-debate script does: one model call per
request (debater A, then debater B, then the judge), question after question. The engine runs the
same episodes together, one batched call per model per round. Both answer identical prompts with
greedy decoding, so the work is the same; the ratio is the harness's batching gain.

The default uses SmolLM2-135M as judge and debaters (vLLM), which keeps 128 questions within the
time budget on a 2-core CPU; `--debater embedded:qwen2.5-coder-0.5b` gives the usual agent.

    python -m benchmarks.batching                                  # 8, 32, 128 questions, 1 round, 32 tokens
    python -m benchmarks.batching --serial-limit 0                 # every question one at a time (~20 min)
    python -m benchmarks.batching --sizes 8 32 --backend hf --debater embedded:qwen2.5-coder-0.5b
    python -m benchmarks.batching --debater embedded:qwen2.5-coder-0.5b --serial-limit 8   # the usual agent

One at a time, each question costs the same whether it is the 8th or the 128th, so `--serial-limit N`
(default 12, which keeps the default run under 10 minutes) plays only the first N questions of a size
one at a time and scales that arm's time (the row says so); `--serial-limit 0` plays them all.
The batched arm always plays every question. Prefilled and generated token counts are the serial
arm's (the batched arm prefills less: both debaters of a question share their prompt prefix).
"""

from __future__ import annotations

from benchmarks.common import add_model_args, arg_parser, loaded_models, machine_line, taps, timed, total_stats
from oversight.engine import Engine
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


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--backend", default="vllm")
    add_model_args(parser)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--serial-limit", type=int, default=12,
                        help="play at most N questions one at a time and scale that arm's time to the size "
                             "(marked 'est.'): one-at-a-time cost adds up question by question")
    args = parser.parse_args(argv)

    with loaded_models(args.judge, args.debater, args.backend) as models:
        print(machine_line())
        print(f"one debate of {args.rounds} round(s), {args.max_tokens}-token turns, greedy; serial and batched "
              "answer the same prompts")
        protocol = Debate(rounds=args.rounds, max_tokens=args.max_tokens)
        warm_up = load_questions("math", limit=1, seed=1)
        Engine(models).run((q.id, protocol.run(q)) for q in warm_up)  # first calls allocate; time no arm with them
        engines = taps(models, record=False) if args.backend == "vllm" else []  # token counts come from vLLM

        def fresh() -> None:
            for engine in engines:
                engine.reset()  # each arm starts with an empty prefix cache and zero counts

        print(f"{'questions':>9} {'serial s':>9} {'batched s':>10} {'speedup':>8} {'same verdicts':>14} "
              f"{'prefilled tok':>13} {'generated tok':>13}")
        for size in args.sizes:
            questions = load_questions("math", limit=size, seed=0)
            played = questions[:args.serial_limit] if args.serial_limit else questions  # 0: all of them
            fresh()
            with timed() as serial_s:
                serial = run_serial(models, [protocol.run(q) for q in played])
            serial_counts = total_stats(engines)
            scale = len(questions) / len(played)
            fresh()
            with timed() as batched_s:
                batched = Engine(models).run((q.id, protocol.run(q)) for q in questions)
            same = sum(s.decision.verdict == batched[s.question.id].decision.verdict for s in serial)
            serial_time = serial_s[0] * scale
            mark = f" (est. from {len(played)})" if scale != 1 else ""
            print(f"{size:>9} {serial_time:>9.1f} {batched_s[0]:>10.1f} {serial_time / batched_s[0]:>7.1f}x "
                  f"{same:>9}/{len(played)} {serial_counts.prefill_tokens:>13} "
                  f"{serial_counts.completion_tokens:>13}{mark}")
        print(machine_line())


if __name__ == "__main__":
    main()
