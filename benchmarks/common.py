"""Plumbing shared by the benchmarks: their command lines, the machine's state, loading and closing
models, token counts, and a tap on vLLM's calls.

`LLMTap` stands in for a backend's `vllm.LLM`: every `generate` call goes through unchanged, and the
tap keeps what it needs to replay the call (`calls`: the exact prompt token ids and SamplingParams)
and what vLLM reports about it (`prompt_tokens`, `cached_tokens`: prefix-cache hits, so
`prefill_tokens` is what was actually computed). Counting lives on the `RequestOutput`s, so it
costs nothing the engine does not already do.

Benchmarks print one result table, ratios from ONE process, so a busy shared machine slows both
arms alike; `machine_line()` records the load they ran under.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from oversight.models import load_backend, parse_model_spec
from oversight.models.base import Backend
from oversight.types import Question
from tasks import load_questions

Call = tuple["LLMTap", list[dict[str, Any]], Any]

SMOLLM2 = "embedded:smollm2-135m"
QWEN = "embedded:qwen2.5-coder-0.5b"


def arg_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line; `--help` shows its module docstring as written (usage examples included)."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_model_args(parser: argparse.ArgumentParser, judge: str = SMOLLM2, debater: str = SMOLLM2) -> None:
    """`--judge` and `--debater`: the model specs the benchmark loads."""
    parser.add_argument("--judge", default=judge)
    parser.add_argument("--debater", default=debater)


def machine_line() -> str:
    """CPU count and load average: ratios are comparable only within one run; this says how busy it was."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.1f} (1 min) / {five:.1f} (5 min)"


def tree_rss_mib() -> float:
    """Current resident memory of this process and all its descendants (vLLM's engine processes), in MiB."""
    import psutil

    me = psutil.Process()
    total = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:  # a child that exited meanwhile
            pass
    return total / 2**20


@contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t: ...` then `t[0]` is the block's wall time in seconds."""
    out: list[float] = []
    start = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - start)


def questions(limit: int, task: str = "math", seed: int = 0) -> list[Question]:
    return load_questions(task, limit=limit, seed=seed)


def load_models(judge: str, debater: str, backend: str = "vllm", **options: Any) -> dict[str, Backend]:
    """Role family -> backend; one instance when judge and debater are the same spec."""
    start = time.perf_counter()
    judge_model = load_backend(parse_model_spec(judge, backend), **options)
    debater_model = judge_model if debater == judge else load_backend(parse_model_spec(debater, backend), **options)
    print(f"models loaded in {time.perf_counter() - start:.0f} s: judge {judge}, agents {debater} ({backend})")
    models = {"judge": judge_model, "debater": debater_model, "consultant": debater_model}
    return models


def close_models(models: dict[str, Backend]) -> None:
    for backend in {id(b): b for b in models.values()}.values():
        backend.close()


@contextmanager
def loaded_models(judge: str, debater: str, backend: str = "vllm", **options: Any) -> Iterator[dict[str, Backend]]:
    """`load_models` for the block; the models are closed when it ends, however it ends."""
    models = load_models(judge, debater, backend, **options)
    try:
        yield models
    finally:
        close_models(models)


@dataclass
class TokenCounts:
    """Batched calls, requests in them, and their prompt, prefix-cached and completion tokens."""

    calls: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    @property
    def prefill_tokens(self) -> int:
        """Prompt tokens vLLM actually computed (the rest came from its prefix cache)."""
        return self.prompt_tokens - self.cached_tokens

    def add(self, other: TokenCounts) -> None:
        self.calls += other.calls
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.completion_tokens += other.completion_tokens


@dataclass
class LLMTap:
    """A transparent proxy for `vllm.LLM` that records and counts every `generate` call."""

    llm: Any
    record: bool = True
    calls: list[Call] = field(default_factory=list)
    """(tap, prompts, params) per call, in call order; taps that share one list interleave correctly."""
    stats: TokenCounts = field(default_factory=TokenCounts)

    def generate(self, prompts: Sequence[dict[str, Any]], params: Any = None, **kwargs: Any) -> list[Any]:
        if self.record:
            self.calls.append((self, list(prompts), params))
        outputs = self.llm.generate(prompts, params, **kwargs)
        self.count(outputs)
        return outputs

    def count(self, outputs: Sequence[Any]) -> None:
        self.stats.calls += 1
        for out in outputs:
            self.stats.requests += 1
            self.stats.prompt_tokens += len(out.prompt_token_ids or ())
            self.stats.cached_tokens += out.num_cached_tokens or 0
            self.stats.completion_tokens += sum(len(o.token_ids) for o in out.outputs)

    def reset(self) -> None:
        """Forget recorded calls and counts, and empty vLLM's prefix cache: the next arm starts cold."""
        self.calls.clear()
        self.stats = TokenCounts()
        self.llm.reset_prefix_cache()

    def __getattr__(self, name: str) -> Any:  # everything else is the real engine's
        return getattr(self.llm, name)


def tap(backend: Backend, record: bool = True, calls: list[Call] | None = None) -> LLMTap:
    """Put an `LLMTap` between a vLLM backend and its engine (once; later calls return the same tap)."""
    llm = getattr(backend, "llm", None)
    if llm is None:
        raise SystemExit(f"this benchmark needs the vllm backend; got {backend.name}:{backend.model}")
    if not isinstance(llm, LLMTap):
        backend.llm = LLMTap(llm, record=record, calls=[] if calls is None else calls)  # type: ignore[attr-defined]
    return backend.llm  # type: ignore[attr-defined,return-value]


def taps(models: dict[str, Backend], record: bool = True) -> list[LLMTap]:
    """One tap per distinct engine among `models`, all recording into one call log."""
    calls: list[Call] = []
    return [tap(b, record, calls) for b in {id(b): b for b in models.values()}.values()]


def total_stats(engines: Sequence[LLMTap]) -> TokenCounts:
    """What `engines` counted, together."""
    total = TokenCounts()
    for engine in engines:
        total.add(engine.stats)
    return total


def replay(calls: Sequence[Call]) -> None:
    """Send `calls` again to the engines they went to, batch by batch, in order, with nothing around them."""
    for llm_tap, prompts, params in calls:
        llm_tap.llm.generate(prompts, params, use_tqdm=False)
