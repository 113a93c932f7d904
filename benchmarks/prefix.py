"""Prefix reuse: debater prompts ordered most-shared-first vs role-first, with vLLM's prefix cache.

The debater template puts what every prompt of a question shares first (the setting, the article,
the question and both answers), then the transcript so far (identical for both debaters of a
simultaneous round), and the speaker's own instruction ("You are Alice, ... round 2 of 3") last. vLLM
caches KV blocks by prefix, so each round only the new transcript and the instruction are prefilled.
The baseline renders the very same text with the role-specific instruction moved to the front, so
nothing is shared between the two debaters or across rounds.

Both arms run in one process on the same engines, each starting with an empty prefix cache; the
debaters' engine reports prompt tokens and prefix-cache hits per request (`num_cached_tokens`).

    python -m benchmarks.prefix                 # 8 questions x 3 rounds, Qwen2.5-Coder-0.5B agents
    python -m benchmarks.prefix --limit 8 --rounds 2 --debater embedded:smollm2-135m
"""

from __future__ import annotations

import dataclasses

from benchmarks.common import QWEN, add_model_args, arg_parser, loaded_models, machine_line, questions, tap, timed
from oversight.engine import Engine
from oversight.types import Message, Question
from protocols.debate import Debate


def role_first(messages: tuple[Message, ...], name: str) -> tuple[Message, ...]:
    """The same prompt with its role-specific tail ("You are NAME, ...") moved to the front."""
    *head, last = messages
    cut = last.content.index(f"You are {name}")
    moved = last.content[cut:].rstrip() + "\n\n" + last.content[:cut].rstrip()
    return (*head, dataclasses.replace(last, content=moved))


class RoleFirstDebate(Debate):
    """Debate whose debater prompts start with the speaker's own instruction (the unshared order)."""

    def render(self, template: str, question: Question, **variables: object) -> tuple[Message, ...]:
        messages = super().render(template, question, **variables)
        return role_first(messages, str(variables["name"])) if template == "debate/debater" else messages


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--limit", type=int, default=8, help="questions")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=32)
    add_model_args(parser, debater=QWEN)
    args = parser.parse_args(argv)

    with loaded_models(args.judge, args.debater) as models:
        agents = tap(models["debater"], record=False)
        qs = questions(args.limit)
        print(machine_line())
        print(f"{args.limit} questions x {args.rounds} rounds, {args.max_tokens}-token turns; "
              f"debater engine {args.debater}")
        print(f"{'prompt order':<14} {'prompt tok':>10} {'cache hits':>10} {'prefilled':>10} {'wall s':>7}")
        rows = {}
        for label, protocol_class in (("shared-first", Debate), ("role-first", RoleFirstDebate)):
            protocol = protocol_class(rounds=args.rounds, max_tokens=args.max_tokens)
            agents.reset()
            with timed() as wall:
                Engine(models).run((q.id, protocol.run(q)) for q in qs)
            s = agents.stats
            rows[label] = (s.prefill_tokens, wall[0])
            print(f"{label:<14} {s.prompt_tokens:>10} {s.cached_tokens:>10} {s.prefill_tokens:>10} {wall[0]:>7.1f}")
        (fill_a, wall_a), (fill_b, wall_b) = rows["shared-first"], rows["role-first"]
        print(f"role-first / shared-first: {fill_b / max(fill_a, 1):.2f}x prefill tokens, "
              f"{wall_b / wall_a:.2f}x wall time")


if __name__ == "__main__":
    main()
