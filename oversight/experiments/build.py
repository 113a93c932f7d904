"""Build a task's binary set (`oversight tasks build`); for `math --source sample`, sample the agent's programs.

What is built and how each item is verified is the data side, `tasks/build.py`. This driver plays the
agent's sampling requests like every run: through the `Engine` (one batched backend call per
`PROBLEMS_PER_CALL` problems) and the response cache, kept beside the built file as
`<out>.cache.sqlite`. Each committed call survives an interrupted build, so the same command run again
answers the samples already drawn from the cache and samples only the rest (a finished build is
replayed without model calls); `oversight cache clear <out>.cache.sqlite` samples afresh.

Sampled requests (temperature > 0) carry their own seed, `request_seed(seed, question id, sample index)`,
so a sample is the same on resume, on every backend and at any batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from oversight.cache import CachedBackend, ResponseCache
from oversight.engine import Engine
from oversight.models import load_backend, parse_model_spec
from oversight.models.base import Backend
from oversight.prompts import render
from oversight.types import Reply, Request, Sampling
from protocols.base import request_seed
from tasks.build import (BuildReport, MathItem, Source, build_mutated, check_build, finish_build, sample_problems,
                         verify_samples)

PROGRAM_PROMPT = "tasks/math_program"
PROBLEMS_PER_CALL = 64
"""Problems whose samples go out in one backend call (64 x 32 samples = 2,048 requests, a full batch for
vLLM); each call is committed to the cache before the next, which is what an interrupted build keeps."""


def build_task(task: str, *, out: str | Path, source: Source = "mutate", limit: int | None = None, seed: int = 0,
               data: str | None = None, split: str = "test", model: str | None = None, samples: int = 32,
               max_tokens: int = 320, temperature: float = 0.8, backend: str = "auto",
               progress: Callable[[str], None] | None = None, agent: Backend | None = None) -> BuildReport:
    """Build, verify and write the binary set of `task` (see `tasks/build.py` and this module's docstring).

    `agent`: an already-loaded backend for `--source sample` (else `model` is loaded, and closed after).
    """
    check_build(task, source, samples=samples, limit=limit, has_agent=bool(model) or agent is not None)
    say = progress or (lambda _msg: None)
    if source == "mutate":
        return build_mutated(task, out=out, limit=limit, seed=seed, data=data, split=split, say=say)
    start = time.perf_counter()
    problems = sample_problems(limit=limit, seed=seed, data=data, split=split)
    say(f"{len(problems)} problems")
    requests = program_requests(problems, samples=samples, max_tokens=max_tokens, temperature=temperature, seed=seed)
    replies = sample_programs(requests, cache_path(out), model=model, backend=backend, agent=agent, say=say)
    questions, counts = verify_samples(problems, replies, split, model or (agent.model if agent else ""))
    return finish_build(task, source, out, len(problems), questions, counts, start)


def cache_path(out: str | Path) -> Path:
    """The response cache of the build writing `out`: beside it, named after it."""
    out = Path(out)
    return out.with_name(f"{out.name}.cache.sqlite")


def program_requests(problems: Sequence[MathItem], *, samples: int, max_tokens: int, temperature: float,
                     seed: int) -> list[list[Request]]:
    """Per problem, its `samples` program requests; each sampled one seeded by (build seed, question id, sample)."""
    return [[Request(role="agent", messages=render(PROGRAM_PROMPT, question=problem.question),
                     sampling=Sampling(max_tokens=max_tokens, temperature=temperature,
                                       seed=request_seed(seed, problem.id, k) if temperature > 0 else None))
             for k in range(samples)]
            for problem in problems]


def sample_programs(requests: Sequence[Sequence[Request]], cache: Path, *, model: str | None, backend: str,
                    agent: Backend | None, say: Callable[[str], None]) -> list[list[str]]:
    """The agent's reply texts to each problem's requests, played through the engine and the response cache.

    `agent`: an already-loaded backend (left open); else `model` is loaded here and closed after.
    """
    owned = agent is None
    if agent is None:
        spec = parse_model_spec(model or "", backend)
        say(f"loading {spec} ...")
        agent = load_backend(spec)
    responses = ResponseCache(cache)
    try:
        cached = CachedBackend(agent, responses)
        total = sum(len(step) for step in requests)
        say(f"sampling {total} programs ...")
        episodes = ((str(n), _answered(step)) for n, step in enumerate(requests))
        finished = Engine({"agent": cached}).run(episodes, window=PROBLEMS_PER_CALL)  # type: ignore[arg-type]
        if cached.hits:
            say(f"{cached.hits} of {total} programs answered from the cache {cache}")
    finally:
        responses.close()
        if owned:
            agent.close()
    replies: list[list[Reply]] = [finished[str(n)] for n in range(len(requests))]  # type: ignore[misc]
    return [[reply.text for reply in step] for step in replies]


def _answered(step: Sequence[Request]) -> Generator[list[Request], list[Reply], list[Reply]]:
    """An engine episode of one step: the problem's requests, returning their replies."""
    replies = yield list(step)
    return replies
