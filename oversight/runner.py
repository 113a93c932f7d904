"""Run one experiment: validate everything, load models, play episodes, write the run folder.

Data flows one way: task -> questions (framed) -> protocol episodes -> engine (batched model calls) ->
run store (transcripts, results) -> analysis summary. Everything the user controls is validated
before any model is loaded, so a typo costs seconds, not a model load.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import protocols  # noqa: F401  (registers protocols)
from oversight.config import RunConfig
from oversight.engine import Engine
from oversight.models import ModelSpec, load_backend, parse_model_spec
from oversight.models.base import Backend
from oversight.registry import lookup
from oversight.store import RunStore
from oversight.types import Question, Transcript
from protocols.base import Episode, Protocol, ProtocolOptions
from tasks.base import load_questions
from tasks.framing import apply_order


@dataclass
class RunReport:
    path: Path
    results: Any
    """pandas DataFrame, one row per judged episode (all episodes in the folder, resumed ones too)."""
    episodes_run: int
    episodes_skipped: int
    seconds_total: float
    seconds_loading: float
    backend_seconds: dict[str, float] = field(default_factory=dict)


def episode_key(question: Question, variant: str = "") -> str:
    key = f"{question.id}#{'swapped' if question.meta.get('swapped') else 'original'}"
    return f"{key}/{variant}" if variant else key


def role_specs(config: RunConfig, roles: tuple[str, ...]) -> dict[str, ModelSpec]:
    """Model spec per role family used by the protocol (`debater_a` -> `debater`)."""
    by_family = {"judge": config.judge, "debater": config.debater, "consultant": config.consultant or config.debater}
    return {family: parse_model_spec(by_family[family], config.backend)
            for family in dict.fromkeys(role.split("_")[0] for role in roles)}


def protocol_options(config: RunConfig) -> ProtocolOptions:
    return ProtocolOptions(
        rounds=config.rounds, turns=config.turns, word_limit=config.word_limit, word_limits=dict(config.word_limits),
        max_tokens=config.max_tokens, temperature=config.temperature, seed=config.seed, best_of_n=config.best_of_n,
        bon_scorer=config.bon_scorer, retries=config.retries, judge_cot=config.judge_cot, quotes=config.quotes)


def result_row(config: RunConfig, key: str, transcript: Transcript, specs: dict[str, ModelSpec],
               protocol: Protocol | None = None) -> dict[str, Any]:
    """One results row: the columns every protocol shares, then the protocol's own (`Protocol.columns`)."""
    q, d = transcript.question, transcript.decision
    p_correct = d.probs[q.correct_index]
    return {
        "run_id": config.run_id, "episode": key, "question_id": q.id, "task": q.task,
        "protocol": transcript.protocol, "rounds": config.rounds if transcript.turns else 0,
        "judge": str(specs["judge"]), "debater": str(specs["debater"]) if "debater" in specs else None,
        "consultant": str(specs["consultant"]) if "consultant" in specs else None,
        "swapped": bool(q.meta.get("swapped", False)), "correct_index": q.correct_index,
        "assignment": json.dumps(transcript.assignment), "p_answer1": d.probs[0], "p_answer2": d.probs[1],
        "p_correct": p_correct, "verdict": d.verdict, "correct": transcript.correct, "invalid": d.invalid,
        "judge_mass": d.mass, "best_of_n": config.best_of_n,
        **(protocol.columns(transcript) if protocol is not None else {}),
    }


def load_models(specs: dict[str, ModelSpec], console: Console) -> dict[str, Backend]:
    """One loaded backend per distinct spec, shared by every role that names it."""
    loaded: dict[ModelSpec, Backend] = {}
    for family, spec in specs.items():
        if spec not in loaded:
            start = time.perf_counter()
            console.print(f"[dim]loading {family} model {spec} ...[/dim]")
            loaded[spec] = load_backend(spec)
            console.print(f"[dim]loaded {spec} in {time.perf_counter() - start:.1f}s[/dim]")
    return {family: loaded[spec] for family, spec in specs.items()}


@dataclass
class PreparedRun:
    """A validated run: questions sampled, episodes built, folder checked; nothing loaded or written yet.

    `run_experiment` is prepare -> load models -> `open` -> play `todo` -> write results; a sweep calls
    the same steps itself so the episodes of several runs can share one Engine.
    """

    config: RunConfig
    protocol: Protocol
    specs: dict[str, ModelSpec]
    """Model spec per role family the protocol uses."""
    questions: list[Question]
    episodes: list[tuple[str, Episode]]
    todo: list[tuple[str, Episode]]
    """The episodes not finished on disk yet."""
    path: Path

    def resolved(self) -> dict[str, Any]:
        """What config.yaml records: the config plus the derived facts."""
        return {**self.config.model_dump(), "run_id": self.config.run_id,
                "questions": len({q.id for q in self.questions}), "episodes": len(self.episodes),
                "models": {family: str(spec) for family, spec in self.specs.items()}}

    def open(self) -> RunStore:
        """Create (or reopen) the run folder, ready for appending."""
        store = RunStore.open(self.path, self.resolved(), self.config.identity())
        store.repair()
        return store

    def recorder(self, store: RunStore) -> Callable[[str, Transcript], None]:
        """The engine's on_finish: append the episode and its results row."""
        return lambda key, t: store.append(key, t, result_row(self.config, key, t, self.specs, self.protocol))


def prepare_run(config: RunConfig) -> PreparedRun:
    """Validate `config` against the registries, the data and the run folder; load no model."""
    protocol = lookup("protocol", config.protocol)(protocol_options(config))
    specs = role_specs(config, protocol.roles)
    questions = apply_order(load_questions(config.task, limit=config.limit, seed=config.seed, data=config.data),
                            config.order, config.seed)
    path = Path(config.out) / config.run_id
    existing = RunStore(path)
    existing.check(config.identity())  # read-only: a failure below must leave no half-made folder
    done = existing.done_keys()
    episodes = [(episode_key(q, variant), episode) for q in questions for variant, episode in protocol.episodes(q)]
    todo = [(key, episode) for key, episode in episodes if key not in done]
    return PreparedRun(config, protocol, specs, questions, episodes, todo, path)


def run_experiment(config: RunConfig, console: Console | None = None,
                   models: dict[str, Backend] | None = None) -> RunReport:
    """Run (or resume) `config`; `models` lets callers pass already-loaded backends by role family."""
    console = console or Console(stderr=True)
    start = time.perf_counter()
    run = prepare_run(config)
    if run.todo and models is None:
        models = load_models(run.specs, console)
    loading = time.perf_counter() - start
    store = run.open()

    engine = Engine(models or {})
    if run.todo:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task(f"{config.protocol} on {config.task}", total=len(run.todo))
            engine.progress = lambda: bar.advance(task)
            engine.run(run.todo, on_finish=run.recorder(store))
    results = store.write_results()
    return RunReport(path=store.path, results=results, episodes_run=len(run.todo),
                     episodes_skipped=len(run.episodes) - len(run.todo), seconds_total=time.perf_counter() - start,
                     seconds_loading=loading, backend_seconds=dict(engine.stats.seconds))
