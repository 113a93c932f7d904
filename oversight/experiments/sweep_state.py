"""What a sweep folder says about its cells: the manifest, failure records, and done/pending/failed.

`runs/<sweep>/sweep.yaml` (the manifest) lists the cells of the latest `oversight sweep` with the
episodes each must finish. A cell that still failed after its retries leaves
`runs/<sweep>/failures/<cell-id>.yaml` (its error, its attempts); finishing the cell removes it. A
cell's progress is read from its own run folder (finished episodes in `transcripts.jsonl`), so the
status is right even after a crash, and never needs a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from oversight.errors import ConfigError
from oversight.store import RunStore, atomic_write

MANIFEST = "sweep.yaml"
FAILURES = "failures"
State = Literal["done", "pending", "failed"]


def write_manifest(folder: Path, name: str, source: Path | None, cells: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "source": str(source) if source else None, "cells": cells}
    atomic_write(folder / MANIFEST, lambda tmp: tmp.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8"))


def read_manifest(folder: Path) -> dict[str, Any]:
    file = Path(folder) / MANIFEST
    if not file.is_file():
        raise ConfigError(f"{folder} is not a sweep folder (no {MANIFEST}); pass the folder an "
                          "`oversight sweep` wrote (runs/<sweep-name>) or the sweep file")
    return yaml.safe_load(file.read_text(encoding="utf-8")) or {}


def record_failure(folder: Path, cell_id: str, error: str, attempts: int) -> None:
    (folder / FAILURES).mkdir(parents=True, exist_ok=True)
    data = {"cell": cell_id, "attempts": attempts, "error": error}
    atomic_write(folder / FAILURES / f"{cell_id}.yaml",
                 lambda tmp: tmp.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8"))


def clear_failure(folder: Path, cell_id: str) -> None:
    (folder / FAILURES / f"{cell_id}.yaml").unlink(missing_ok=True)


@dataclass
class CellStatus:
    id: str
    state: State
    done: int
    episodes: int
    summary: str
    error: str | None = None


def cell_status(folder: Path, entry: dict[str, Any]) -> CellStatus:
    """One manifest entry's state, from its run folder and failure record."""
    cell_id, episodes = entry["id"], int(entry.get("episodes") or 0)
    done = len(RunStore(folder / cell_id).done_keys())
    failure = folder / FAILURES / f"{cell_id}.yaml"
    error = None
    if done >= episodes > 0:
        state: State = "done"
    elif failure.is_file():
        state, error = "failed", (yaml.safe_load(failure.read_text(encoding="utf-8")) or {}).get("error")
    else:
        state = "pending"
    return CellStatus(cell_id, state, done, episodes, entry.get("summary", ""), error)


def sweep_status(folder: Path) -> list[CellStatus]:
    return [cell_status(Path(folder), entry) for entry in read_manifest(folder).get("cells", [])]
