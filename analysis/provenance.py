"""Refuse to pool runs that were produced differently (`oversight analyze`; `--mixed-provenance` overrides).

Each transcript line records the run's provenance (`oversight.experiments.provenance`). Runs pooled into one
analysis must agree on it, except where they differ by design:

- a model's spec is no conflict: it is a results column (`judge`, `debater`, ...) the tables group by, so models
  are compared spec by spec (`model[SPEC].options`, `.sha256`, `.revision`: one spec, two weights is a conflict);
- `config_hash` names the run and differs between any two runs, so it is not compared;
- the grid's own axes: the config keys that vary between the cells of the sweep a run belongs to (from the
  sweep manifest) may differ, a sampling axis in `sampling.KEY`, a model axis (`judge`, `debater`,
  `consultant`, `debater_a`, `debater_b`, `backend`) in the model fields of the specs playing it; a rejudged
  set (`RUN/judged/JUDGE`) has the judge as its axis.

Runs written before provenance was recorded pool with anything (their provenance is unknown), with a warning.
A run whose episodes record two provenances (resumed after an upgrade) counts as two units.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from oversight.errors import ConfigError
from oversight.experiments.sweep_state import MANIFEST
from oversight.store import RunStore

MODEL_AXES = ("judge", "debater", "consultant", "debater_a", "debater_b", "backend")
JUDGED = "judged"


@dataclass
class Unit:
    """One run (or part of one) with one provenance."""

    run: str
    fields: dict[str, Any]
    axes: set[str] = field(default_factory=set)
    families: dict[str, set[str]] = field(default_factory=dict)
    """Spec -> the role families it plays."""

    def allows(self, name: str) -> bool:
        """Whether field `name` is one of this run's grid axes."""
        if name.startswith("sampling."):
            return name.removeprefix("sampling.") in self.axes
        if name.startswith("model["):
            spec = name[len("model["):name.rindex("]")]
            return "backend" in self.axes or bool(self.families.get(spec, set()) & self.axes)
        return False


def flatten(provenance: dict[str, Any]) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """The compared fields of a provenance object, and which role families each spec plays."""
    fields: dict[str, Any] = {"harness_version": provenance.get("harness_version"),
                              "prompts_hash": provenance.get("prompts_hash")}
    for name, value in (provenance.get("sampling") or {}).items():
        fields[f"sampling.{name}"] = json.dumps(value, sort_keys=True)
    families: dict[str, set[str]] = {}
    for role, model in (provenance.get("models") or {}).items():
        spec = model.get("spec")
        families.setdefault(spec, set()).update({role.split("_")[0], role})
        for key in ("options", "sha256", "revision"):
            fields[f"model[{spec}].{key}"] = json.dumps(model.get(key), sort_keys=True)
    return fields, families


def grid_axes(run: Path) -> set[str]:
    """The config keys varying across the cells of the sweep holding `run`; `judge` for a rejudged set."""
    axes = {"judge"} if run.parent.name == JUDGED else set()
    for parent in run.parents:
        if (parent / MANIFEST).is_file():
            data = yaml.safe_load((parent / MANIFEST).read_text(encoding="utf-8")) or {}
            configs = [cell.get("config") or {} for cell in data.get("cells", [])]
            keys = {key for config in configs for key in config}
            axes |= {key for key in keys
                     if len({json.dumps(c.get(key), sort_keys=True, default=str) for c in configs}) > 1}
            break
    return axes


def run_units(run: Path, label: str) -> list[Unit]:
    """The distinct provenances recorded in `run`'s transcripts (none for a run written before them)."""
    seen: list[dict[str, Any]] = []
    for record in RunStore(run).records():
        provenance = record.get("provenance")
        if provenance is not None and provenance not in seen:
            seen.append(provenance)
    axes = grid_axes(run)
    units = []
    for provenance in seen:
        fields, families = flatten(provenance)
        units.append(Unit(label, fields, axes, families))
    return units


def check_provenance(runs: Iterable[tuple[str, Path]], mixed: bool = False) -> list[str]:
    """Raise ConfigError naming each differing field and the runs, unless `mixed`; returns warning lines
    (runs without provenance; the differences allowed by `mixed`)."""
    units: list[Unit] = []
    unknown: list[str] = []
    for label, path in runs:
        found = run_units(Path(path), label)
        units += found
        if not found:
            unknown.append(label)
    differences = []
    for name in sorted({name for unit in units for name in unit.fields}):
        holders = [u for u in units if name in u.fields]
        values = {u.fields[name] for u in holders}
        if len(values) > 1 and not all(u.allows(name) for u in holders):
            by_value: dict[Any, list[str]] = {}
            for u in holders:
                by_value.setdefault(u.fields[name], []).append(u.run)
            differences.append(f"{name}: " + "; ".join(f"{value} in {', '.join(dict.fromkeys(labels))}"
                                                      for value, labels in by_value.items()))
    warnings = [f"warning: no provenance recorded (written before it was) in {', '.join(unknown)}; "
                "pooled as unknown"] if unknown else []
    if differences and not mixed:
        raise ConfigError("the runs were produced differently and are not pooled; they differ in "
                          + " | ".join(differences)
                          + ". Analyze them separately, or pass --mixed-provenance to pool them anyway")
    if differences:
        warnings.append("warning: pooling runs that differ in provenance (--mixed-provenance): "
                        + " | ".join(differences))
    return warnings
