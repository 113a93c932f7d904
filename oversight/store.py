"""The run folder: `config.yaml`, `transcripts.jsonl`, `results.parquet`.

Transcripts are appended and flushed as each episode finishes, so an interrupted run loses at most
the episode being written; on reopening, a truncated last line is dropped and finished episodes are
skipped. `config.yaml` and `results.parquet` are written atomically (temp file + rename).

A run folder is locked while a store has it open (`flock` on `<run>/.lock`, which names the holder):
a second process opening the same folder gets a ConfigError naming the first, instead of two runs
appending to one transcripts file. The kernel drops the lock when its process dies (even by kill -9),
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
from typing import IO, Any

import yaml

from oversight.errors import ConfigError, DataError
from oversight.types import Transcript

CONFIG, TRANSCRIPTS, RESULTS, LOCK = "config.yaml", "transcripts.jsonl", "results.parquet", ".lock"

try:
    import fcntl
except ImportError:  # not POSIX: folders are not locked
    fcntl = None  # type: ignore[assignment]

_held: dict[Path, tuple[IO[str], int]] = {}
"""Run folders this process has locked: folder -> (lock file, number of open stores)."""


def _in_use_error(folder: Path, holder: str) -> ConfigError:
    return ConfigError(f"run folder {folder} is in use by another run ({holder or 'holder unknown'}); wait for it "
                       "to finish or stop it, or pass another --name or --out")


def lock_folder(folder: Path) -> None:
    """Lock `folder` for this process (counted: every call needs one `unlock_folder`)."""
    key = folder.resolve()
    if key in _held:
        fh, count = _held[key]
        _held[key] = (fh, count + 1)
        return
    fh = open(folder / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 — held open while the folder is locked
    if fcntl is not None:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise _in_use_error(folder, holder) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}: "
             f"{' '.join(sys.argv)[:300]}\n")
    fh.flush()
    _held[key] = (fh, 1)


def unlock_folder(folder: Path) -> None:
    """Undo one `lock_folder(folder)`; `folder` as resolved when it was locked."""
    if folder not in _held:
        return
    fh, count = _held.pop(folder)
    if count > 1:
        _held[folder] = (fh, count - 1)
    else:
        fh.close()  # closing the file releases the flock


def check_unlocked(folder: Path) -> None:
    """Raise ConfigError if another process holds `folder`'s lock (read-only: creates nothing)."""
    file = folder / LOCK
    if fcntl is None or not file.is_file() or folder.resolve() in _held:
        return
    with open(file, encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise _in_use_error(folder, fh.read().strip()) from None


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
        """Finished episodes on disk; a truncated final line (crash mid-write) is skipped."""
        file = self.path / TRANSCRIPTS
        if not file.exists():
            return
        lines = file.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    continue  # the episode being written when the run died; it will be redone
                raise DataError(f"{file}:{number} is not valid JSON; the file was edited or corrupted. "
                                f"Delete that line to redo the episode") from None

    def done_keys(self) -> set[str]:
        return {record["key"] for record in self.records()}

    def repair(self) -> None:
        """Drop a truncated last line so new episodes append after a clean newline."""
        file = self.path / TRANSCRIPTS
        if not file.exists():
            return
        data = file.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with open(file, "r+b") as fh:
                fh.truncate(cut)

    def append(self, key: str, transcript: Transcript, row: dict[str, Any]) -> None:
        """Append one finished episode and force it to disk."""
        line = json.dumps({"key": key, "row": row, "transcript": transcript.to_dict()}, ensure_ascii=False)
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
