"""The Python API: `oversight.run`, `oversight.sweep` and `oversight.load` do from a notebook what the commands do.

`run` builds its settings as `oversight run` does (keywords are RunConfig's field names, with the command's
defaults and its ConfigError messages) and runs the run folder, or resumes it; `sweep` runs a sweep file, or the
same content as a dict, as `oversight sweep FILE` does; `load` opens a finished run folder and runs nothing. Each
gives `Run`s: the folder, its settings, its results table and its transcripts, read from disk when first asked.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console

from oversight.config import RunConfig, config_from_file, make_config
from oversight.errors import ConfigError
from oversight.store import RESULTS, RunStore, saved_config
from oversight.types import Transcript

if TYPE_CHECKING:
    import pandas as pd

    from oversight.experiments.run import RunReport
    from oversight.experiments.schedule import SweepReport
    from oversight.experiments.sweep import CellPlan, Sweep

DEFAULT_TASK = "math"
"""The task of `oversight run` when none is named (RunConfig itself has no default)."""
DICT_SOURCE = "<dict>"
"""How messages about a sweep given as a dict name it (where a file's path would be)."""


@dataclass(eq=False, repr=False)
class Run:
    """One run folder: its settings, its results table and its transcripts."""

    path: Path
    """The run folder; running the same settings again resumes it."""
    config: RunConfig
    report: RunReport | None = None
    """What running it did (episodes run and skipped, timings); None for a folder opened with `load` or a sweep."""

    @cached_property
    def results(self) -> pd.DataFrame:
        """One row per judged episode (`results.parquet`; built from the transcripts of a run cut off before
        writing it)."""
        import pandas as pd

        if (self.path / RESULTS).is_file():
            return pd.read_parquet(self.path / RESULTS)
        return pd.DataFrame([record["row"] for record in RunStore(self.path).records()])

    def transcripts(self) -> Iterator[Transcript]:
        """The finished episodes, in the order they finished (read from `transcripts.jsonl` as they are asked)."""
        for record in RunStore(self.path).records():
            yield Transcript.from_dict(record["transcript"])

    def summary(self) -> pd.DataFrame:
        """Judge accuracy per protocol, task and judge with its 95% CI, as `oversight run` prints it."""
        import pandas as pd

        from analysis.metrics import accuracy_table

        if self.results.empty:
            return pd.DataFrame()
        return accuracy_table(self.results, by=("protocol", "task", "judge"))

    def __repr__(self) -> str:
        results = self.results
        state = (f"{len(results)} episodes, judge accuracy {results['correct'].mean():.3f}" if not results.empty
                 else "no judged episodes")
        return f"Run({str(self.path)!r}: {self.config.protocol} on {self.config.task}, {state})"


@dataclass(eq=False, repr=False)
class SweepRuns:
    """A sweep's folder and the Run of each of its cells, by cell id (the cell's run id)."""

    path: Path
    """The sweep folder: one folder per cell, the manifest and every cell's results."""
    runs: dict[str, Run]
    axes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Cell id -> the values the cell took from the grid (what tells it apart from the other cells)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Cell id -> error, for the cells that could not be prepared or still failed after their retries."""
    report: SweepReport | None = None

    @cached_property
    def results(self) -> pd.DataFrame:
        """Every cell's results in one table with a `cell` column (`<sweep>/results.parquet`)."""
        import pandas as pd

        file = self.path / RESULTS
        return pd.read_parquet(file) if file.is_file() else pd.DataFrame()

    def __getitem__(self, cell_id: str) -> Run:
        return self.runs[cell_id]

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs.values())

    def __len__(self) -> int:
        return len(self.runs)

    def __repr__(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        return f"SweepRuns({str(self.path)!r}: {len(self.runs)} cells{failed})"


def console_for(quiet: bool) -> Console:
    """Progress and model loading on stderr, as the commands print them; `quiet` prints nothing."""
    return Console(stderr=True, quiet=quiet)


def build_config(protocol: str | None, config_file: str | Path | None, options: dict[str, Any]) -> RunConfig:
    """The run's settings as `oversight run` builds them: a config file with the given options over it, or the
    options over RunConfig's defaults (task: math)."""
    from tasks.custom import parse_fields

    options = dict(options)
    if options.get("judge", "") is None:
        del options["judge"]  # as on the command line: no judge is the default judge
    if isinstance(options.get("fields"), str):  # the command line's PART=COLUMN,... form
        options["fields"] = parse_fields(options["fields"])
    if config_file is not None:
        return config_from_file(config_file, **({"protocol": protocol} if protocol else {}), **options)
    if protocol is None:
        raise ConfigError("give a protocol (see `oversight protocols`), or config=FILE naming one")
    return make_config(protocol=protocol, **{"task": DEFAULT_TASK, **options})


def execute(config: RunConfig, console: Console | None = None) -> RunReport:
    """Run (or resume) a built config as `oversight run` does: tasks execute code only where it allows them."""
    from oversight.experiments.run import run_experiment
    from oversight.sandbox import code_execution

    with code_execution(config.allow_code_exec):
        return run_experiment(config, console=console)


def run(protocol: str | None = None, *, config: str | Path | None = None, quiet: bool = False,
        **options: Any) -> Run:
    """Run PROTOCOL on a task and judge every episode, as `oversight run` does; rerunning resumes the folder.

    `options` are RunConfig's fields with its defaults (`task` math, `limit`, `rounds`, `judge`, `debater`,
    `max_tokens`, `out`, `name`, `fresh`, ...); a bad one raises the command's ConfigError. `config`: a YAML
    file of run settings (as `--config`), the options given here over it. `quiet`: no progress output.
    """
    built = build_config(protocol, config, options)
    report = execute(built, console_for(quiet))
    return Run(path=report.path, config=built, report=report)


def load(path: str | Path) -> Run:
    """A finished run folder (`oversight run` or `oversight.run` wrote it) as a Run; nothing is run."""
    folder = Path(path)
    return Run(path=folder, config=saved_config(folder))


def load_sweep_source(source: str | Path | Mapping[str, Any], overrides: dict[str, Any], out: str | None) -> Sweep:
    """A sweep file, or a dict of the same content validated exactly as that file would be (through a YAML
    file of it, so every check and message is the file's, naming the dict where they name the file)."""
    from oversight.experiments.sweep import load_sweep

    if not isinstance(source, Mapping):
        return load_sweep(source, overrides, out=out)
    with tempfile.TemporaryDirectory(prefix="oversight-sweep-") as folder:
        file = Path(folder) / "sweep.yaml"  # a dict without `name` is the sweep `sweep`, as a file sweep.yaml
        try:
            file.write_text(yaml.safe_dump(dict(source), sort_keys=False), encoding="utf-8")
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid sweep {DICT_SOURCE}: its values must be YAML data (text, numbers, "
                              f"booleans, lists and dicts of them): {exc}") from None
        try:
            loaded = load_sweep(file, overrides, out=out)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(file), DICT_SOURCE)) from None
    loaded.source = None  # the manifest names no file that is gone
    return loaded


def apply_settings(loaded: Sweep, settings: dict[str, Any]) -> None:
    """Scheduling settings given here win over the sweep's (as the command's flags), validated as its keys."""
    from pydantic import ValidationError

    from oversight.config import file_problems
    from oversight.experiments.sweep import SweepFile

    given = {key: value for key, value in settings.items() if value is not None}
    if not given:
        return
    try:
        loaded.settings = SweepFile.model_validate({**loaded.settings.model_dump(), **given})
    except ValidationError as exc:
        raise ConfigError("invalid sweep settings: " + "; ".join(file_problems(exc, SweepFile.model_fields))) from None


def refuse_invalid(plans: list[CellPlan], label: str, skip: str = "skip_invalid=True") -> None:
    """Nothing is written while a cell cannot be prepared: a bad data file or setting is fixed before any cell runs.
    `skip` names how the caller runs the rest anyway (`--skip-invalid` on the command line)."""
    invalid = [plan for plan in plans if plan.error]
    if invalid:
        first = invalid[0]
        raise ConfigError(f"{len(invalid)} of {len(plans)} cells of {label} cannot run (cell {first.cell.id}: "
                          f"{first.error}); fix the sweep or its data, or pass {skip} to run the rest")


def sweep(source: str | Path | Mapping[str, Any], *, skip_invalid: bool = False, ray: str | None = None,
          cell_retries: int | None = None, max_models: int | None = None, window: int | None = None,
          out: str | None = None, quiet: bool = False, **overrides: Any) -> SweepRuns:
    """Run every pending cell of a sweep, as `oversight sweep FILE` does (rerunning resumes).

    `source`: a sweep file, or a dict of its content. `overrides` (`task`, `limit`, `seed`, `judge`, ...) win over
    the sweep in every cell; `cell_retries`, `max_models`, `window` and `out` over its keys. `skip_invalid`: run
    the valid cells even when some cannot be prepared (default: refuse first). `ray`: run the cells on the Ray
    cluster at that address. Cells that fail are in the result's `failed`, the others' runs are there to read.
    """
    from oversight.experiments.schedule import plan_sweep, run_sweep

    loaded = load_sweep_source(source, overrides, out)
    apply_settings(loaded, dict(cell_retries=cell_retries, max_models=max_models, window=window))
    plans, _ = plan_sweep(loaded)
    if not skip_invalid:
        refuse_invalid(plans, DICT_SOURCE if isinstance(source, Mapping) else str(source))
    dispatch = ray_dispatch(ray) if ray else None
    console = console_for(quiet)
    report = run_sweep(loaded, console=console, plans=plans, dispatch=dispatch)
    if report.failed:
        console.print(f"[yellow]{len(report.failed)} of {len(plans)} cells failed: "
                      f"{', '.join(sorted(report.failed))}[/yellow]", highlight=False)
    return SweepRuns(path=loaded.path, runs={cell.id: Run(loaded.path / cell.id, cell.config) for cell in loaded.cells},
                     axes={cell.id: dict(cell.axes) for cell in loaded.cells}, failed=dict(report.failed),
                     report=report)


def ray_dispatch(address: str) -> Any:
    """Run a sweep's cells on the Ray cluster at ADDRESS instead of in this process."""
    from oversight.experiments.sweep_ray import run_on_ray

    def dispatch(cells, sweep_, console):  # noqa: ANN001, ANN202
        return run_on_ray(cells, sweep_, console, address)

    return dispatch
