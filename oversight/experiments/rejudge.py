"""Judge saved transcripts again with another judge, without calling any agent model.

The study's pattern: generate debates with strong agents once, judge them with many judges.
`rejudge(run_folder, judge_spec)` reads `transcripts.jsonl` and replays each episode through its
protocol's own code (`oversight.experiments.replay`), with everything before the final decision answered
from the saved transcript:

- agent turns (`Protocol.speak`) are the saved turns, as they were (best-of-N choices and retries
  included: no candidate is re-scored, no turn regenerated);
- other requests before the decision come from the transcript too: the consultancy judge's
  questions (the saved judge turns) and an open protocol's agent choice (`agent_probs`, and whether
  it was valid: an invalid choice replays to the same seeded side);
- only the requests of the final decision (`Protocol.decide`: the label probabilities in both label
  orders when the run is order-debiased, and the judge's reasoning first when `judge_cot` is on) go
  to the new judge, batched over all episodes.

So the new judge sees exactly the prompt the protocol builds, from the same arguments. Results land
beside the original as a judged set, `RUN/judged/<judge-slug>/` (config.yaml, transcripts.jsonl,
results.parquet, the same columns); it resumes like a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from rich.console import Console

from oversight.config import RunConfig
from oversight.engine import Engine
from oversight.errors import DataError
from oversight.models import ModelSpec, load_backend, parse_model_spec
from oversight.models.base import Backend
from oversight.registry import lookup
from oversight.experiments.replay import replay_episode, variant_of
from oversight.experiments.provenance import provenance_columns, run_provenance
from oversight.experiments.run import RunReport, protocol_options, result_row, role_specs
from oversight.specs import check_images
from oversight.store import RunStore, saved_config
from oversight.types import Request, Transcript

JUDGED = "judged"


def judge_slug(spec: ModelSpec) -> str:
    """A folder name for a judge spec: `hf:embedded:smollm2-135m` -> `hf-embedded-smollm2-135m`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(spec)).strip("-")


def replay(protocol_cls: type, config: RunConfig, variant: str, saved: Transcript) -> Any:
    """One episode whose only model requests are the final decision's."""
    return replay_episode(protocol_cls(protocol_options(config)), saved, variant)


def prompt_counter(backend: Backend) -> Callable[[Request], int]:
    """Prompt tokens of a request under `backend`'s own tokenizer (whitespace words where it has none)."""
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None:
        from oversight.models.choice import encode_prompt

        return lambda request: len(encode_prompt(tokenizer, request.messages))
    return lambda request: sum(len(m.content.split()) for m in request.messages)


def metered(episode: Any, count: Callable[[Request], int], totals: dict[str, int], key: str) -> Any:
    """`episode`, adding the prompt size of every request it makes to `totals[key]`."""
    totals[key] = 0
    try:
        step = next(episode)
        while True:
            totals[key] += sum(count(request) for request in step)
            step = episode.send((yield step))
    except StopIteration as stop:
        return stop.value


def rejudge(run: str | Path, judge: str, backend: str | None = None, console: Console | None = None,
            models: dict[str, Backend] | None = None, keys: Collection[str] | None = None) -> RunReport:
    """Judge the saved episodes of `run` (all, or those in `keys`) with `judge`; `models={"judge": b}` passes a
    loaded backend. Each results row also records `judge_prompt_tokens`, the prompt tokens this judge read."""
    import time


    start = time.perf_counter()
    console = console or Console(stderr=True)
    folder = Path(run)
    original = saved_config(folder)  # a run from before order-debiased judging is rejudged in one order too
    config = original.model_copy(update={"judge": judge, "backend": backend or original.backend})
    spec = parse_model_spec(judge, config.backend)
    protocol_cls = lookup("protocol", config.protocol)
    specs = {**role_specs(original, protocol_cls.roles), "judge": spec}
    records = list(RunStore(folder).records())
    if not records:
        raise DataError(f"{folder / 'transcripts.jsonl'} holds no finished episodes to judge")
    path = folder / JUDGED / judge_slug(spec)
    existing = RunStore(path)
    existing.check(config.identity())
    done = existing.done_keys()
    if keys is not None:
        wanted = set(keys)
        unknown = wanted - {r["key"] for r in records}
        if unknown:
            raise DataError(f"{folder} has no finished episode {min(unknown)!r} to judge "
                            f"({len(unknown)} unknown key(s))")
        records = [r for r in records if r["key"] in wanted]
    todo = [(r["key"], Transcript.from_dict(r["transcript"])) for r in records if r["key"] not in done]
    if todo and models is None and any(saved.question.images for _, saved in todo):
        check_images({"judge": spec}, config.task, config.serve)  # before the judge loads
    if todo and models is None:
        console.print(f"[dim]loading judge {spec} ...[/dim]")
        models = {"judge": load_backend(spec)}
    loading = time.perf_counter() - start
    resolved = {**config.model_dump(), "run_id": config.run_id, "rejudged_from": str(folder),
                "episodes": len(records), "models": {family: str(s) for family, s in specs.items()}}
    store = RunStore.open(path, resolved, config.identity())
    store.repair()
    protocol = protocol_cls(protocol_options(config))
    tokens: dict[str, int] = {}
    count = prompt_counter(models["judge"]) if models else (lambda request: 0)
    episodes = [(key, metered(replay_episode(protocol, saved, variant_of(key)), count, tokens, key))
                for key, saved in todo]
    provenance = run_provenance(config, specs) if todo else None  # the new judge's, once (it is loaded now)
    engine = Engine(models or {})
    engine.run(episodes, on_finish=lambda key, t: store.append(
        key, t, {**result_row(config, key, t, specs, protocol), **provenance_columns(provenance),
                 "judge_prompt_tokens": tokens.pop(key)}, provenance))
    results = store.write_results()
    return RunReport(path=path, results=results, episodes_run=len(todo), episodes_skipped=len(records) - len(todo),
                     seconds_total=time.perf_counter() - start, seconds_loading=loading,
                     backend_seconds=dict(engine.stats.seconds))
