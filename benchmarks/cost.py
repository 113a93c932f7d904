"""Cost model: model calls, prompt and completion tokens per protocol per question.

Each protocol plays `--limit` questions through the engine with every backend wrapped in a
`CountingBackend`, which counts the batched calls it receives, the requests in them, the prompt
tokens (the chat prompt as the model's own tokenizer encodes it) and the completion tokens (the
generated tokens; one token per judge choice). Dividing by the number of questions, then
multiplying by 1,000, gives what a 1,000-question study costs per protocol.

Backends: `vllm` (default) or `hf` run the embedded models, so completions are as long as the agents
make them; `budget` (no model, seconds) makes every agent turn spend its whole budget (`--max-tokens`
tokens, an argument at the 150-word limit), the upper bound to plan a study with; `scripted` gives
the exact call structure with dozen-word arguments. Prompt tokens are always counted by the real
models' tokenizers.

    python -m benchmarks.cost --backend budget --limit 32       # the planning table, in seconds
    python -m benchmarks.cost --backend vllm --limit 4          # what the embedded models actually spend
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.common import (QWEN, TokenCounts, add_model_args, arg_parser, close_models, load_models,
                               machine_line, questions, timed)
from oversight.engine import Engine
from oversight.models.base import Backend
from oversight.models.choice import encode_prompt
from oversight.registry import lookup
from oversight.types import Reply, Request
from protocols.base import ProtocolOptions

PROTOCOLS = ("direct", "consultancy", "open-consultancy", "debate", "open-debate")


class CountingBackend(Backend):
    """Answers through `inner`, counting calls, requests and tokens.

    `tokenizer` encodes prompts and replies without token ids; None counts whitespace-split words
    (enough to check the plumbing, not a token count).
    """

    def __init__(self, inner: Backend, tokenizer: Any = None) -> None:
        super().__init__(inner.model)
        self.name = inner.name
        self.inner = inner
        self.tokenizer = tokenizer if tokenizer is not None else getattr(inner, "tokenizer", None)
        self.counts = TokenCounts()

    def _length(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _prompt_tokens(self, request: Request) -> int:
        if self.tokenizer is None:
            return sum(len(m.content.split()) for m in request.messages)
        return len(encode_prompt(self.tokenizer, request.messages))

    def _count(self, requests: Sequence[Request], replies: list[Reply], choice: bool) -> list[Reply]:
        self.counts.calls += 1
        self.counts.requests += len(requests)
        self.counts.prompt_tokens += sum(self._prompt_tokens(r) for r in requests)
        if choice:
            self.counts.completion_tokens += len(requests)  # one decoding step, its label logprobs read
        else:
            self.counts.completion_tokens += sum(len(r.token_ids) if r.token_ids and self.inner.name != "scripted"
                                                 else self._length(r.text) for r in replies)
        return replies

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        return self._count(requests, self.inner.generate(requests), choice=False)

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return self._count(requests, self.inner.choice(requests), choice=True)


class BudgetBackend(Backend):
    """Every agent turn spends its whole budget: `max_tokens` tokens, an argument of `words` words.

    An upper bound for planning: real agents stop earlier, but the judge's and the agents' prompts
    then grow as they would with arguments at the word limit.
    """

    name = "budget"

    def __init__(self, words: int) -> None:
        super().__init__("budget")
        self.words = words

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        text = "<argument>" + " ".join(f"step{i}" for i in range(self.words)) + "</argument>"
        return [Reply(text=text, token_ids=tuple(range(r.sampling.max_tokens))) for r in requests]

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return [Reply(text=r.options[0], option_probs=(0.6, 0.4) if len(r.options) == 2 else
                      tuple(1 / len(r.options) for _ in r.options), option_mass=1.0) for r in requests]


def count_protocol(name: str, models: dict[str, Backend], qs: list, options: ProtocolOptions,
                   tokenizers: dict[str, Any] | None = None) -> TokenCounts:
    """Totals of one protocol played on `qs` with fresh counters (one wrapper per distinct backend)."""
    tokenizers = tokenizers or {}
    wrapped: dict[int, CountingBackend] = {}
    for role, backend in models.items():
        wrapped.setdefault(id(backend), CountingBackend(backend, tokenizers.get(role)))
    counting = {role: wrapped[id(b)] for role, b in models.items()}
    protocol = lookup("protocol", name)(options)
    Engine(counting).run((f"{q.id}/{suffix}", episode) for q in qs for suffix, episode in protocol.episodes(q))
    total = TokenCounts()
    for backend in wrapped.values():
        total.add(backend.counts)
    return total


def scripted_tokenizers(judge: str, debater: str) -> dict[str, Any]:
    """The real models' tokenizers, so scripted runs still count tokens as those models would."""
    from transformers import AutoTokenizer

    from oversight.models.embedded import resolve_model_path

    judge_tok = AutoTokenizer.from_pretrained(resolve_model_path(judge))
    agent_tok = judge_tok if debater == judge else AutoTokenizer.from_pretrained(resolve_model_path(debater))
    return {"judge": judge_tok, "debater": agent_tok, "consultant": agent_tok}


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--limit", type=int, default=4, help="questions per protocol")
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS))
    parser.add_argument("--task", default="math",
                        help="task the questions come from (e.g. quality: agents read the article)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--backend", default="vllm", choices=("vllm", "hf", "scripted", "budget"))
    add_model_args(parser, debater=QWEN)
    parser.add_argument("--study-size", type=int, default=1000)
    args = parser.parse_args(argv)

    tokenizers: dict[str, Any] = {}
    if args.backend in ("scripted", "budget"):
        from oversight.models.scripted import ScriptedBackend

        agent = ScriptedBackend("echo") if args.backend == "scripted" else BudgetBackend(ProtocolOptions().word_limit)
        models: dict[str, Backend] = {"judge": ScriptedBackend("echo"), "debater": agent, "consultant": agent}
        tokenizers = scripted_tokenizers(args.judge, args.debater)
    else:
        models = load_models(args.judge, args.debater, args.backend)
    options = ProtocolOptions(rounds=args.rounds, max_tokens=args.max_tokens)
    qs = questions(args.limit, args.task)
    try:
        print(machine_line())
        print(f"{args.limit} {args.task} questions, {args.rounds} rounds, {args.max_tokens}-token turns, "
              f"judge {args.judge}, agents {args.debater} ({args.backend}); per question, and for "
              f"{args.study_size:,} questions")
        print(f"{'protocol':<17} {'requests':>8} {'prompt tok':>10} {'compl. tok':>10} {'batched calls':>13} "
              f"{'study prompt':>12} {'study compl.':>12} {'wall s':>7}")
        for name in args.protocols:
            with timed() as wall:
                c = count_protocol(name, models, qs, options, tokenizers)
            n = len(qs)
            print(f"{name:<17} {c.requests / n:>8.1f} {c.prompt_tokens / n:>10.0f} {c.completion_tokens / n:>10.0f} "
                  f"{c.calls:>13} {c.prompt_tokens / n * args.study_size / 1e6:>11.2f}M "
                  f"{c.completion_tokens / n * args.study_size / 1e6:>11.2f}M {wall[0]:>7.1f}")
    finally:
        close_models(models)


if __name__ == "__main__":
    main()
