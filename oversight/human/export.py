"""Write a trial's decisions as run folders `oversight analyze` reads like any other.

`OUT/<source run>/human-<name>/` holds, per source run and judge, `config.yaml` (the source run's, judge
`human:<name>`), `transcripts.jsonl` (each episode as the protocol finished it with the human's decision; its
meta says who judged, in which answer order, in how many seconds, and why) and `results.parquet` (the columns of
every run, `judge = human:<name>`, `decision_method = human`, plus `judge_seconds` and `shown_order`). The
folders are rewritten from the database on every export, so exporting again adds the decisions made since.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from oversight.errors import DataError
from oversight.human.db import Assignment, Decision, TrialDB
from oversight.store import RunStore, config_from_saved
from oversight.types import Transcript

HUMAN_PREFIX = "human:"


@dataclass(frozen=True)
class Decided:
    """One decision as the export needs it, read while the database session is open."""

    key: str
    config: dict[str, Any]
    order: int
    seconds: float
    transcript: dict[str, Any]


def export_trial(db: TrialDB, out: str | Path) -> list[tuple[Path, int]]:
    """Write every decision under `out`; returns (run folder, episodes) per folder written."""
    from oversight.experiments.provenance import provenance_columns, run_provenance
    from oversight.experiments.run import result_row, role_specs
    from oversight.registry import lookup

    groups: dict[tuple[str, str], list[Decided]] = defaultdict(list)
    with db.session() as s:
        for decision, a in s.execute(select(Decision, Assignment).join(Assignment).order_by(Decision.id)):
            groups[(a.item.source, a.judge.name)].append(
                Decided(a.item.key, a.item.config, a.order, decision.seconds, decision.transcript))
    if not groups:
        raise DataError(f"{db.url} holds no decisions yet; judges decide at their links (`oversight human serve`)")
    names = _folder_names(sorted({source for source, _ in groups}))
    written = []
    for (source, name), decided in sorted(groups.items()):
        saved_config = decided[0].config  # one source run, one config
        config = config_from_saved(saved_config)
        protocol_cls = lookup("protocol", config.protocol)
        protocol = protocol_cls(_options(config))
        specs = {family: spec for family, spec in role_specs(config, protocol_cls.roles).items() if family != "judge"}
        judge = f"{HUMAN_PREFIX}{name}"
        provenance = run_provenance(config, specs)
        provenance["models"]["judge"] = {"spec": judge}
        folder = Path(out) / names[source] / f"human-{name}"
        if folder.exists():
            shutil.rmtree(folder)
        resolved = {**saved_config, "judge": judge, "human_trial": db.url, "human_source": source}
        store = RunStore.open(folder, resolved, {"human_trial": db.url, "source": source, "judge": judge})
        for episode in decided:
            transcript = Transcript.from_dict(episode.transcript)
            row = {**result_row(config, episode.key, transcript, {**specs, "judge": judge}, protocol),  # type: ignore[dict-item]
                   **provenance_columns(provenance), "judge": judge, "judge_seconds": episode.seconds,
                   "shown_order": "swapped" if episode.order else "presented"}
            store.append(episode.key, transcript, row, provenance)
        store.write_results()
        written.append((folder, len(decided)))
    return written


def _options(config: Any) -> Any:
    from oversight.experiments.run import protocol_options
    from oversight.human.play import human_options

    return protocol_options(human_options(config))


def _folder_names(sources: list[str]) -> dict[str, str]:
    """A folder name per source run: its own name, numbered when two sources share one."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for source in sources:
        base = Path(source).name or "run"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names[source] = name
    return names
