"""Sweep files: a base experiment plus a grid of variations, expanded into runs ("cells").

A sweep file is YAML (`configs/laptop.yaml` and `configs/study.yaml` are worked examples):

    name: laptop              # folder under `out` holding one folder per cell (default: the file name)
    out: runs
    base:                     # RunConfig keys every cell shares (`oversight run --help` lists them)
      task: math
      limit: 4
    sweep:
      product:                # every combination of these lists
        protocol: [direct, debate]
        seed: [0, 1]
      zip:                    # lists of equal length advanced together; one group or a list of groups
        judge: [hf:embedded:smollm2-135m, vllm:Qwen/Qwen2.5-7B-Instruct]
        max_tokens: [64, 256]
    rejudge: [vllm:Qwen/Qwen2.5-7B-Instruct]   # judge every finished cell again from its transcripts
    cell_retries: 1           # extra attempts for a cell that failed
    window: 256               # episodes in flight at once (default: all)
    max_models: null          # models held loaded at once (null: every model the sweep needs)
    ray: {gpus_per_model: 1}  # used by `oversight sweep FILE --ray ADDRESS`

`sweep:` may also be a list of such blocks; the sweep is the union of their cells (e.g. QA with
article only on the extractive tasks). A cell's values are the base, then its grid values, then the
command-line overrides. Model fields a protocol has no role for are reset (direct QA keeps no
debater; consultancy resolves its consultant), and judge-only protocols drop the agent-only keys, so
cells that would compute the same thing are one cell. Every cell is validated when the file is
loaded — keys, values, protocol and task names, model specs — and each problem names its key path.

A cell's id is its run id, a hash of its resolved configuration: editing the file adds cells rather
than overwriting old ones, and rerunning resumes finished cells and episodes.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oversight.config import RunConfig, file_problems, key_path, read_yaml_mapping
from oversight.errors import ConfigError, OversightError
from oversight.specs import judge_spec, parse_model_spec
from oversight.registry import lookup

AXES = tuple(name for name in RunConfig.model_fields if name not in ("out", "name"))
"""Keys a base or a grid may set: every RunConfig field except the output location."""
MODEL_FIELDS = ("judge", "debater", "consultant")
AGENT_ONLY = ("rounds", "turns", "max_tokens", "thinking_tokens", "temperature", "word_limit", "word_limits", "best_of_n",
              "bon_scorer", "retries", "quotes", "quote_match")
"""RunConfig keys only agents read; protocols whose only role is the judge reset them to defaults."""


def _check_axes(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(AXES))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known keys: {', '.join(AXES)}")
    empty = sorted(name for name, v in values.items() if isinstance(v, list) and not v)
    if empty:
        raise ValueError(f"empty list for {', '.join(empty)}; give at least one value or drop the key")
    return values


class Grid(BaseModel):
    """One `sweep:` block: a product of lists and zipped groups of lists."""

    model_config = ConfigDict(extra="forbid")

    product: dict[str, list[Any]] = Field(default_factory=dict)
    zip: list[dict[str, list[Any]]] = Field(default_factory=list)

    @field_validator("zip", mode="before")
    @classmethod
    def _one_group(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("product")
    @classmethod
    def _product(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return _check_axes(value)

    @field_validator("zip")
    @classmethod
    def _zip(cls, groups: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
        for number, group in enumerate(groups):
            _check_axes(group)
            if len({len(values) for values in group.values()}) > 1:
                raise ValueError(f"group {number} has lists of different lengths "
                                 f"({', '.join(f'{k}: {len(v)}' for k, v in group.items())}); zipped lists "
                                 "advance together, so give them the same length")
        return groups

    @model_validator(mode="after")
    def _each_key_once(self) -> Grid:
        seen = set(self.product)
        for group in self.zip:
            twice = seen & set(group)
            if twice:
                raise ValueError(f"{', '.join(sorted(twice))} appear(s) in more than one place of the grid; "
                                 "put each key in the product or in one zip group")
            seen |= set(group)
        return self


class RaySettings(BaseModel):
    """How `--ray` places models: one actor per model replica, each asking Ray for these resources."""

    model_config = ConfigDict(extra="forbid")

    gpus_per_model: float = Field(default=0, ge=0)
    """GPUs per model actor (vLLM on GPUs: the tensor-parallel size)."""
    cpus_per_model: float = Field(default=1, ge=0)
    tensor_parallel: int = Field(default=1, ge=1)
    """Tensor-parallel size inside each vLLM actor (`tensor_parallel_size`)."""
    replicas: int = Field(default=1, ge=1)
    """Actors per model; cells are spread over them."""


class SweepFile(BaseModel):
    """The validated sweep file."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    out: str = "runs"
    base: dict[str, Any] = Field(default_factory=dict)
    sweep: list[Grid] = Field(default_factory=lambda: [Grid()])
    rejudge: list[str] = Field(default_factory=list)
    """Judges that judge every finished cell again from its saved transcripts, calling no agent (the study's
    one set of debates, many judges): `<cell>/judged/<judge>/`. A cell is not judged again by its own judge."""
    cell_retries: int = Field(default=1, ge=0, le=10)
    window: int | None = Field(default=None, ge=1)
    """Episodes in flight at once across the cells (None: every pending episode of a wave). A window keeps
    batches that wide and saves episodes as they finish, so a long sweep cut off loses little."""
    max_models: int | None = Field(default=None, ge=1)
    ray: RaySettings = Field(default_factory=RaySettings)

    @field_validator("base")
    @classmethod
    def _base_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_axes(value)

    @field_validator("sweep", mode="before")
    @classmethod
    def _one_block(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


@dataclass(frozen=True)
class Cell:
    """One run of the sweep."""

    config: RunConfig
    axes: dict[str, Any] = field(default_factory=dict, compare=False)
    """The values this cell took from the grid (what tells it apart from the other cells)."""

    @property
    def id(self) -> str:
        return self.config.run_id


@dataclass
class Sweep:
    name: str
    path: Path
    """The sweep folder: one sub-folder per cell, plus the manifest."""
    settings: SweepFile
    cells: list[Cell]
    source: Path | None = None


def expand(grid: Grid) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every combination of `grid`: (values, key path each value came from)."""
    dims: list[list[tuple[dict[str, Any], dict[str, str]]]] = []
    for name, values in grid.product.items():
        dims.append([({name: v}, {name: f"product.{name}[{i}]"}) for i, v in enumerate(values)])
    for number, group in enumerate(grid.zip):
        size = len(next(iter(group.values()))) if group else 0
        dims.append([({k: vs[i] for k, vs in group.items()}, {k: f"zip[{number}].{k}[{i}]" for k in group})
                     for i in range(size)])
    combos = []
    for picks in itertools.product(*dims):
        values: dict[str, Any] = {}
        where: dict[str, str] = {}
        for v, w in picks:
            values |= v
            where |= w
        combos.append((values, where))
    return combos


def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Reset what the protocol never reads, so equal computations get equal cell ids."""
    families = {role.split("_")[0] for role in lookup("protocol", values["protocol"]).roles}
    out = dict(values)
    if "consultant" in families and not out.get("consultant"):
        out["consultant"] = out.get("debater", RunConfig.model_fields["debater"].default)
    if "debater" not in families:
        out.pop("debater", None)
    if "consultant" not in families:
        out.pop("consultant", None)
    if families <= {"judge"}:
        for name in AGENT_ONLY:
            out.pop(name, None)
    return out


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None, out: str | None = None) -> Sweep:
    """Read, expand and validate a sweep file; `overrides` (CLI flags) win over the file in every cell."""

    path = Path(path)
    raw = read_yaml_mapping(path, "sweep file")
    one_block = isinstance(raw.get("sweep"), dict)  # key paths say `sweep.` rather than `sweep[0].`
    try:
        settings = SweepFile(**raw)
    except ValidationError as exc:
        problems = [p.replace("sweep[0]", "sweep", 1) if one_block else p
                    for p in file_problems(exc, SweepFile.model_fields)]
        raise ConfigError(f"invalid sweep file {path}: " + "; ".join(problems)) from None
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    name = settings.name or path.stem
    folder = Path(out or settings.out) / name
    grids = settings.sweep
    cells: dict[str, Cell] = {}
    problems: list[str] = []
    for number, grid in enumerate(grids):
        prefix = "sweep." if one_block else f"sweep[{number}]."
        for values, where in expand(grid):
            sources = {k: f"base.{k}" for k in settings.base} | {k: prefix + w for k, w in where.items()}
            sources |= {k: "--" + k.replace("_", "-") for k in overrides}
            merged = {**settings.base, **values, **overrides}
            try:
                cell = make_cell(merged, sources, folder, axes=values)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            cells.setdefault(cell.id, cell)
    if problems:
        unique = list(dict.fromkeys(problems))
        more = f" (and {len(unique) - 8} more)" if len(unique) > 8 else ""
        raise ConfigError(f"invalid sweep file {path}: " + "; ".join(unique[:8]) + more)
    if not cells:
        raise ConfigError(f"sweep file {path} expands to no cells; give `sweep:` at least one list")
    backend = overrides.get("backend", settings.base.get("backend")) or "auto"
    for number, spec in enumerate(settings.rejudge):
        try:
            parse_model_spec(spec, backend)
        except OversightError as exc:
            raise ConfigError(f"invalid sweep file {path}: rejudge[{number}]: {exc}") from None
    return Sweep(name=name, path=folder, settings=settings, cells=list(cells.values()), source=path)


def make_cell(values: dict[str, Any], sources: dict[str, str], folder: Path, axes: dict[str, Any]) -> Cell:
    """Validate one cell's values; every problem names the key path its value came from."""
    def where(key: str) -> str:
        return sources.get(key, key)

    for key in ("protocol", "task"):
        if key not in values:
            raise ConfigError(f"no {key} given; set `{key}` under base or in the grid")
    try:
        lookup("protocol", values["protocol"])
    except ConfigError as exc:
        raise ConfigError(f"{where('protocol')}: {exc}") from None
    try:
        lookup("task", str(values["task"]).partition(":")[0])  # `file:PATH`, `logic-gen:hops=3`
    except ConfigError as exc:
        raise ConfigError(f"{where('task')}: {exc}") from None
    kept = normalise(values)
    try:
        config = RunConfig(**kept, out=str(folder))
    except ValidationError as exc:
        located = []
        for problem, err in zip(file_problems(exc, RunConfig.model_fields), exc.errors()):
            key = str(err["loc"][0]) if err["loc"] else ""
            located.append(problem.replace(key_path(tuple(err["loc"])), where(key), 1) if key else problem)
        raise ConfigError("; ".join(located)) from None
    for key in MODEL_FIELDS:
        spec = getattr(config, key)
        if key in kept and spec is not None:
            try:
                if key == "judge":
                    [judge_spec(text, config.backend) for text in config.panel]  # a judge panel: every member
                else:
                    parse_model_spec(spec, config.backend)
            except OversightError as exc:
                raise ConfigError(f"{where(key)}: {exc}") from None
    return Cell(config=config, axes={k: v for k, v in axes.items() if k in kept})


# ------------------------------------------------------------------------------------------ plan


@dataclass
class CellPlan:
    """What one cell will do: its episodes, those left, and the model requests that costs."""

    cell: Cell
    episodes: int = 0
    todo: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    """Estimated model requests still to send, per role family."""
    models: list[str] = field(default_factory=list)
    """The model specs the cell loads."""
    error: str | None = None


def dry_requests(protocol: Any, question: Any) -> tuple[Counter[str], int]:
    """Requests per role family of one question's episodes, played against stub replies (no model)."""
    from oversight.types import Reply

    counts: Counter[str] = Counter()
    episodes = protocol.episodes(question)
    for _, episode in episodes:
        replies = None
        try:
            while True:
                step = next(episode) if replies is None else episode.send(replies)
                counts.update(r.role.split("_")[0] for r in step)
                replies = [Reply(text="<argument>stub</argument>") if r.kind == "generate" else
                           Reply(option_probs=tuple(0.6 if i == 0 else 0.4 / max(1, len(r.options) - 1)
                                                    for i in range(len(r.options))), option_mass=1.0)
                           for r in step]
        except StopIteration:
            pass
    return counts, len(episodes)


def plan_cell(cell: Cell) -> tuple[CellPlan, Any]:
    """The cell's plan and its PreparedRun (None when it cannot be prepared)."""
    from oversight.experiments.run import prepare_run

    try:
        run = prepare_run(cell.config)
    except OversightError as exc:
        return CellPlan(cell, error=str(exc)), None
    plan = CellPlan(cell, episodes=len(run.episodes), todo=len(run.todo),
                    models=sorted({str(spec) for spec in run.specs.values()}))
    if run.todo:
        per_question, n = dry_requests(run.protocol, run.questions[0])
        plan.requests = Counter({family: round(count / n * plan.todo) for family, count in per_question.items()})
    return plan, run


def describe(cell: Cell) -> str:
    """Short `key=value` list of what sets the cell apart."""
    return " ".join(f"{k}={v}" for k, v in cell.axes.items()) or "(base)"
