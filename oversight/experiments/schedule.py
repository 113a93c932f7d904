"""Run a sweep's cells on this machine: each model loaded once, cells sharing a model batched together.

The cells of a sweep are grouped into *waves*. All pending episodes of a wave's cells go through ONE
Engine, each episode with its own cell's role -> backend map; the engine groups requests by loaded
backend, so cells that use the same judge (or agent) model share its batched calls. By default a
sweep is one wave (every model it needs is loaded once and kept); `max_models` caps the models held
at once: cells are then ordered by the models they use and a model leaves memory when the next wave
does not need it.

Failures: a cell that cannot be prepared, whose model fails to load, or whose protocol code raises
on an episode is marked failed while the other cells go on; a backend call that fails marks the
unfinished cells of its wave. Failed cells are retried one at a time (`cell_retries`), resuming
from their finished episodes; those still failing get a record in `failures/` and are reported.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from oversight.engine import Engine
from oversight.models import ModelSpec
from oversight.models.base import Backend
from oversight.experiments.run import PreparedRun, load_models
from oversight.experiments.sweep import Cell, CellPlan, Sweep, describe, plan_cell
from oversight.experiments.sweep_state import clear_failure, record_failure, write_manifest


class ModelPool:
    """Loaded backends by spec: each spec is loaded once and shared by every cell and role naming it.

    `loads` counts the loads per spec (a sweep's promise: one per distinct spec). `preloaded` backends
    are used as they are and never closed here.
    """

    def __init__(self, console: Console | None = None, loader: Callable[[ModelSpec, Any], Backend] | None = None,
                 preloaded: Mapping[ModelSpec, Backend] | None = None) -> None:
        self.console = console or Console(stderr=True, quiet=True)
        self.loader = loader or self._load
        self.preloaded = dict(preloaded or {})
        self.loaded: dict[ModelSpec, Backend] = {}
        self.loads: Counter[ModelSpec] = Counter()

    def _load(self, spec: ModelSpec, config: Any) -> Backend:
        """As `oversight run` loads: the config's backend options (tensor parallel, server, ...)."""
        return load_models({"model": spec}, self.console, config)["model"]

    def get(self, spec: ModelSpec, config: Any = None) -> Backend:
        """The loaded `spec`; the first cell that needs it supplies the backend options (`config`)."""
        if spec in self.preloaded:
            return self.preloaded[spec]
        if spec not in self.loaded:
            self.loaded[spec] = self.loader(spec, config)
            self.loads[spec] += 1
        return self.loaded[spec]

    def models_for(self, specs: Mapping[str, ModelSpec], config: Any = None) -> dict[str, Backend]:
        """Role family -> backend for one cell."""
        return {family: self.get(spec, config) for family, spec in specs.items()}

    def keep_only(self, keep: Iterable[ModelSpec]) -> None:
        """Close the loaded models not in `keep` (frees memory before the next wave)."""
        keep = set(keep)
        for spec in [s for s in self.loaded if s not in keep]:
            self.loaded.pop(spec).close()

    def close(self) -> None:
        self.keep_only(())


def waves(runs: list[PreparedRun], max_models: int | None) -> list[list[PreparedRun]]:
    """Group runs so that each group needs at most `max_models` distinct models (None: one group)."""
    if max_models is None or not runs:
        return [runs] if runs else []
    ordered = sorted(runs, key=lambda run: sorted(map(str, set(run.specs.values()))))
    groups: list[list[PreparedRun]] = [[]]
    held: set[ModelSpec] = set()
    for run in ordered:
        needs = set(run.specs.values())
        if groups[-1] and len(held | needs) > max_models:
            groups.append([])
            held = set()
        groups[-1].append(run)
        held |= needs
    return groups


def play_together(runs: list[PreparedRun], pool: ModelPool, console: Console, window: int | None = None
                  ) -> dict[str, str]:
    """Play the pending episodes of `runs` through one Engine; returns run id -> error for failed ones.
    `window`: at most that many episodes in flight, the next starting as others finish (None: all at once)."""
    errors: dict[str, str] = {}
    models: dict[str, dict[str, Backend]] = {}
    for run in runs:
        try:
            models[run.config.run_id] = pool.models_for(run.specs, run.config)
        except Exception as exc:  # noqa: BLE001 — a model that fails to load fails its cells, not the sweep
            errors[run.config.run_id] = f"loading models: {type(exc).__name__}: {exc}"
    live = [run for run in runs if run.config.run_id not in errors]
    owner: dict[str, tuple[PreparedRun, str]] = {}
    stores = {run.config.run_id: run.open() for run in live}
    recorders = {cell_id: run.recorder(stores[cell_id]) for cell_id, run in zip(stores, live)}
    entries = []
    for run in live:
        for key, episode in run.todo:
            owner[f"{run.config.run_id}|{key}"] = (run, key)
            entries.append((f"{run.config.run_id}|{key}", episode, models[run.config.run_id]))

    def on_finish(key: str, transcript: Any) -> None:
        run, episode_key = owner[key]
        recorders[run.config.run_id](episode_key, transcript)

    def on_error(key: str, exc: Exception) -> None:
        run, episode_key = owner[key]
        errors.setdefault(run.config.run_id, f"episode {episode_key}: {type(exc).__name__}: {exc}")

    engine = Engine({})
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"{len(live)} cells", total=len(entries))
        engine.progress = lambda: bar.advance(task)
        try:
            engine.run(entries, on_finish=on_finish, on_error=on_error, window=window)
        except Exception as exc:  # noqa: BLE001 — a backend call failed: every cell still playing in it is affected
            for run in live:
                errors.setdefault(run.config.run_id, f"{type(exc).__name__}: {exc}")
    for store in stores.values():
        store.write_results()
    return errors


@dataclass
class SweepReport:
    path: Path
    plans: list[CellPlan]
    failed: dict[str, str] = field(default_factory=dict)
    """Cell id -> error, for cells still failing after their retries."""
    episodes_run: int = 0
    seconds: float = 0.0
    loads: Counter[ModelSpec] = field(default_factory=Counter)


def plan_sweep(sweep: Sweep) -> tuple[list[CellPlan], dict[str, PreparedRun]]:
    """Every cell's plan, and the prepared runs of the cells that could be prepared."""
    plans, prepared = [], {}
    for cell in sweep.cells:
        plan, run = plan_cell(cell)
        plans.append(plan)
        if run is not None:
            prepared[cell.id] = run
    return plans, prepared


def manifest_entries(plans: list[CellPlan]) -> list[dict[str, Any]]:
    return [{"id": p.cell.id, "episodes": p.episodes, "summary": describe(p.cell),
             "config": p.cell.config.model_dump(mode="json")} for p in plans]


def run_sweep(sweep: Sweep, console: Console | None = None, pool: ModelPool | None = None,
              plans: list[CellPlan] | None = None, dispatch: Callable[..., dict[str, str]] | None = None
              ) -> SweepReport:
    """Run every pending cell of `sweep` (resuming finished cells and episodes) and record failures.

    `dispatch(cells, sweep, console)` replaces local execution (e.g. on a Ray cluster); it returns
    cell id -> error for the cells that failed after their retries.
    """
    console = console or Console(stderr=True)
    start = time.perf_counter()
    if plans is None:
        plans, _ = plan_sweep(sweep)
    write_manifest(sweep.path, sweep.name, sweep.source, manifest_entries(plans))
    errors = {p.cell.id: p.error for p in plans if p.error}
    pending = [p.cell for p in plans if not p.error and p.todo]
    before = {p.cell.id: p.episodes - p.todo for p in plans}
    own_pool = pool is None
    pool = pool or ModelPool(console)
    try:
        if dispatch is not None:
            errors |= dispatch(pending, sweep, console)
        else:
            errors |= run_local(pending, sweep, pool, console)
        errors |= judge_again(sweep, [p.cell for p in plans if p.cell.id not in errors], pool, console)
    finally:
        if own_pool:
            pool.close()
    attempts = 1 + sweep.settings.cell_retries
    for plan in plans:
        if plan.cell.id in errors:
            record_failure(sweep.path, plan.cell.id, errors[plan.cell.id], attempts)
        else:
            clear_failure(sweep.path, plan.cell.id)
    from oversight.store import RunStore

    run_now = sum(len(RunStore(sweep.path / p.cell.id).done_keys()) - before[p.cell.id] for p in plans)
    collect_results(sweep.path, [p.cell.id for p in plans])
    return SweepReport(path=sweep.path, plans=plans, failed=errors, episodes_run=run_now,
                       seconds=time.perf_counter() - start, loads=Counter(pool.loads))


def judge_again(sweep: Sweep, cells: list[Cell], pool: ModelPool, console: Console) -> dict[str, str]:
    """Judge each cell's finished episodes again with each of the sweep's `rejudge` judges (no agent is called).

    Episodes already judged are skipped, and a judge is loaded only when some episode still needs it, so a
    finished sweep reruns with no model call. Returns `<cell>/judged/<judge>` -> error for the sets that failed.
    """
    from oversight.specs import parse_model_spec
    from oversight.experiments.rejudge import JUDGED, judge_slug, rejudge
    from oversight.store import RunStore

    errors: dict[str, str] = {}
    todo = []  # (judge text, spec, cell, episodes left), so each set's line can say how far the pass is
    for text in sweep.settings.rejudge:
        for cell in cells:
            spec = parse_model_spec(text, cell.config.backend)
            if isinstance(cell.config.judge, str) and parse_model_spec(cell.config.judge, cell.config.backend) == spec:
                continue  # the cell's own judge
            folder = sweep.path / cell.id
            left = RunStore(folder).done_keys() - RunStore(folder / JUDGED / judge_slug(spec)).done_keys()
            if left:
                todo.append((text, spec, cell, len(left)))
    for number, (text, spec, cell, left) in enumerate(todo, 1):
        # A set is one batched engine call, silent until it returns: say what is being judged, and how long it took.
        console.print(f"[dim]judging {cell.id} again with {spec} ({number}/{len(todo)}): {left} episode(s) ...[/dim]")
        try:
            report = rejudge(sweep.path / cell.id, text, backend=cell.config.backend, console=console,
                             models={"judge": pool.get(spec, cell.config)})
            console.print(f"[dim]judged {cell.id} again in {report.seconds_total:.0f}s[/dim]")
        except Exception as exc:  # noqa: BLE001 — reported per judged set, the others go on
            errors[f"{cell.id}/{JUDGED}/{judge_slug(spec)}"] = f"{type(exc).__name__}: {exc}"
    return errors


def run_local(cells: list[Cell], sweep: Sweep, pool: ModelPool, console: Console) -> dict[str, str]:
    """First attempt: waves of cells sharing one engine; then each failed cell alone, `cell_retries` times."""
    from oversight.experiments.run import prepare_run

    errors: dict[str, str] = {}
    todo = cells
    for attempt in range(1 + sweep.settings.cell_retries):
        if not todo:
            break
        runs, errors_now = [], {}
        for cell in todo:
            try:
                runs.append(prepare_run(cell.config))  # fresh episodes; finished ones are skipped
            except Exception as exc:  # noqa: BLE001 — reported per cell
                errors_now[cell.id] = f"{type(exc).__name__}: {exc}"
        groups = waves(runs, sweep.settings.max_models) if attempt == 0 else [[run] for run in runs]
        for group in groups:
            if sweep.settings.max_models is not None:  # uncapped, every loaded model stays for later waves
                pool.keep_only(spec for run in group for spec in run.specs.values())
            errors_now |= play_together(group, pool, console, sweep.settings.window)
        if errors_now and attempt < sweep.settings.cell_retries:
            for cell_id, error in errors_now.items():
                console.print(f"[yellow]cell {cell_id} failed ({error}); retrying[/yellow]", highlight=False)
        errors = errors_now
        todo = [cell for cell in todo if cell.id in errors_now]
    return errors


def collect_results(folder: Path, cell_ids: list[str]) -> Any:
    """Every cell's results in one table (with a `cell` column), also written to `<sweep>/results.parquet`; a
    cell's judged sets (`rejudge`) follow it as cells `<cell>/judged/<judge>`."""
    import pandas as pd

    from oversight.experiments.rejudge import JUDGED
    from oversight.store import RESULTS, atomic_write

    sets = []
    for cell_id in cell_ids:
        sets.append(cell_id)
        sets += sorted(p.parent.relative_to(folder).as_posix() for p in (folder / cell_id / JUDGED).glob(f"*/{RESULTS}"))
    frames = [pd.read_parquet(folder / name / RESULTS).assign(cell=name) for name in sets
              if (folder / name / RESULTS).is_file()]
    frames = [frame for frame in frames if not frame.empty]
    results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if folder.is_dir():
        atomic_write(folder / RESULTS, lambda tmp: results.to_parquet(tmp, index=False))
    return results
