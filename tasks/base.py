"""Task registry and loading API.

A task turns one public dataset into binary-choice `Question`s with the correct answer at index 0
(`tasks/framing.py` then decides the order the judge sees). Every task is a `Task` subclass
registered with `@register("task", name)`; `load_questions` is the one entry point the runner uses.

Where the data comes from, in order:

1. `data=` (the `--data PATH` flag): a file, or a folder holding the task's file either directly
   (`PATH/test.jsonl`) or under the task's folder (`PATH/gsm8k/test.jsonl`). A path that does not
   exist is an error, never a silent fallback.
2. `$OVERSIGHT_DATA_DIR/<folder>/<file>` (the layout of the shared benchmark data, e.g.
   `$OVERSIGHT_DATA_DIR/gsm8k/test.jsonl`), when that file exists.
3. The Hugging Face hub through `datasets.load_dataset(hub_id, config, split=...)`, imported only
   here. Offline (`HF_HUB_OFFLINE=1`) or on any hub failure, one `DataError` says which task and
   hub id failed and how to point the harness at local files instead.

Sampling: `limit=k` takes a seeded shuffle of the item indices (`random.Random(seed)`), keeps the
first k and returns them in dataset order. Same arguments, same questions; the sample for a
smaller limit is a subset of the sample for a larger one with the same seed.

Task names may carry an argument after a colon, handed to the task class (`Task.from_spec`):
`file:PATH` is a user's own JSONL/CSV file (`tasks/custom.py`), `logic-gen:hops=3` a freshly
generated logic problem set (`tasks/logic.py`).

Where a dataset has more than two options, the incorrect one is picked by `stable_choice`: a CRC-32
of the question id, never a shared RNG stream, so a question keeps its pair whatever else is loaded.
"""

from __future__ import annotations

import abc
import csv
import gzip
import io
import json
import os
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

from oversight.errors import ConfigError, DataError, OversightError
from oversight.registry import lookup, names
from oversight.types import Question

DATA_DIR_ENV = "OVERSIGHT_DATA_DIR"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class TaskInfo:
    """What `oversight tasks` shows, and where a task's data lives."""

    name: str
    """Registered task name (`--task`)."""
    family: str
    """`closed` (capability gap: agents are stronger models), `extractive` (information gap: agents
    read an article the judge cannot see) or `multimodal`."""
    description: str
    hub_id: str | None = None
    """Hugging Face dataset id, e.g. `openai/gsm8k`."""
    hub_config: str | None = None
    """Hub dataset configuration, e.g. `main`."""
    folder: str = ""
    """Folder under `$OVERSIGHT_DATA_DIR` (and under a `--data` folder), e.g. `gsm8k`."""
    files: dict[str, str] = field(default_factory=dict, hash=False)
    """Split -> local file name, e.g. `{"test": "test.jsonl"}`."""
    size: str = ""
    """The public dataset's size, for `oversight tasks` when no local copy is there to count."""

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.files)


@dataclass(frozen=True, slots=True)
class Record:
    """One raw dataset item, with where it came from (for error messages and question ids)."""

    index: int
    """0-based position in the split (the JSONL line order equals the hub row order)."""
    data: dict[str, Any]
    where: str
    """`path:line` for local files, `hub_id[split][index]` for the hub."""


class Task(abc.ABC):
    """A dataset framed as binary-choice questions. Subclasses set `info` and implement both methods.

    Loading is split in two so that `--limit` stays cheap: `records` reads and validates every item
    (fast), `build` turns only the sampled ones into `Question`s.
    """

    info: ClassVar[TaskInfo]

    @abc.abstractmethod
    def records(self, data: Path | None, split: str) -> Sequence[Record]:
        """Every usable item of `split`, validated; `data` is the resolved local file or None (hub)."""

    @abc.abstractmethod
    def build(self, record: Record, split: str) -> Question:
        """One question, correct answer at index 0."""

    def locate(self, data: str | Path | None, split: str) -> Path | None:
        """The local file (or folder) holding `split`, or None for the hub; see `resolve_data_file`."""
        return resolve_data_file(self.info.folder, self.info.files[split], data)

    @classmethod
    def from_spec(cls, arg: str, fields: dict[str, str] | None = None) -> Task:
        """The task for `NAME:ARG` (and a field mapping); tasks that take no argument refuse."""
        raise ConfigError(f"task {cls.info.name!r} takes no argument after ':', got {arg!r}")


# --------------------------------------------------------------------------- registry views


def task_names() -> list[str]:
    """Registered task names, sorted."""
    return names("task")


def task_class(name: str) -> type[Task]:
    """The registered task class `name`; unknown -> ConfigError listing the known tasks."""
    return cast("type[Task]", lookup("task", name))


def get_task(name: str, fields: dict[str, str] | None = None) -> Task:
    """An instance of the task `name` (`NAME` or `NAME:ARG`); unknown -> ConfigError listing the known tasks.

    `fields` (a column mapping) is for `file:PATH` tasks only.
    """
    base, sep, arg = name.partition(":")
    if sep:
        return task_class(base).from_spec(arg, fields)
    if fields:
        raise ConfigError(f"a field mapping (--fields) applies to --task file:PATH only, not to task {name!r}")
    return task_class(name)()


def task_info(name: str) -> TaskInfo:
    return task_class(name).info


def task_infos() -> list[TaskInfo]:
    """One `TaskInfo` per registered task, sorted by name (for `oversight tasks`)."""
    return [task_info(n) for n in task_names()]


# --------------------------------------------------------------------------- loading


def load_questions(task: str, *, limit: int | None = None, seed: int = 0, data: str | Path | None = None,
                   split: str = "test", fields: dict[str, str] | None = None) -> list[Question]:
    """The questions of `task` (correct answer at index 0), a seeded sample of `limit` when given.

    Raises ConfigError for an unknown task, split or a limit < 1; DataError when the data cannot be
    found, read or parsed, or holds no items. `fields` maps a `file:PATH` task's columns.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--limit must be >= 1, got {limit!r}")
    impl = get_task(task, fields)
    info = impl.info
    if split not in info.files:
        raise ConfigError(f"unknown split {split!r} for task {task!r}; splits: {', '.join(info.splits)}")
    path = impl.locate(data, split)
    records = impl.records(path, split)
    if not records:
        where = str(path) if path is not None else f"{info.hub_id} (split {split})"
        raise DataError(f"task {task!r}: no items in {where}")
    return [impl.build(records[i], split) for i in sample_indices(len(records), limit, seed)]


def sample_indices(n: int, limit: int | None, seed: int) -> list[int]:
    """All of range(n), or `limit` of them chosen by a seeded shuffle, in increasing order."""
    if limit is None or limit >= n:
        return list(range(n))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[:limit])


def resolve_data_file(folder: str, filename: str, data: str | Path | None) -> Path | None:
    """The local file to read, or None meaning "load from the hub".

    `data` (explicit): a file, or a folder holding `filename` or `folder/filename`; anything else is
    a DataError naming the path. Otherwise `$OVERSIGHT_DATA_DIR/folder/filename` when it exists.
    """
    if data is not None and str(data) != "":
        p = Path(data).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            tried = [p / filename, p / folder / filename] if folder else [p / filename]
            for candidate in tried:
                if candidate.is_file():
                    return candidate
            raise DataError(f"--data {str(data)!r} is a folder without {filename!r}; looked for "
                            + " and ".join(str(c) for c in tried))
        raise DataError(f"--data {str(data)!r}: no such file or folder ({p.resolve()})")
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        candidate = Path(env).expanduser() / folder / filename
        if candidate.is_file():
            return candidate
    return None


def load_records(info: TaskInfo, path: Path | None, split: str) -> list[Record]:
    """The raw items of a JSONL file (`path`), or of the hub split when `path` is None."""
    if path is not None:
        return read_jsonl(path)
    return load_hub_split(info, split)


def read_jsonl(path: Path) -> list[Record]:
    """Every non-blank line of a JSON Lines file (gzip-compressed when named `*.gz`) as a Record; any bad
    line -> DataError with its number."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}: line {bad_line}: not UTF-8 text (byte {e.start}); "
                        "expected a UTF-8 JSON Lines file") from e
    out: list[Record] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno}: malformed JSON ({e.msg} at column {e.colno}); "
                            "expected one JSON object per line") from e
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
        out.append(Record(len(out), obj, f"{path}:{lineno}"))
    return out


def hub_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def missing_data_message(info: TaskInfo, split: str, reason: str) -> str:
    """The one message for "no local data and the hub did not deliver": task, hub id and the fix."""
    filename = info.files.get(split, f"{split}.jsonl")
    layout = f"{info.folder}/{filename}" if info.folder else filename
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    looked = f" ({DATA_DIR_ENV} is set, but {Path(env).expanduser() / layout} does not exist)" if env else ""
    hub = f"{info.hub_id}" + (f" (config {info.hub_config})" if info.hub_config else "")
    return (f"task {info.name!r}: no local data for split {split!r}{looked} and the Hugging Face dataset "
            f"{hub} could not be loaded: {reason}. Fix: pass --data PATH (the {filename} file, or a folder "
            f"holding {filename} or {layout}), or set {DATA_DIR_ENV}=DIR with the file at DIR/{layout}.")


def load_hub_split(info: TaskInfo, split: str, hub_split: str | None = None) -> list[Record]:
    """Rows of `info.hub_id` / `info.hub_config` / `split` from the hub (or the local `datasets` cache).

    `hub_split` names the hub's split when it differs from the task's (BoolQ's `test` is the hub's
    `validation`); errors still speak of the task's split and its local file.
    """
    if info.hub_id is None:
        raise DataError(missing_data_message(info, split, "this task has no hub source"))
    if hub_offline():
        raise DataError(missing_data_message(info, split, "the hub is offline (HF_HUB_OFFLINE=1)"))
    try:
        import datasets  # lazy: heavy, and only needed for the hub
    except ImportError as e:
        raise DataError(missing_data_message(info, split, "the `datasets` package is not installed")) from e
    try:
        ds = datasets.load_dataset(info.hub_id, info.hub_config, split=hub_split or split)
        rows = [dict(row) for row in ds]
    except Exception as e:  # connection errors, missing repo, bad split: all end the same way for the user
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(missing_data_message(info, split, f"{type(e).__name__}: {msg}"[:300])) from e
    return [Record(i, row, f"{info.hub_id}[{hub_split or split}][{i}]") for i, row in enumerate(rows)]


def task_source(name: str) -> tuple[str, str]:
    """(where the test split comes from, its size) for `oversight tasks`: a local copy is counted."""
    impl = get_task(name)
    if not impl.info.files:
        return "your file: --task file:PATH", impl.info.size
    split = "test" if "test" in impl.info.files else impl.info.splits[0]
    if not impl.info.files[split]:
        return "generated (no data file)", impl.info.size
    path: Path | None = None
    try:
        path = impl.locate(None, split)
        if path is not None:
            return str(path), f"{len(impl.records(path, split)):,} ({split})"
    except ConfigError:  # counting needs a run option (e.g. code execution): show the documented size
        return str(path or impl.info.hub_id), impl.info.size
    except OversightError as e:
        return f"error: {e}", impl.info.size
    hub = impl.info.hub_id or "no hub copy: pass --data"
    return hub + (f" ({impl.info.hub_config})" if impl.info.hub_id and impl.info.hub_config else ""), impl.info.size


def stable_choice(key: str, n: int) -> int:
    """A deterministic index in range(n) for `key` (a question id): CRC-32 mod n, stable across runs,
    platforms and Python versions."""
    return zlib.crc32(key.encode("utf-8")) % n


def read_csv(path: Path) -> list[Record]:
    """Every row of a UTF-8 CSV file with a header row as a Record (see `parse_csv`)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); expected a UTF-8 CSV file with a header row") from e
    return parse_csv(text, str(path))


def parse_csv(text: str, where: str) -> list[Record]:
    """Every non-blank row of CSV text (header row first) as a Record located `where:line` (the row's
    first line). A row with more cells than the header, or no header -> DataError naming the line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out: list[Record] = []
    try:
        if not reader.fieldnames:
            raise DataError(f"{where}: no header row; expected a CSV file whose first line names the columns")
        line = reader.line_num + 1
        for row in reader:
            if None in row:
                raise DataError(f"{where}:{line}: more cells than the {len(reader.fieldnames)} header columns; "
                                "quote cells that contain commas")
            if any(v and v.strip() for v in row.values()):
                out.append(Record(len(out), {k: v or "" for k, v in row.items()}, f"{where}:{line}"))
            line = reader.line_num + 1
    except csv.Error as e:
        raise DataError(f"{where}:{reader.line_num}: malformed CSV ({e})") from e
    return out


def require_str_fields(record: Record, fields: Sequence[str]) -> None:
    """DataError naming the record's location unless every field is a non-empty string."""
    for name in fields:
        value = record.data.get(name)
        if not isinstance(value, str) or not value.strip():
            got = "missing" if name not in record.data else f"got {type(value).__name__} {str(value)[:40]!r}"
            raise DataError(f"{record.where}: field {name!r} must be a non-empty string ({got})")
