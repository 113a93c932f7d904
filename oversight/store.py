"""The run folder: `config.yaml`, `transcripts.jsonl`, `results.parquet`.

Transcripts are appended and flushed as each episode finishes, so an interrupted run loses at most
the episode being written; on reopening, a truncated last line is dropped and finished episodes are
skipped. `config.yaml` and `results.parquet` are written atomically (temp file + rename).

A run folder is locked while a store has it open (an OS file lock on `<run>/.lock`, which names the
holder): a second process opening the same folder gets a ConfigError naming the first, instead of two
runs appending to one transcripts file. The OS drops the lock when its process dies (even by kill -9),
so a crashed run never leaves a stale lock. Within one process the lock is shared and counted (a
sweep may reopen a cell's folder); it is released when the last store of that folder is closed or
garbage-collected.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from filelock import BaseFileLock, FileLock, Timeout

from oversight.config import RunConfig, make_config
from oversight.errors import ConfigError, DataError
from oversight.types import Transcript

CONFIG, TRANSCRIPTS, RESULTS, LOCK = "config.yaml", "transcripts.jsonl", "results.parquet", ".lock"

_held: dict[Path, BaseFileLock] = {}
"""Run folders this process has locked; each lock counts how many open stores share it."""


def _in_use_error(folder: Path, holder: str) -> ConfigError:
    return ConfigError(f"run folder {folder} is in use by another run ({holder or 'holder unknown'}); wait for it "
                       "to finish or stop it, or pass another --name or --out")


def _folder_lock(file: Path, on_acquired: Callable[[int], None] | None = None) -> BaseFileLock:
    # Shared across threads: a store may be closed (or collected) on another thread than the one that opened it.
    # Keeping the file rules out filelock's marker-file fallback: only an OS lock dies with its process.
    return FileLock(file, thread_local=False, preserve_lock_file=True, on_acquired=on_acquired)


def _write_holder(fd: int) -> None:
    """Name this process in the lock file it has just locked (what a second run's error shows)."""
    holder = (f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}: "
              f"{' '.join(sys.argv)[:300]}\n")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, holder.encode("utf-8"))


def _read_holder(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8").strip()
    except OSError:  # Windows forbids reading a byte range another process has locked
        return ""


def lock_folder(folder: Path) -> None:
    """Lock `folder` for this process (counted: every call needs one `unlock_folder`)."""
    key = folder.resolve()
    lock = _held.get(key) or _folder_lock(key / LOCK, on_acquired=_write_holder)
    try:
        lock.acquire(blocking=False)  # re-acquiring a held lock only counts
    except Timeout:
        raise _in_use_error(folder, _read_holder(folder / LOCK)) from None
    _held[key] = lock


def unlock_folder(folder: Path) -> None:
    """Undo one `lock_folder(folder)`; `folder` as resolved when it was locked."""
    lock = _held.get(folder)
    if lock is None:
        return
    lock.release()  # the OS lock goes with the last of the counted holds
    if not lock.is_locked:
        del _held[folder]


def check_unlocked(folder: Path) -> None:
    """Raise ConfigError if another process holds `folder`'s lock (read-only: creates nothing)."""
    file = folder / LOCK
    if not file.is_file() or folder.resolve() in _held:
        return
    probe = _folder_lock(file)
    try:
        probe.acquire(blocking=False)
    except Timeout:
        raise _in_use_error(folder, _read_holder(file)) from None
    probe.release()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via `write(tmp)` to a temp file beside `path`, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def saved_config(folder: Path) -> RunConfig:
    """The config a run folder was written with (`config.yaml`: keys RunConfig knows; the rest is provenance)."""
    if not (folder / CONFIG).is_file():
        raise ConfigError(f"{folder} is not a run folder (no {CONFIG}); pass a folder `oversight run` wrote")
    return config_from_saved(yaml.safe_load((folder / CONFIG).read_text(encoding="utf-8")) or {})


def config_from_saved(saved: dict[str, Any]) -> RunConfig:
    """The RunConfig of a run's saved `config.yaml` contents (see `saved_config`)."""
    values = {key: value for key, value in saved.items() if key in RunConfig.model_fields}
    # A run saved before order-debiased judging has no `debias` key: it was judged in one label order.
    values.setdefault("debias", False)
    return make_config(**values)


def read_records(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each finished episode in a transcripts file; every reader of one goes through here.

    Lines end at "\n" only: a reply may hold other line separators (U+2028), which JSON leaves unescaped. A last
    line that does not parse (cut off by a crash mid-write, possibly inside a character) is skipped: that
    episode was not finished and is redone."""
    lines = file.read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the file's final newline
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if number == len(lines):
                continue  # the episode being written when the run died; it will be redone
            raise DataError(f"{file}:{number} is not valid JSON; the file was edited or corrupted. "
                            f"Delete that line to redo the episode") from None
        yield number, record


class RunStore:
    """One run folder. `open` creates it or checks that it belongs to the same configuration."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._unlock: weakref.finalize | None = None

    @classmethod
    def open(cls, path: Path, config: dict[str, Any], identity: dict[str, Any]) -> RunStore:
        """Create the folder (or check it belongs to the same configuration) and write config.yaml."""
        store = cls(path)
        store.check(identity)
        store.path.mkdir(parents=True, exist_ok=True)
        lock_folder(store.path)
        store._unlock = weakref.finalize(store, unlock_folder, store.path.resolve())
        atomic_write(store.path / CONFIG, lambda tmp: tmp.write_text(yaml.safe_dump(config, sort_keys=False),
                                                                     encoding="utf-8"))
        return store

    def close(self) -> None:
        """Release the folder's lock (also done when the store is garbage-collected or the process ends)."""
        if self._unlock is not None:
            self._unlock()

    def check(self, identity: dict[str, Any]) -> None:
        """Raise ConfigError if another process has the folder open, or it holds a run of another
        configuration (writes nothing)."""
        check_unlocked(self.path)
        config_file = self.path / CONFIG
        if not config_file.exists():
            return
        saved = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        saved_identity = {k: saved.get(k) for k in identity}
        if saved_identity != identity:
            changed = sorted(k for k in identity if saved_identity.get(k) != identity[k])
            raise ConfigError(f"run folder {self.path} holds a run with a different configuration "
                              f"(differs in: {', '.join(changed)}); pass another --name or --out")

    def records(self) -> Iterator[dict[str, Any]]:
        """Finished episodes on disk (`read_records`: a truncated final line is skipped)."""
        file = self.path / TRANSCRIPTS
        if not file.exists():
            return
        for _, record in read_records(file):
            yield record

    def done_keys(self) -> set[str]:
        return {record["key"] for record in self.records()}

    def repair(self) -> None:
        """End the file on a clean newline so new episodes append after it: a last line cut off by a crash is
        dropped; a complete one that only lost its newline (readers count it finished) keeps its episode."""
        file = self.path / TRANSCRIPTS
        if not file.exists():
            return
        data = file.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            try:
                json.loads(data[cut:].decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                with open(file, "r+b") as fh:
                    fh.truncate(cut)
            else:
                with open(file, "ab") as fh:
                    fh.write(b"\n")

    def append(self, key: str, transcript: Transcript, row: dict[str, Any],
               provenance: dict[str, Any] | None = None) -> None:
        """Append one finished episode (with what produced it, when given) and force it to disk."""
        record = {"key": key, "row": row, "transcript": transcript.to_dict()}
        if provenance is not None:
            record["provenance"] = provenance
        line = json.dumps(record, ensure_ascii=False)
        with open(self.path / TRANSCRIPTS, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def write_results(self) -> Any:
        """Rebuild results.parquet from every finished episode; returns the DataFrame."""
        import pandas as pd

        frame = pd.DataFrame([record["row"] for record in self.records()])
        atomic_write(self.path / RESULTS, lambda tmp: frame.to_parquet(tmp, index=False))
        return frame
