"""Run one experiment: validate everything, load models, play episodes, write the run folder.

Data flows one way: task -> questions (framed) -> protocol episodes -> engine (batched model calls) ->
run store (transcripts, results) -> analysis summary. Everything the user controls is validated
before any model is loaded, so a typo costs seconds, not a model load.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from oversight.config import RunConfig
from oversight.engine import Engine
from oversight.errors import ConfigError
from oversight.experiments.provenance import provenance_columns, run_provenance
from oversight.models import ModelSpec, load_backend
from oversight.models.base import Backend
from protocols.panel import aggregate, members_of
from oversight.registry import lookup
from oversight.specs import check_images
from oversight.store import RunStore, check_unlocked
from oversight.types import JudgeDecision, Question, Transcript
from protocols.base import Episode, Protocol, ProtocolOptions
from tasks.base import load_questions
from tasks.framing import apply_order
from oversight.sandbox import code_execution


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
    """Model spec per role the protocol uses (see `RunSpecs.for_roles`)."""
    return config.specs.for_roles(roles)


def protocol_options(config: RunConfig) -> ProtocolOptions:
    members = tuple(member for _, member in members_of(config.specs.judges))
    single = len(members) == 1 and members[0].template is None and not members[0].seed
    return ProtocolOptions(
        panel=() if single else members, panel_aggregate=config.panel_aggregate,
        judge_temperature=config.judge_temperature,
        rounds=config.rounds, turns=config.turns, word_limit=config.word_limit, word_limits=dict(config.word_limits),
        max_tokens=config.max_tokens, thinking_tokens=config.thinking_tokens, temperature=config.temperature, seed=config.seed, best_of_n=config.best_of_n,
        bon_scorer=config.bon_scorer, retries=config.retries, judge_cot=config.judge_cot, quotes=config.quotes,
        quote_match=config.quote_match, debias=config.debias,
        judge_questions=config.judge_questions)


def debater_column(specs: dict[str, ModelSpec]) -> str | None:
    """The debaters' model: one spec, or `A-spec vs B-spec` when `debater_a`/`debater_b` differ."""
    a, b = (specs.get(role) or specs.get("debater") for role in ("debater_a", "debater_b"))
    if a is None or b is None:
        return None
    return str(a) if a == b else f"{a} vs {b}"


def result_row(config: RunConfig, key: str, transcript: Transcript, specs: dict[str, ModelSpec],
               protocol: Protocol | None = None) -> dict[str, Any]:
    """One results row: the columns every protocol shares, then the protocol's own (`Protocol.columns`)."""
    q, d = transcript.question, transcript.decision
    p_correct = d.probs[q.correct_index]
    return {
        "run_id": config.run_id, "episode": key, "question_id": q.id, "task": q.task, "article": q.article,
        "protocol": transcript.protocol, "rounds": config.rounds if transcript.turns else 0,
        "judge": judge_column(config, specs, protocol), "debater": debater_column(specs),
        "consultant": str(specs["consultant"]) if "consultant" in specs else None,
        "swapped": bool(q.meta.get("swapped", False)), "correct_index": q.correct_index,
        "assignment": json.dumps(transcript.assignment), "p_answer1": d.probs[0], "p_answer2": d.probs[1],
        "p_correct": p_correct, "verdict": d.verdict, "correct": transcript.correct, "invalid": d.invalid,
        **order_columns(d, q.correct_index, config.panel_aggregate), "decision_method": d.method,
        "judge_mass": d.mass, "best_of_n": config.best_of_n,
        **(protocol.columns(transcript) if protocol is not None else {}),
        **(panel_columns(d, q.correct_index) if d.members else {}),
    }


def order_columns(decision: JudgeDecision, correct_index: int, panel_aggregate: str = "mean") -> dict[str, Any]:
    """The presented-order decision beside the episode's (they are the same when it is not order-debiased); a
    panel's is the aggregate of its members' presented-order decisions, and its swapped-order one likewise."""
    if any(m.debiased for m in decision.members):
        raw = aggregate([m.raw for m in decision.members], panel_aggregate)
        swapped = aggregate([m.orders[1] for m in decision.members], panel_aggregate).probs[correct_index]
    else:
        raw = decision.raw
        swapped = decision.orders[1].probs[correct_index] if decision.orders else math.nan
    return {"debiased": decision.debiased or any(m.debiased for m in decision.members),
            "p_correct_raw": raw.probs[correct_index], "verdict_raw": raw.verdict,
            "correct_raw": raw.verdict == correct_index, "invalid_raw": raw.invalid, "p_correct_swapped": swapped}


def judge_column(config: RunConfig, specs: dict[str, ModelSpec], protocol: Protocol | None = None) -> str:
    """The judge's spec; a panel reads `panel-mean(spec, spec?prompt=..., ...)`."""
    options = protocol.options if protocol is not None else protocol_options(config)  # the run's, parsed once
    if not options.panel:
        return str(specs["judge"])
    return f"panel-{config.panel_aggregate}({', '.join(config.panel)})"


def panel_columns(decision: JudgeDecision, correct_index: int) -> dict[str, Any]:
    """A panel's per-member decisions (JSON lists in panel order; a probability is null only when the member
    gave none, and `member_invalid` marks the members that abstained)."""
    members = decision.members
    p_correct = [m.probs[correct_index] for m in members]
    return {"panel_size": len(members),
            "member_p_correct": json.dumps([p if math.isfinite(p) else None for p in p_correct]),
            "member_verdicts": json.dumps([m.verdict for m in members]),
            "member_invalid": json.dumps([m.invalid for m in members])}


def load_models(specs: dict[str, ModelSpec], console: Console, config: RunConfig | None = None) -> dict[str, Backend]:
    """One loaded backend per distinct spec, shared by every role that names it; `config` supplies the
    run-wide backend options (and `serve`: vllm models behind managed `vllm serve` processes)."""
    from oversight.models.serve import backend_options, load_served

    loaded: dict[ModelSpec, Backend] = {}
    try:
        for family, spec in specs.items():
            if spec not in loaded:
                start = time.perf_counter()
                console.print(f"[dim]loading {family} {spec} ...[/dim]")
                options = backend_options(config, spec.backend) if config is not None else {}
                served = config is not None and config.serve and spec.backend == "vllm"
                loaded[spec] = load_served(spec, options, config) if served else load_backend(spec, **options)
                console.print(f"[dim]loaded {spec} in {time.perf_counter() - start:.1f}s[/dim]")
    except BaseException:
        close_models(loaded.values())  # a failed load must not leave servers or engines behind
        raise
    return {family: loaded[spec] for family, spec in specs.items()}


def close_models(models: Any) -> None:
    for backend in {id(b): b for b in models}.values():
        backend.close()


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
    moved_to: Path | None = None
    """Where `open` moved the previous run folder (`fresh`), if there was one."""
    response_cache: Any = None
    """The run's ResponseCache once `cached` opened it (closed by `close_cache`)."""
    _provenance: dict[str, Any] | None = None

    def provenance(self) -> dict[str, Any]:
        """The run's provenance (`oversight.experiments.provenance`), computed once, when the first episode is
        recorded: by then the models are loaded, so an embedded model is built and its weights can be hashed."""
        if self._provenance is None:
            self._provenance = run_provenance(self.config, self.specs)
        return self._provenance

    def resolved(self) -> dict[str, Any]:
        """What config.yaml records: the config plus the derived facts."""
        return {**self.config.model_dump(), "run_id": self.config.run_id,
                "questions": len({q.id for q in self.questions}), "episodes": len(self.episodes),
                "models": {family: str(spec) for family, spec in self.specs.items()}}

    def open(self) -> RunStore:
        """Create (or reopen) the run folder, ready for appending; `fresh` first moves an old one aside."""
        if self.config.fresh and self.path.exists():
            check_unlocked(self.path)  # never move a folder another run is writing
            self.moved_to = self.path.with_name(f"{self.path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
            self.path.rename(self.moved_to)
        store = RunStore.open(self.path, self.resolved(), self.config.identity())
        store.repair()
        return store

    def cached(self, models: dict[str, Backend]) -> dict[str, Backend]:
        """`models` answered through the run's response cache (`<run>/cache.sqlite`) when `config.cache`;
        each distinct backend is wrapped once, so roles that share a model still share one batch."""
        if not self.config.cache:
            return models
        from oversight.cache import CACHE_FILE, CachedBackend, ResponseCache

        self.response_cache = cache = self.response_cache or ResponseCache(self.path / CACHE_FILE)
        wrapped: dict[int, Backend] = {}
        for b in models.values():
            wrapped.setdefault(id(b), CachedBackend(b, cache))
        return {role: wrapped[id(b)] for role, b in models.items()}

    def close_cache(self) -> None:
        if self.response_cache is not None:
            self.response_cache.close()
            self.response_cache = None

    def recorder(self, store: RunStore) -> Callable[[str, Transcript], None]:
        """The engine's on_finish: append the episode, its results row and the run's provenance."""
        def record(key: str, transcript: Transcript) -> None:
            provenance = self.provenance()
            row = {**result_row(self.config, key, transcript, self.specs, self.protocol),
                   **provenance_columns(provenance)}
            store.append(key, transcript, row, provenance)

        return record


def check_articles(protocol: Protocol, questions: list[Question], task: str) -> None:
    """A protocol that shows the judge the source text refuses questions without one (it would run as plain QA)."""
    if not getattr(protocol, "needs_article", False):
        return
    missing = [q.id for q in questions if not q.context]
    if missing:
        raise ConfigError(
            f"protocol {protocol.name!r} shows the judge the source text, but {len(missing)} of {len(questions)} "
            f"questions of task {task!r} have none (first: {missing[0]}); run it on a task with articles "
            "(quality, boolq, gpqa-extractive, or file: with a context field), or use protocol 'direct'")


def prepare_run(config: RunConfig) -> PreparedRun:
    """Validate `config` against the registries, the data and the run folder; load no model."""
    protocol = lookup("protocol", config.protocol)(protocol_options(config))
    specs = role_specs(config, protocol.roles)
    with code_execution(config.allow_code_exec):  # tasks verified by running code load only when allowed
        loaded = load_questions(config.task, limit=config.limit, seed=config.seed, data=config.data,
                                fields=config.fields)
    questions = apply_order(loaded, config.order, config.seed)
    check_articles(protocol, questions, config.task)
    if any(q.images for q in questions):  # every protocol shows a question's images to every role
        check_images(specs, config.task, config.serve)
    path = Path(config.out) / config.run_id
    existing = RunStore(path)
    if not config.fresh:  # fresh: the old folder is moved aside at open(), whatever it holds
        existing.check(config.identity())  # read-only: a failure below must leave no half-made folder
    done = set() if config.fresh else existing.done_keys()
    episodes = [(episode_key(q, variant), episode) for q in questions for variant, episode in protocol.episodes(q)]
    todo = [(key, episode) for key, episode in episodes if key not in done]
    return PreparedRun(config, protocol, specs, questions, episodes, todo, path)


def run_experiment(config: RunConfig, console: Console | None = None,
                   models: dict[str, Backend] | None = None) -> RunReport:
    """Run (or resume) `config`; `models` lets callers pass already-loaded backends by role family."""
    console = console or Console(stderr=True)
    start = time.perf_counter()
    run = prepare_run(config)
    owned = run.todo and models is None  # models loaded here are closed here (servers stopped)
    if owned:
        models = load_models(run.specs, console, config)
    loading = time.perf_counter() - start
    made = [p for p in (run.path, run.path.parent) if not p.exists()]  # folders this run creates
    store: RunStore | None = None
    try:
        store = run.open()
        if run.moved_to is not None:
            console.print(f"--fresh: the previous run folder was moved to {run.moved_to}")
        engine = Engine(run.cached(models) if run.todo and models else (models or {}))
        if run.todo:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, disable=not console.is_terminal) as bar:
                task = bar.add_task(f"{config.protocol} on {config.task}", total=len(run.todo))
                engine.progress = lambda: bar.advance(task)
                engine.run(run.todo, on_finish=run.recorder(store), keep=False)  # transcripts stream to disk
    except BaseException:
        answered = run.response_cache.summary().entries if run.response_cache is not None else 0
        run.close_cache()
        if run.path in made and store is not None and not store.done_keys() and not answered:
            # Nothing was finished or answered (dead server, model without a chat template, Ctrl-C during
            # the first call): leave no half-made folder behind.
            store.close()
            shutil.rmtree(run.path, ignore_errors=True)
            if run.path.parent in made and not any(run.path.parent.iterdir()):
                run.path.parent.rmdir()
        raise
    finally:
        run.close_cache()
        if owned and models:
            close_models(models.values())
    results = store.write_results()
    return RunReport(path=store.path, results=results, episodes_run=len(run.todo),
                     episodes_skipped=len(run.episodes) - len(run.todo), seconds_total=time.perf_counter() - start,
                     seconds_loading=loading, backend_seconds=dict(engine.stats.seconds))
