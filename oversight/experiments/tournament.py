"""Cross-play debates between a list of debaters, for an Elo ladder (Kenton et al. 2024, App. E).

Every ordered pair of entrants debates the same questions (debater A argues answer 1, B answer 2),
and every question is played in both answer orders, so each entrant argues the correct and the
incorrect answer equally often and sits in both positions. Self-play pairs (an entrant against
itself) are included by default: they carry no information about Elo but give the judge accuracy
that the study plots against the debater's Elo. The study used one-round (opening statements)
simultaneous debates, the default here.

Layout: `<out>/<name>/tournament.yaml` (entrants, judge, and one entry per pairing naming its run
folder and its two debaters), and one ordinary run folder per pairing beside it, so `oversight
analyze` and `oversight view` read a tournament like any other set of runs. Rerunning the same command
resumes: finished pairings and episodes are skipped. Each distinct model is loaded once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from oversight.config import make_config
from oversight.errors import ConfigError
from oversight.specs import parse_model_spec
from oversight.models.base import Backend
from oversight.store import atomic_write

PLAN = "tournament.yaml"


@dataclass(frozen=True)
class Entrant:
    name: str
    """Label on the ladder."""
    spec: str
    """Model spec (`backend:model`)."""


def parse_entrants(values: list[str]) -> list[Entrant]:
    """`NAME=SPEC` or `SPEC` (named after itself); at least two, names unique."""
    entrants = []
    for value in values:
        name, sep, spec = value.partition("=")
        entrants.append(Entrant(name.strip(), spec.strip()) if sep else Entrant(value.strip(), value.strip()))
    names = [e.name for e in entrants]
    if len(entrants) < 2:
        raise ConfigError(f"a tournament needs at least two debaters, got {len(entrants)}; "
                          "repeat --debater, e.g. --debater small=hf:a --debater big=hf:b")
    if len(set(names)) != len(names) or not all(names) or not all(e.spec for e in entrants):
        raise ConfigError(f"debater names must be non-empty and unique, got {names}; use NAME=SPEC to name them")
    return entrants


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "debater"


def pairings(entrants: list[Entrant], self_play: bool = True) -> list[tuple[Entrant, Entrant]]:
    """Every ordered pair (A, B) with A != B, plus (A, A) when `self_play`."""
    return [(a, b) for a in entrants for b in entrants if a != b or self_play]


@dataclass
class TournamentReport:
    path: Path
    runs: list[Path]
    episodes_run: int


def run_tournament(entrants: list[Entrant], *, name: str, out: str = "runs", self_play: bool = True,
                   console: Console | None = None, models: dict[str, Backend] | None = None,
                   **run_options: Any) -> TournamentReport:
    """Play every pairing (see the module docstring); `run_options` are RunConfig fields (task, judge, ...).

    `models` maps model specs to loaded backends (tests pass their own); the rest are loaded once each.
    """
    from oversight.experiments.run import load_models, run_experiment

    console = console or Console(stderr=True)
    root = Path(out) / name
    run_options = {"rounds": 1, "order": "both", **run_options}
    plan = []
    configs = []
    for a, b in pairings(entrants, self_play):
        run = f"{slug(a.name)}--vs--{slug(b.name)}"
        configs.append((a, b, make_config(protocol="debate", debater_a=a.spec, debater_b=b.spec, **run_options,
                                          out=str(root), name=run)))
        plan.append({"run": run, "debater_a": a.name, "debater_b": b.name, "spec_a": a.spec, "spec_b": b.spec})
    judge = configs[0][2].judge
    given = dict(models or {})
    wanted = {spec: parse_model_spec(spec, configs[0][2].backend)
              for spec in dict.fromkeys([judge] + [e.spec for e in entrants]) if spec not in given}
    # Each distinct model once, with the run's backend options; models loaded here are closed here.
    owned = load_models(wanted, console, configs[0][2]) if wanted else {}
    loaded = {**given, **owned}
    root.mkdir(parents=True, exist_ok=True)
    document = {"judge": judge, "entrants": [{"name": e.name, "spec": e.spec} for e in entrants],
                "options": {k: v for k, v in run_options.items() if v is not None}, "pairings": plan}
    atomic_write(root / PLAN, lambda tmp: tmp.write_text(yaml.safe_dump(document, sort_keys=False),
                                                         encoding="utf-8"))
    runs, episodes = [], 0
    try:
        for a, b, config in configs:
            console.print(f"[dim]{a.name} vs {b.name}[/dim]")
            report = run_experiment(config, console=console, models={
                "judge": loaded[judge], "debater_a": loaded[a.spec], "debater_b": loaded[b.spec]})
            runs.append(report.path)
            episodes += report.episodes_run
    finally:
        for backend in {id(b): b for b in owned.values()}.values():
            backend.close()
    return TournamentReport(path=root, runs=runs, episodes_run=episodes)


def default_name(entrants: list[Entrant], self_play: bool, options: dict[str, Any]) -> str:
    """`tournament-<task>-<hash>` of everything that changes the games, so a rerun resumes the same folder."""
    key = json.dumps({"entrants": [[e.name, e.spec] for e in entrants], "self_play": self_play, **options},
                     sort_keys=True, default=str)
    return f"tournament-{options.get('task', 'task')}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
