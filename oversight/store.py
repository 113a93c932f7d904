"""The run folder: `config.yaml`, `transcripts.jsonl`, `results.parquet`.

Transcripts are appended and flushed as each episode finishes, so an interrupted run loses at most
the episode being written; on reopening, a truncated last line is dropped and finished episodes are
skipped. `config.yaml` and `results.parquet` are written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from oversight.errors import ConfigError, DataError
from oversight.types import Transcript

CONFIG, TRANSCRIPTS, RESULTS = "config.yaml", "transcripts.jsonl", "results.parquet"


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

    @classmethod
    def open(cls, path: Path, config: dict[str, Any], identity: dict[str, Any]) -> RunStore:
        """Create the folder (or check it belongs to the same configuration) and write config.yaml."""
        store = cls(path)
        store.check(identity)
        store.path.mkdir(parents=True, exist_ok=True)
        atomic_write(store.path / CONFIG, lambda tmp: tmp.write_text(yaml.safe_dump(config, sort_keys=False),
                                                                     encoding="utf-8"))
        return store

    def check(self, identity: dict[str, Any]) -> None:
        """Raise ConfigError if the folder already holds a run of another configuration (writes nothing)."""
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
