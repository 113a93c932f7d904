"""Read run folders back into one tidy DataFrame: one row per judged episode, across many runs.

A run folder is any folder holding `results.parquet` (or, for a run cut off before it finished,
`transcripts.jsonl`), except a sweep folder, whose `results.parquet` only merges its cells'; `load_runs` accepts run folders and parents of run folders (sweeps, tournaments)
and walks them. On top of the columns every run writes (see `oversight.experiments.run.result_row`) it adds:

- `run`: the run folder's path relative to the folder it was found under (`debate-math-1a2b3c4d`);
- `family`: the task type (`closed`, `extractive`, `multimodal`), the grouping of the study's figures;
- `order`: `original` or `swapped` answer order;
- `chosen_position`: 1 or 2, the answer position the judge picked (missing when its verdict was invalid);
- `cluster`: the unit that is resampled for confidence intervals: the source article for extractive
  tasks (episodes on the same article are not independent), else the question;
- `pair`: the key under which the two answer orders of one episode pair up (question, plus the
  consultant's side in the original order for consultancy);
- `debater_a`, `debater_b`: the model behind each debater (from the row, the run's config, or the
  tournament that played the run), and `agents`: who argued, in one string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from oversight.errors import DataError
from oversight.store import CONFIG, RESULTS, TRANSCRIPTS, RunStore
from oversight.experiments.sweep_state import MANIFEST
from oversight.types import article_key

TOURNAMENT = "tournament.yaml"
REQUIRED = ("question_id", "protocol", "task", "judge", "swapped", "correct_index", "p_answer1", "p_answer2",
            "verdict", "correct", "invalid")


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Every run folder at or below `paths`, in a stable order. A path with no run at all is a DataError."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise DataError(f"run folder {path} does not exist; pass a folder written by `oversight run` "
                            "(e.g. runs/debate-math-1a2b3c4d) or a parent folder of runs")
        here = sorted({marker.parent for name in (RESULTS, TRANSCRIPTS) for marker in path.rglob(name)
                       if not (marker.parent / MANIFEST).is_file()})  # a sweep's results.parquet merges its cells
        if not here:
            raise DataError(f"{path} holds no run: no {RESULTS} or {TRANSCRIPTS} at or below it; "
                            "pass a folder written by `oversight run`")
        found += [run for run in here if run not in found]
    return found


def load_runs(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One row per judged episode of every run at or below `paths` (see the module docstring)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    frames = []
    for run in find_runs(paths):
        root = next((p for p in paths if p == run or p in run.parents), run)
        label = run.name if root == run else run.relative_to(root).as_posix()
        frame = load_run(run)
        if not frame.empty:
            frames.append(frame.assign(run=label, run_path=str(run)))
    if not frames:
        raise DataError(f"no judged episodes in {', '.join(map(str, paths))}; the runs are empty "
                        "(rerun `oversight run` with the same options to finish them)")
    return pd.concat(frames, ignore_index=True)


def load_run(run: Path) -> pd.DataFrame:
    """The episodes of one run folder, with the derived columns of the module docstring."""
    run = Path(run)
    frame = _read_rows(run)
    if frame.empty:
        return frame
    missing = [column for column in REQUIRED if column not in frame]
    if missing:
        raise DataError(f"{run / RESULTS} lacks the columns {', '.join(missing)}; it was not written by "
                        "`oversight run` or by an older version: rerun the run to rewrite it")
    context = _transcript_columns(run) if "article" not in frame else pd.DataFrame()
    if not context.empty and "episode" in frame:
        frame = frame.merge(context, on="episode", how="left")
    config = _read_yaml(run / CONFIG)
    pairing = _tournament_pairing(run)
    for role in ("debater_a", "debater_b"):
        if pairing.get(role):  # a tournament's names for its entrants
            frame[role] = pairing[role]
        elif role not in frame or frame[role].isna().all():  # runs written before per-debater models
            frame[role] = config.get(role) or frame.get("debater")
    return _derive(frame)


def _read_rows(run: Path) -> pd.DataFrame:
    if (run / RESULTS).exists():
        try:
            return pd.read_parquet(run / RESULTS)
        except (OSError, ValueError) as exc:  # pyarrow's errors for a damaged file derive from these
            raise DataError(f"{run / RESULTS} cannot be read ({exc}); delete it and rerun the same "
                            "`oversight run` command to rebuild it from transcripts.jsonl") from None
    return pd.DataFrame([record["row"] for record in RunStore(run).records()])


def _transcript_columns(run: Path) -> pd.DataFrame:
    """Per episode: the article key (`oversight.types.article_key`) for clustering extractive tasks, for results written
    before the rows recorded it."""
    rows = []
    for record in RunStore(run).records():
        question = record.get("transcript", {}).get("question", {})
        article = article_key(question.get("context"), question.get("meta") or {})
        rows.append({"episode": record.get("key"), "article": article})
    return pd.DataFrame(rows, columns=["episode", "article"]).drop_duplicates("episode")


def _tournament_pairing(run: Path) -> dict[str, Any]:
    """The debaters a tournament assigned to this run, from `tournament.yaml` in a parent folder."""
    for parent in run.parents:
        plan = _read_yaml(parent / TOURNAMENT)
        for pairing in plan.get("pairings", []):
            if (parent / pairing.get("run", "")).resolve() == run.resolve():
                return pairing
        if plan:
            break
    return {}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"{path} is not valid YAML ({exc}); restore it or delete the run folder") from None
    return data if isinstance(data, dict) else {}


def _family(task: str) -> str:
    from oversight.errors import ConfigError
    from tasks.base import task_info

    try:
        return task_info(task).family
    except ConfigError:  # a task this installation does not know: keep the rows, group them on their own
        return "other"


def _agents(row: pd.Series) -> str:
    """Who argued: the consultant, the two debaters (`A vs B` in cross-play), or nobody (direct QA)."""
    protocol = str(row["protocol"])
    if "consultancy" in protocol:
        return str(row.get("consultant") or "")
    if "debate" in protocol:
        a, b = row.get("debater_a"), row.get("debater_b")
        return str(a) if a == b else f"{a} vs {b}"
    return ""


def assignment_side(assignment: Any, role: str) -> float:
    """The answer `role` argued (its index in the presented order), from a results row's `assignment` (JSON or a
    dict); NaN when the episode has no such role."""
    try:
        sides = json.loads(assignment) if isinstance(assignment, str) else assignment
    except json.JSONDecodeError:
        sides = None
    side = sides.get(role) if isinstance(sides, dict) else None
    return float(side) if side is not None else np.nan


def _derive(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["swapped"] = frame["swapped"].astype(bool)
    frame["correct"] = frame["correct"].astype(bool)
    frame["invalid"] = frame["invalid"].astype(bool)
    frame["order"] = np.where(frame["swapped"], "swapped", "original")
    frame["chosen_position"] = pd.to_numeric(frame["verdict"], errors="coerce") + 1
    frame["family"] = frame["task"].map(_family)
    if "article" not in frame:
        frame["article"] = None
    frame["cluster"] = frame["article"].where(frame["article"].notna(), frame["question_id"]).astype(str)
    frame["pair"] = pair_keys(frame)
    frame["agents"] = frame.apply(_agents, axis=1)
    return frame


def pair_keys(frame: pd.DataFrame) -> list[str]:
    """The key under which the two answer orders of one episode pair up: the question, plus for consultancy
    the answer the consultant argued, named in the original order (its side flips with the order)."""
    side = frame["assignment"].map(lambda a: assignment_side(a, "consultant")) if "assignment" in frame \
        else pd.Series(np.nan, frame.index)
    original_side = side.where(~frame["swapped"].astype(bool), 1 - side)
    return [str(q) if pd.isna(s) else f"{q}|consultant={int(s)}" for q, s in zip(frame["question_id"], original_side)]


def iter_records(run: Path) -> Iterator[dict[str, Any]]:
    """The finished episodes of one run (row and transcript), as stored in transcripts.jsonl."""
    yield from RunStore(Path(run)).records()
